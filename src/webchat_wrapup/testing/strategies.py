"""Hypothesis strategies for policies, instants and commands."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from .._core._commands import (
    ActivateChat,
    AssignChat,
    CancelNextPresence,
    ChoosePresence,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    EndChat,
    ExpireWrapUp,
    ExtendWrapUp,
    FlagAbusive,
    ParkChat,
    PauseWrapUp,
    ResumeWrapUp,
    TransferChat,
)
from .._core._history import EndedBy
from .._core._machine import Presence
from .._core._policy import (
    ClassificationOption,
    ClassificationPolicy,
    DropdownClassification,
    ExpiryRule,
    FreeTextClassification,
    QueuePolicy,
    WrapUpPolicy,
)

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

_codes = st.sampled_from(["refund", "invoice", "late", "broken", "other", "spam"])


def _validate_size(min_size: int, max_size: int) -> None:
    if not 0 <= min_size <= max_size:
        raise ValueError(f"need 0 <= min_size <= max_size, not {min_size}, {max_size}")


def instants(
    *, start: datetime = EPOCH, max_offset_seconds: int = 3600
) -> st.SearchStrategy[datetime]:
    """UTC instants from ``start`` up to ``max_offset_seconds`` later."""
    return st.integers(0, max_offset_seconds * 1000).map(
        lambda ms: start + timedelta(milliseconds=ms)
    )


def wrap_up_policies() -> st.SearchStrategy[WrapUpPolicy]:
    """Valid wrap-up policies, biased towards short countdowns."""

    @st.composite
    def build(draw: st.DrawFn) -> WrapUpPolicy:
        countdown = draw(st.none() | st.integers(1, 300))
        early = True if countdown is None else draw(st.booleans())
        return WrapUpPolicy(
            enabled=draw(st.booleans()),
            countdown_seconds=countdown,
            extension_seconds=draw(st.integers(1, 300)),
            max_extensions=draw(st.integers(0, 4)),
            early_exit_allowed=early,
            pause_allowed=draw(st.booleans()),
            max_paused_seconds=draw(st.none() | st.integers(1, 120)),
        )

    return build()


def dropdowns(
    *, min_size: int = 1, max_size: int = 6
) -> st.SearchStrategy[DropdownClassification]:
    """Dropdowns with unique codes; at least one option is not retired."""
    _validate_size(max(min_size, 1), max_size)

    @st.composite
    def build(draw: st.DrawFn) -> DropdownClassification:
        codes = draw(
            st.lists(_codes, min_size=max(min_size, 1), max_size=max_size, unique=True)
        )
        retired = [draw(st.booleans()) for _ in codes]
        retired[0] = False
        return DropdownClassification(
            tuple(
                ClassificationOption(
                    code, code.title(), draw(st.none() | st.just("Billing")), gone
                )
                for code, gone in zip(codes, retired, strict=True)
            )
        )

    return build()


def classification_policies(
    *, wrap_up_enabled: bool = True
) -> st.SearchStrategy[ClassificationPolicy]:
    """Valid classification policies, dropdown or free text."""

    @st.composite
    def build(draw: st.DrawFn) -> ClassificationPolicy:
        choices = draw(
            dropdowns()
            | st.builds(
                FreeTextClassification,
                min_length=st.integers(1, 3),
                max_length=st.integers(3, 40),
            )
        )
        default = None
        if draw(st.booleans()):
            if isinstance(choices, DropdownClassification):
                default = choices.offered(None)[0].code
            else:
                default = "Timed out"[: choices.max_length].strip() or None
        on_expiry = (
            ExpiryRule.APPLY_DEFAULT
            if default and draw(st.booleans())
            else ExpiryRule.COMPLETE_UNCLASSIFIED
        )
        return ClassificationPolicy(
            choices=choices,
            required=wrap_up_enabled and draw(st.booleans()),
            on_expiry=on_expiry,
            timeout_default=default,
            additional_text_max_length=draw(st.integers(0, 50)),
        )

    return build()


def queue_policies(
    *, queue_ids: tuple[str, ...] = ("sales", "support")
) -> st.SearchStrategy[QueuePolicy]:
    """Valid queue policies."""

    @st.composite
    def build(draw: st.DrawFn) -> QueuePolicy:
        wrap_up = draw(wrap_up_policies())
        return QueuePolicy(
            draw(st.sampled_from(queue_ids)),
            wrap_up,
            draw(classification_policies(wrap_up_enabled=wrap_up.enabled)),
        )

    return build()


def commands(
    *,
    agent_id: str = "agent-1",
    chat_ids: tuple[str, ...] = ("chat-1", "chat-2", "chat-3"),
    deadline_start: datetime = EPOCH,
    kinds: tuple[type[Command], ...] | None = None,
) -> st.SearchStrategy[Command]:
    """Commands for ``agent_id`` on a small set of chats, valid or not.

    ``kinds`` limits them to some command types (all of them by default).
    """
    if not chat_ids:
        raise ValueError("chat_ids must name at least one chat")
    chats = st.sampled_from(chat_ids)
    agent = st.just(agent_id)
    texts = st.none() | st.text(max_size=12) | _codes
    by_kind: dict[type[Command], st.SearchStrategy[Command]] = {
        AssignChat: st.builds(
            AssignChat,
            agent,
            chats,
            st.sampled_from(["cust-1", "cust-2"]),
            queue_policies(),
        ),
        EndChat: st.builds(
            EndChat, agent, chats, st.sampled_from([EndedBy.CUSTOMER, EndedBy.AGENT])
        ),
        TransferChat: st.builds(TransferChat, agent, chats, st.just("agent-2"))
        | st.builds(TransferChat, agent, chats, st.none(), st.just("sales")),
        ClassifyChat: st.builds(
            ClassifyChat,
            agent,
            chats,
            st.none() | _codes,
            texts,
            st.none() | st.text(max_size=60),
        ),
        FlagAbusive: st.builds(
            FlagAbusive, agent, chats, st.none() | st.text(max_size=20)
        ),
        ExtendWrapUp: st.builds(ExtendWrapUp, agent, chats),
        CompleteWrapUp: st.builds(CompleteWrapUp, agent, chats),
        ExpireWrapUp: st.builds(
            ExpireWrapUp, agent, chats, instants(start=deadline_start)
        ),
        ParkChat: st.builds(ParkChat, agent, chats),
        ActivateChat: st.builds(ActivateChat, agent, chats),
        PauseWrapUp: st.builds(PauseWrapUp, agent, chats),
        ResumeWrapUp: st.builds(ResumeWrapUp, agent, chats),
        ChoosePresence: presence_choices(agent_id=agent_id),
        CancelNextPresence: st.builds(CancelNextPresence, agent),
    }
    chosen = list(by_kind) if kinds is None else list(kinds)
    unknown = [kind for kind in chosen if kind not in by_kind]
    if unknown or not chosen:
        raise ValueError(f"kinds must be command types, not {unknown or chosen!r}")
    return st.one_of(*(by_kind[kind] for kind in chosen))


def presence_choices(*, agent_id: str = "agent-1") -> st.SearchStrategy[Command]:
    """Presences an agent may choose, not-ready ones with a reason."""
    plain = st.sampled_from([Presence.AVAILABLE, Presence.BREAK, Presence.OFFLINE]).map(
        lambda presence: ChoosePresence(agent_id, presence)
    )
    not_ready = st.sampled_from(["Lunch", "Training", "Meeting"]).map(
        lambda reason: ChoosePresence(agent_id, Presence.NOT_READY, reason)
    )
    return plain | not_ready


def command_sequences(
    *, min_size: int = 0, max_size: int = 30, agent_id: str = "agent-1"
) -> st.SearchStrategy[list[tuple[int, Command]]]:
    """Lists of (milliseconds since the previous command, command)."""
    _validate_size(min_size, max_size)
    step = st.tuples(st.integers(0, 120_000), commands(agent_id=agent_id))
    return st.lists(step, min_size=min_size, max_size=max_size)
