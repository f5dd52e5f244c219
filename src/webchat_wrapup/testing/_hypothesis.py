"""Registers this library's strategies with Hypothesis, through its entry point.

Hypothesis calls :func:`_hypothesis_setup_hook` while it is itself being
imported, so this module imports nothing at its top, and the hook registers
functions that import the strategies only when a test first asks for one
(importing ``webchat_wrapup.testing.strategies`` itself imports Hypothesis,
which runs this hook while that module is half loaded). ``st.from_type``
then works for policies and commands in any test suite that has
webchat-wrapup installed; the core itself never imports Hypothesis.
"""

from __future__ import annotations

from typing import Any


def _hypothesis_setup_hook() -> None:
    from hypothesis import strategies as st

    from .._core._commands import COMMAND_TYPES
    from .._core._policy import ClassificationPolicy, QueuePolicy, WrapUpPolicy

    def kit() -> Any:
        from . import strategies

        return strategies

    st.register_type_strategy(QueuePolicy, lambda _: kit().queue_policies())
    st.register_type_strategy(
        WrapUpPolicy, lambda _: kit().queue_policies().map(lambda p: p.wrap_up)
    )
    st.register_type_strategy(
        ClassificationPolicy, lambda _: kit().classification_policies()
    )
    for command_type in COMMAND_TYPES:
        st.register_type_strategy(command_type, lambda t: kit().commands(kinds=(t,)))
