"""MkDocs hook: draw the state diagrams from the declarations at every build.

``ChatLifecycle``, ``AgentStatusChart`` and ``PresenceChart``
(``webchat_wrapup._core._machine``)
are drawn by python-statemachine with Graphviz into SVG files that the pages
show as plain images. The pictures cannot drift from the code, and a
reader's browser fetches no script from anywhere.

Needs python-statemachine's ``diagrams`` extra (pydot; our ``docs`` and
``test`` extras ask for it) and Graphviz's ``dot`` program on the ``PATH``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from statemachine import StateMachine

from webchat_wrapup._core._machine import AgentStatusChart, ChatLifecycle, PresenceChart

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

DIAGRAMS: dict[str, type[StateMachine]] = {
    "diagrams/chat-lifecycle.svg": ChatLifecycle,
    "diagrams/agent-status.svg": AgentStatusChart,
    "diagrams/presence.svg": PresenceChart,
}
"""Where each diagram appears in the site (relative to ``docs/``): its machine."""


def svg_of(machine: type[StateMachine]) -> str:
    """The machine's diagram as an SVG document, drawn by Graphviz."""
    return f"{machine:svg}"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add every diagram to the site as if it were a file under ``docs/``."""
    # Imported here so that the tests, which need no MkDocs, can import DIAGRAMS.
    from mkdocs.structure.files import File

    for path, machine in DIAGRAMS.items():
        files.append(File.generated(config, path, content=svg_of(machine)))
    return files
