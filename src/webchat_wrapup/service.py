"""The object vendors call: load, let the core decide, save, then notify.

A command travels one way: the service loads the agent from the store,
the core decides at the clock's instant, the store saves the new state with
its history entries and command record in one transaction, and only then do
subscribers hear the events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from ._core._agent import AgentState
from ._core._commands import (
    AssignChat,
    ClassifyChat,
    Command,
    CompleteWrapUp,
    EndChat,
    ExpireWrapUp,
    ExtendWrapUp,
    FlagAbusive,
    check_command,
    command_to_dict,
)
from ._core._decide import Decision, decide, expire_due
from ._core._errors import (
    AgentExists,
    ChatNotHeld,
    CommandIdReused,
    CommandRefused,
    ErrorCode,
    InvalidInput,
    NotificationFailed,
    UnknownAgent,
    VersionConflict,
    WrapUpError,
    invalid_argument,
    shown,
)
from ._core._events import Event, WrapUpCompleted
from ._core._history import EndedBy
from ._core._instants import utc_instant
from ._core._policy import QueuePolicy
from ._core._text import check_identifier
from ._core._views import AgentView, view_agent
from .ports import (
    Change,
    Clock,
    CommandRecord,
    HistoryPage,
    Outcome,
    Store,
    SweepFailure,
    SweepResult,
)

Subscriber = Callable[[Event], None]
"""Called once per event, after the change is committed."""

DEFAULT_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(seconds=30)
MAX_SWEEP_LIMIT = 10_000


class WrapUpService:
    """Runs commands against a store, at the clock's time.

    ``attempts`` bounds how often a command is decided again on fresh state
    after a version conflict; ``lease`` is how long a sweeper's claim on a
    due wrap-up lasts.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise invalid_argument("attempts", "a whole number of at least 1", attempts)
        if not isinstance(lease, timedelta) or not timedelta(0) < lease <= _A_DAY:
            raise invalid_argument("lease", "a timedelta of up to a day", lease)
        self.store = store
        self.clock = clock
        self.attempts = attempts
        self.lease = lease
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Hear every event after it is committed; returns an unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def add_agent(
        self,
        agent_id: str,
        *,
        capacity: int = 1,
        classification_profile: Iterable[str] | None = None,
        exist_ok: bool = False,
    ) -> AgentState:
        """Store a new, available agent; :class:`AgentExists` if already there.

        With ``exist_ok=True`` an agent already stored is left as it is and
        its stored state returned, so app servers that start together can
        all add the agents they expect without racing into an error.
        """
        state = AgentState.new(
            agent_id, capacity=capacity, classification_profile=classification_profile
        )
        try:
            self.store.save(Change(agent_id, 0, state))
        except VersionConflict as error:
            stored = self.store.load(agent_id) if exist_ok else None
            if stored is None:
                raise AgentExists(agent_id) from error
            return stored.state
        return state

    def execute(self, command: Command, *, command_id: str | None = None) -> Outcome:
        """Decide and save ``command``; a retried ``command_id`` is replayed."""
        check_command(command)  # before any store is asked about it
        fingerprint = None
        if command_id is not None:
            check_identifier(command_id, "command_id")
            fingerprint = fingerprint_of(command)
        conflict: VersionConflict | None = None
        # Optimistic: the command id is looked up only when the attempt
        # fails, as it must when the command already ran (its id is
        # recorded, so the save is refused, or the command no longer applies).
        for _ in range(self.attempts):
            try:
                outcome = self._attempt(command, command_id, fingerprint)
            except VersionConflict as error:
                conflict = error
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                continue
            except CommandIdReused:
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                continue  # pragma: no cover - recorded by a racing writer
            except (CommandRefused, ChatNotHeld, UnknownAgent, InvalidInput):
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                raise
            self._notify(outcome)
            return outcome
        if conflict is None:  # attempts >= 1, so every path above set it
            raise AssertionError("unreachable: no attempt was made")
        raise VersionConflict(
            command.agent_id, conflict.expected_version, self.attempts
        ) from conflict

    def _replay_if_recorded(
        self, command_id: str | None, fingerprint: str | None
    ) -> Outcome | None:
        if command_id is None or fingerprint is None:
            return None
        return self._replay(command_id, fingerprint)

    def _replay(self, command_id: str, fingerprint: str) -> Outcome | None:
        record = self.store.find_command(command_id)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise CommandIdReused(command_id)
        first = record.outcome
        return Outcome(first.agent_id, first.version, first.events, first.history, True)

    def _attempt(
        self, command: Command, command_id: str | None, fingerprint: str | None
    ) -> Outcome:
        stored = self.store.load(command.agent_id)
        if stored is None:
            raise UnknownAgent(command.agent_id)
        decision = decide(stored.state, command, self.clock.now())
        if not decision.events and command_id is None:
            return Outcome(command.agent_id, stored.version)
        outcome = _outcome(command.agent_id, stored.version + 1, decision)
        record = None
        if command_id is not None and fingerprint is not None:
            record = CommandRecord(command_id, command.agent_id, fingerprint, outcome)
        change = Change(
            command.agent_id, stored.version, decision.state, decision.history, record
        )
        self.store.save(change)
        return outcome

    def _notify(self, outcome: Outcome) -> None:
        failures: list[Exception] = []
        for event in outcome.events:
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception as error:
                    failures.append(error)
        if failures:
            raise NotificationFailed(
                f"the command was saved, but {len(failures)} subscriber call(s) "
                f"failed; the first: {failures[0]!r}",
                outcome,
                len(failures),
            ) from failures[0]

    def sweep(self, limit: int = 100) -> SweepResult:
        """Make up to ``limit`` agents' due expiries permanent.

        Safe to run in several processes at once: claims keep sweepers apart
        and versions make each expiry happen exactly once. An agent that
        cannot be loaded, decided or saved does not hold up the others: the
        sweep goes on and names it in :attr:`SweepResult.failures`; its
        claim is left to run out, and sweeps claim agents never claimed
        before ahead of it.
        """
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_SWEEP_LIMIT
        ):
            raise InvalidInput(
                ErrorCode.INVALID_LIMIT,
                f"a sweep's limit must be a whole number from 1 to "
                f"{MAX_SWEEP_LIMIT}, not {shown(limit)}",
                field="limit",
            )
        now = utc_instant(self.clock.now())
        claimed = self.store.claim_due(now, limit, self.lease)
        expired = 0
        failures: list[SweepFailure] = []
        for agent_id in claimed:
            try:
                expired += self._expire_agent(agent_id, now)
            except NotificationFailed as error:  # saved: count it, report it
                expired += _expiries(error.outcome.events)
                failures.append(SweepFailure(agent_id, error))
            except WrapUpError as error:
                failures.append(SweepFailure(agent_id, error))
        return SweepResult(len(claimed), expired, tuple(failures))

    def _expire_agent(self, agent_id: str, now: datetime) -> int:
        for _ in range(self.attempts):
            stored = self.store.load(agent_id)
            if stored is None:
                return 0
            decision = expire_due(stored.state, now)
            if not decision.events:
                return 0
            change = Change(agent_id, stored.version, decision.state, decision.history)
            try:
                self.store.save(change)
            except VersionConflict:
                continue
            self._notify(_outcome(agent_id, stored.version + 1, decision))
            return _expiries(decision.events)
        return 0

    def view(self, agent_id: str) -> AgentView:
        """What the agent's desk shows now."""
        check_identifier(agent_id, "agent_id")
        stored = self.store.load(agent_id)
        if stored is None:
            raise UnknownAgent(agent_id)
        return view_agent(stored.state, self.clock.now())

    def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's contact history."""
        check_identifier(customer_id, "customer_id")
        return self.store.history(customer_id, cursor=cursor, limit=limit)

    # Shorthands, one per command.

    def assign(
        self,
        agent_id: str,
        chat_id: str,
        customer_id: str,
        queue: QueuePolicy,
        *,
        command_id: str | None = None,
    ) -> Outcome:
        """Give the agent a chat from ``queue``."""
        command = AssignChat(agent_id, chat_id, customer_id, queue)
        return self.execute(command, command_id=command_id)

    def end_chat(
        self,
        agent_id: str,
        chat_id: str,
        ended_by: EndedBy = EndedBy.CUSTOMER,
        *,
        command_id: str | None = None,
    ) -> Outcome:
        """End the chat; wrap-up starts."""
        command = EndChat(agent_id, chat_id, ended_by)
        return self.execute(command, command_id=command_id)

    def classify(
        self,
        agent_id: str,
        chat_id: str,
        *,
        code: str | None = None,
        text: str | None = None,
        additional_text: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Classify the chat by dropdown ``code`` or free ``text``."""
        command = ClassifyChat(agent_id, chat_id, code, text, additional_text)
        return self.execute(command, command_id=command_id)

    def flag_abusive(
        self,
        agent_id: str,
        chat_id: str,
        reason: str | None = None,
        *,
        command_id: str | None = None,
    ) -> Outcome:
        """Flag the chat as abusive."""
        command = FlagAbusive(agent_id, chat_id, reason)
        return self.execute(command, command_id=command_id)

    def extend(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """Use one extension."""
        return self.execute(ExtendWrapUp(agent_id, chat_id), command_id=command_id)

    def complete(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """End the wrap-up early."""
        return self.execute(CompleteWrapUp(agent_id, chat_id), command_id=command_id)

    def expire(
        self,
        agent_id: str,
        chat_id: str,
        deadline: datetime,
        *,
        command_id: str | None = None,
    ) -> Outcome:
        """Make one expiry permanent (does nothing if it is not due)."""
        command = ExpireWrapUp(agent_id, chat_id, deadline)
        return self.execute(command, command_id=command_id)


_A_DAY = timedelta(days=1)


def _expiries(events: Iterable[Event]) -> int:
    return sum(isinstance(event, WrapUpCompleted) for event in events)


def _outcome(agent_id: str, version: int, decision: Decision) -> Outcome:
    return Outcome(agent_id, version, decision.events, decision.history)


def fingerprint_of(command: Command) -> str:
    """A digest of the command's canonical JSON form: what a retry must match.

    Sorted keys, compact separators and the schema version make it stable;
    fields left empty (``None``) are left out, so a release that adds an
    optional field keeps every fingerprint already stored. An assign names
    its queue by id and leaves out the body of the queue's policy, so a
    router's retry still matches after an administrator edits the queue.
    """
    data = {k: v for k, v in command_to_dict(command).items() if v is not None}
    queue = data.get("queue")
    if isinstance(queue, dict):
        data["queue"] = queue["queue_id"]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
