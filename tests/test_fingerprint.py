"""A command's fingerprint is the digest of its canonical JSON form, the
same text whatever route writes it: stored records depend on it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import queue
from webchat_wrapup import (
    AssignChat,
    ChoosePresence,
    Command,
    EndChat,
    EndedBy,
    ExpireWrapUp,
    ExtendWrapUp,
    Presence,
    TransferChat,
    _fingerprint,
    command_to_dict,
)
from webchat_wrapup.service import fingerprint_of
from webchat_wrapup.testing.strategies import commands


def _reference(command: Command) -> str:
    """The digest as the service's docstring defines it."""
    data = {k: v for k, v in command_to_dict(command).items() if v is not None}
    if isinstance(data.get("queue"), dict):
        data["queue"] = data["queue"]["queue_id"]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@given(commands())
def test_every_command_s_fingerprint_is_the_digest_of_its_canonical_form(
    command: Command,
) -> None:
    assert fingerprint_of(command) == _reference(command)


@given(st.text(min_size=1, max_size=20).filter(str.isprintable))
def test_text_beyond_ascii_is_escaped_as_the_canonical_form_escapes_it(
    reason: str,
) -> None:
    command = ChoosePresence("agent-1", Presence.NOT_READY, reason)
    assert fingerprint_of(command) == _reference(command)


def test_a_fingerprint_per_command_type_is_pinned() -> None:
    # A changed value here breaks every retry stored by an earlier release.
    deadline = datetime(2026, 1, 5, 9, 1, tzinfo=timezone.utc)
    pinned = {  # as the release before the planned writer wrote them
        ExtendWrapUp("agent-ana", "chat-1"): (
            "87827c563ed35171bba8fe7a8ca586bb7a16f41a52e1e7bd12e95688e9f9b7a9"
        ),
        EndChat("agent-ana", "chat-1", EndedBy.AGENT): (
            "9cb6f2c87a9dbb04bffdd643963a305f56e05faa0b4f08270c3c87bc4b640ba9"
        ),
        ExpireWrapUp("agent-ana", "chat-1", deadline): (
            "038387dc3e93b17a640e4cede5cf917b71edd467d766fce4429eaacd3468b13b"
        ),
        AssignChat("agent-ana", "chat-1", "cust-42", queue(), 2): (
            "1adaa322a5731c2769b3059f922b58a0946dddefde7880418cfddcf23ec50c47"
        ),
        TransferChat("agent-ana", "chat-1", to_queue_id="sales"): (
            "6044dca69a9133a8c74bedc735352d5a2eb7b21fb11e58c3d61acd6a0e37b3c4"
        ),
    }
    assert {command: fingerprint_of(command) for command in pinned} == pinned


def test_without_the_interpreter_s_own_sha256_the_digest_comes_from_hashlib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(_fingerprint.importlib, "import_module", missing)
    digest = _fingerprint._sha256()
    assert digest is hashlib.sha256
    assert digest(b"x").hexdigest() == _fingerprint._digest(b"x").hexdigest()
