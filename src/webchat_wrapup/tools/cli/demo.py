"""A walk-through of the seed page on one agent, printed step by step."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from ... import (
    AgentView,
    AssignChat,
    ClassificationOption,
    ClassificationPolicy,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    ContactHistoryEntry,
    DropdownClassification,
    EndChat,
    ExpiryRule,
    ExtendWrapUp,
    FlagAbusive,
    QueuePolicy,
    WrapUpError,
)
from ...clocks import ManualClock
from ...service import WrapUpService
from ...stores.sqlite import SQLiteStore
from ..runs import EPOCH

AGENT = "agent-ana"

SUPPORT = QueuePolicy(
    "support",
    classification=ClassificationPolicy(
        choices=DropdownClassification(
            (
                ClassificationOption("billing-refund", "Refund", "Billing"),
                ClassificationOption("billing-invoice", "Invoice query", "Billing"),
                ClassificationOption("delivery-late", "Late delivery", "Delivery"),
                ClassificationOption("other", "Other"),
            )
        ),
        on_expiry=ExpiryRule.APPLY_DEFAULT,
        timeout_default="other",
    ),
)


def screen(view: AgentView) -> str:
    """One line per chat: what the agent's desk shows."""
    lines = [f"  status: {view.status_label}"]
    for chat in view.chats:
        countdown = "-" if chat.seconds_left is None else f"{chat.seconds_left}s"
        icon = f"extend [{chat.extensions_left}]"
        if not chat.extend_enabled:
            icon += " (greyed out)"
        chosen = "-" if chat.classification is None else chat.classification.label
        abusive = " flagged abusive" if chat.flagged_abusive else ""
        lines.append(
            f"  chat {chat.chat_id}: {chat.phase.value}, countdown {countdown}, "
            f"{icon}, classification {chosen}{abusive}"
        )
    return "\n".join(lines)


def run(
    write: Callable[[str], None] = print, path: Path | None = None
) -> list[ContactHistoryEntry]:
    """Walk one agent through two chats, through the service and a SQLite file.

    ``path`` is the database file; a temporary one by default. Returns the
    contact history read back from the database.
    """
    with tempfile.TemporaryDirectory(prefix="webchat-wrapup-") as folder:
        database = path or Path(folder) / "demo.db"
        with SQLiteStore(database) as store:
            return _walk(WrapUpService(store, ManualClock(EPOCH)), write)


def _walk(
    service: WrapUpService, write: Callable[[str], None]
) -> list[ContactHistoryEntry]:
    clock = service.clock
    if not isinstance(clock, ManualClock):  # the walk-through moves time itself
        raise TypeError("the demo needs a ManualClock")
    service.add_agent(AGENT)
    steps: list[tuple[int, str, Command]] = [
        (0, "a chat is assigned", AssignChat(AGENT, "chat-1", "cust-42", SUPPORT)),
        (
            40,
            "classified from the dropdown during the chat",
            ClassifyChat(
                AGENT,
                "chat-1",
                code="billing-refund",
                additional_text="Refund for order 1234 agreed",
            ),
        ),
        (55, "flagged as abusive", FlagAbusive(AGENT, "chat-1", "Insults")),
        (90, "the customer ends the chat", EndChat(AGENT, "chat-1")),
        (100, "extend (1)", ExtendWrapUp(AGENT, "chat-1")),
        (101, "extend (2)", ExtendWrapUp(AGENT, "chat-1")),
        (102, "extend (3)", ExtendWrapUp(AGENT, "chat-1")),
        (103, "extend again", ExtendWrapUp(AGENT, "chat-1")),
        (130, "complete wrap-up early", CompleteWrapUp(AGENT, "chat-1")),
        (
            200,
            "a second chat is assigned",
            AssignChat(AGENT, "chat-2", "cust-7", SUPPORT),
        ),
        (320, "the customer ends it", EndChat(AGENT, "chat-2")),
    ]
    for offset, what, command in steps:
        clock.set(EPOCH + timedelta(seconds=offset))
        write(f"[{clock.now():%H:%M:%S}] {what}")
        try:
            service.execute(command)
        except WrapUpError as error:
            write(f"  refused: {error.code.value}: {error}")
            continue
        write(screen(service.view(AGENT)))
    clock.set(EPOCH + timedelta(seconds=380))
    write(f"[{clock.now():%H:%M:%S}] the countdown runs out")
    write(screen(service.view(AGENT)))
    write(f"  a sweeper makes it permanent: {service.sweep().expired} expired")
    history = [
        entry
        for customer in ("cust-42", "cust-7")
        for entry in service.history(customer).entries
    ]
    write("\ncontact history:")
    for entry in history:
        label = entry.classification.label if entry.classification else "-"
        notes = "; ".join(entry.notes) or "-"
        write(
            f"  {entry.customer_id} {entry.chat_id}: {label}, {entry.ending.value}, "
            f"{entry.extensions_used} extension(s), notes: {notes}"
        )
    return history
