"""The desk's clicks, from a JSON body to a call of the service.

Each action names the fields its body may carry; anything else is refused
with ``invalid_argument`` before the service is asked, and the service
checks the values (their types too) as it checks any caller's. Every body
may carry a ``command_id``: a retried click with the same id is replayed,
never applied twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core._errors import ErrorCode, InvalidInput, invalid_argument, shown
from ..._core._history import EndedBy
from ..._core._machine import Presence
from ...ports import Outcome
from ...service import WrapUpService

ChatAction = Callable[[WrapUpService, str, str, dict[str, Any]], Outcome]


def _extend(
    service: WrapUpService, agent: str, chat: str, b: dict[str, Any]
) -> Outcome:
    return service.extend(agent, chat, command_id=b.get("command_id"))


def _complete(
    service: WrapUpService, agent: str, chat: str, b: dict[str, Any]
) -> Outcome:
    return service.complete(agent, chat, command_id=b.get("command_id"))


def _classify(
    service: WrapUpService, agent: str, chat: str, b: dict[str, Any]
) -> Outcome:
    return service.classify(
        agent,
        chat,
        code=b.get("code"),
        text=b.get("text"),
        additional_text=b.get("additional_text"),
        command_id=b.get("command_id"),
    )


def _flag(service: WrapUpService, agent: str, chat: str, b: dict[str, Any]) -> Outcome:
    return service.flag_abusive(
        agent, chat, b.get("reason"), command_id=b.get("command_id")
    )


def _pause(service: WrapUpService, agent: str, chat: str, b: dict[str, Any]) -> Outcome:
    return service.pause(agent, chat, command_id=b.get("command_id"))


def _resume(
    service: WrapUpService, agent: str, chat: str, b: dict[str, Any]
) -> Outcome:
    return service.resume(agent, chat, command_id=b.get("command_id"))


def _park(service: WrapUpService, agent: str, chat: str, b: dict[str, Any]) -> Outcome:
    return service.park(agent, chat, command_id=b.get("command_id"))


def _activate(
    service: WrapUpService, agent: str, chat: str, b: dict[str, Any]
) -> Outcome:
    return service.activate(agent, chat, command_id=b.get("command_id"))


def _end(service: WrapUpService, agent: str, chat: str, b: dict[str, Any]) -> Outcome:
    return service.end_chat(agent, chat, EndedBy.AGENT, command_id=b.get("command_id"))


def _transfer(
    service: WrapUpService, agent: str, chat: str, b: dict[str, Any]
) -> Outcome:
    return service.transfer(
        agent,
        chat,
        to_agent_id=b.get("to_agent_id"),
        to_queue_id=b.get("to_queue_id"),
        command_id=b.get("command_id"),
    )


CHAT_ACTIONS: dict[str, tuple[ChatAction, frozenset[str]]] = {
    "extend": (_extend, frozenset()),
    "complete": (_complete, frozenset()),
    "classify": (_classify, frozenset({"code", "text", "additional_text"})),
    "flag_abusive": (_flag, frozenset({"reason"})),
    "pause": (_pause, frozenset()),
    "resume": (_resume, frozenset()),
    "park": (_park, frozenset()),
    "activate": (_activate, frozenset()),
    "end": (_end, frozenset()),
    "transfer": (_transfer, frozenset({"to_agent_id", "to_queue_id"})),
}
"""Each chat action: the service call, and the fields its body may carry."""


def checked_body(body: object, allowed: frozenset[str]) -> dict[str, Any]:
    """``body`` if it is a JSON object of only ``allowed`` fields (and
    ``command_id``); otherwise the typed error naming what is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput(
            ErrorCode.INVALID_JSON,
            f"the request body must be a JSON object, not {shown(body)}",
            field="$",
        )
    for name in body:
        if name not in allowed and name != "command_id":
            known = ", ".join(sorted({*allowed, "command_id"}))
            raise invalid_argument(str(name), f"one of the fields {known}", name)
    return body


def run_chat_action(
    service: WrapUpService, action: str, agent_id: str, chat_id: str, body: object
) -> Outcome:
    """Run the chat action ``action`` (a key of :data:`CHAT_ACTIONS`)."""
    call, allowed = CHAT_ACTIONS[action]
    return call(service, agent_id, chat_id, checked_body(body, allowed))


def choose_presence(service: WrapUpService, agent_id: str, body: object) -> Outcome:
    """The presence chooser: ``{"presence": "break", "reason": null}``."""
    fields = checked_body(body, frozenset({"presence", "reason"}))
    value = fields.get("presence")
    try:
        presence = Presence(value)
    except (ValueError, TypeError):
        choices = ", ".join(p.value for p in Presence)
        raise invalid_argument("presence", f"one of {choices}", value) from None
    return service.choose_presence(
        agent_id, presence, fields.get("reason"), command_id=fields.get("command_id")
    )


def cancel_next_presence(
    service: WrapUpService, agent_id: str, body: object
) -> Outcome:
    """Cancel the pending next status."""
    fields = checked_body(body, frozenset())
    return service.cancel_next_presence(agent_id, command_id=fields.get("command_id"))
