"""A walk-through of the seed page on one agent, printed step by step.

Two parts: the seed page itself (classify, flag, extend until the icon
greys out, complete, a countdown that runs out), then pause and park,
and a break chosen during wrap-up that starts when the wrap-up ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from ... import (
    ActivateChat,
    AgentView,
    AssignChat,
    ChatView,
    ChoosePresence,
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
    ParkChat,
    PauseWrapUp,
    Presence,
    QueuePolicy,
    ResumeWrapUp,
    WrapUpError,
)
from ...clocks import ManualClock
from ...service import WrapUpService
from ...stores.sqlite import SQLiteStore
from ..runs import EPOCH

AGENT = "agent-ana"
COLLEAGUE = "agent-ben"
CUSTOMERS = ("cust-42", "cust-7", "cust-9")

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

Step = tuple[int, str, Command | None]
"""Seconds into the walk, what happens, and the command (``None``: time
passes and the desk is shown)."""

SEED_PAGE: Sequence[Step] = (
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
    (200, "a second chat is assigned", AssignChat(AGENT, "chat-2", "cust-7", SUPPORT)),
    (320, "the customer ends it", EndChat(AGENT, "chat-2")),
    (380, "the countdown runs out", None),
)

PAUSE_AND_BREAK: Sequence[Step] = (
    (400, "a third chat is assigned", AssignChat(AGENT, "chat-3", "cust-9", SUPPORT)),
    (420, "park it: set aside, still held", ParkChat(AGENT, "chat-3")),
    (440, "take it up again", ActivateChat(AGENT, "chat-3")),
    (460, "park it again", ParkChat(AGENT, "chat-3")),
    (
        480,
        "the customer ends it while parked: wrap-up starts paused",
        EndChat(AGENT, "chat-3"),
    ),
    (540, "a minute on, the countdown has not moved", None),
    (545, "resume: the countdown runs", ResumeWrapUp(AGENT, "chat-3")),
    (565, "pause it", PauseWrapUp(AGENT, "chat-3")),
    (595, "half a minute on, the time left is frozen", None),
    (600, "resume it where it stopped", ResumeWrapUp(AGENT, "chat-3")),
    (605, "choose Break during wrap-up", ChoosePresence(AGENT, Presence.BREAK)),
    (610, "no new chat meanwhile", AssignChat(AGENT, "chat-4", "cust-5", SUPPORT)),
    (620, "complete wrap-up: the break starts", CompleteWrapUp(AGENT, "chat-3")),
    (625, "no chat on a break", AssignChat(AGENT, "chat-4", "cust-5", SUPPORT)),
    (1500, "back from the break", ChoosePresence(AGENT, Presence.AVAILABLE)),
)


def screen(view: AgentView) -> str:
    """One line for the agent, one per chat: what the agent's desk shows."""
    status = view.status_label
    if view.next_presence is not None:
        chosen = view.next_presence_reason or view.next_presence.label
        status += f", next status: {chosen}"
    lines = [f"  status: {status}"]
    for chat in view.chats:
        icon = f"extend [{chat.extensions_left}]"
        if not chat.extend_enabled:
            icon += " (greyed out)"
        chosen = "-" if chat.classification is None else chat.classification.label
        abusive = " flagged abusive" if chat.flagged_abusive else ""
        lines.append(
            f"  chat {chat.chat_id}: {chat.phase.value}, countdown "
            f"{_countdown(chat)}, {icon}, classification {chosen}{abusive}"
        )
    return "\n".join(lines)


def _countdown(chat: ChatView) -> str:
    left = "-" if chat.seconds_left is None else f"{chat.seconds_left}s"
    return f"{left} (stopped)" if chat.paused else left


def run(
    write: Callable[[str], None] = print, path: Path | None = None
) -> list[ContactHistoryEntry]:
    """Walk one agent through three chats, through the service and a SQLite file.

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
    write("== the seed page")
    _play(service, clock, SEED_PAGE, write)
    write(f"  a sweeper makes it permanent: {service.sweep().expired} expired")
    write("\n== park and pause, then a break chosen during wrap-up")
    _play(service, clock, PAUSE_AND_BREAK, write)
    write("\n== a transfer: each agent wraps up their own leg")
    _transfer(service, clock, write)
    history = [
        entry for customer in CUSTOMERS for entry in service.history(customer).entries
    ]
    write("\ncontact history:")
    for entry in history:
        write(_history_line(entry))
    return history


def _transfer(
    service: WrapUpService, clock: ManualClock, write: Callable[[str], None]
) -> None:
    service.add_agent(COLLEAGUE)
    steps: Sequence[tuple[int, str, Callable[[], object]]] = (
        (
            1600,
            "a fourth chat is assigned",
            lambda: service.assign(AGENT, "chat-5", "cust-42", SUPPORT),
        ),
        (
            1630,
            f"transfer it to {COLLEAGUE}: her leg ends, his starts",
            lambda: service.transfer(AGENT, "chat-5", to_agent_id=COLLEAGUE),
        ),
        (
            1650,
            f"{AGENT} completes the wrap-up of her leg",
            lambda: service.complete(AGENT, "chat-5"),
        ),
        (
            1700,
            "the customer ends the chat",
            lambda: service.end_chat(COLLEAGUE, "chat-5"),
        ),
        (
            1710,
            f"{COLLEAGUE} completes his",
            lambda: service.complete(COLLEAGUE, "chat-5"),
        ),
    )
    for offset, what, act in steps:
        clock.set(EPOCH + timedelta(seconds=offset))
        write(f"[{clock.now():%H:%M:%S}] {what}")
        act()
        for agent_id in (AGENT, COLLEAGUE):
            write(f"  {agent_id}:")
            write(_desk(service, agent_id))


def _play(
    service: WrapUpService,
    clock: ManualClock,
    steps: Sequence[Step],
    write: Callable[[str], None],
) -> None:
    for offset, what, command in steps:
        clock.set(EPOCH + timedelta(seconds=offset))
        write(f"[{clock.now():%H:%M:%S}] {what}")
        if command is not None:
            try:
                service.execute(command)
            except WrapUpError as error:
                write(f"  refused: {error.code.value}: {error}")
                continue
        write(_desk(service, AGENT))


def _desk(service: WrapUpService, agent_id: str) -> str:
    return screen(service.view(agent_id))


def _history_line(entry: ContactHistoryEntry) -> str:
    label = entry.classification.label if entry.classification else "-"
    notes = "; ".join(entry.notes) or "-"
    paused = ""
    if entry.pause_count:
        paused = f", paused {entry.pause_count} time(s) for {entry.paused_seconds:g} s"
    leg = ""
    if entry.leg > 1 or entry.transferred_to_agent or entry.transferred_to_queue:
        where = entry.transferred_to_agent or entry.transferred_to_queue
        leg = f" leg {entry.leg} ({entry.agent_id}" + (
            f", to {where})" if where else ")"
        )
    return (
        f"  {entry.customer_id} {entry.chat_id}{leg}: {label}, {entry.ending.value}, "
        f"{entry.extensions_used} extension(s){paused}, notes: {notes}"
    )
