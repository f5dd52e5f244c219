"""The object vendors call: load, let the core decide, save, then notify.

A command travels one way: the service loads the agent from the store,
the core decides at the clock's instant, the store saves the new state with
its history entries and command record in one transaction, and only then do
subscribers hear the events.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Literal

import attrs

from ._core._agent import AgentState, finished_limit
from ._core._commands import (
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
    check_command,
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
from ._core._machine import Presence
from ._core._policy import QueuePolicy
from ._core._text import check_identifier
from ._core._views import AgentView, view_agent
from ._fingerprint import fingerprint_of as fingerprint_of
from .observers import Observer
from .ports import (
    Change,
    Clock,
    CommandRecord,
    ErasureRecord,
    HistoryPage,
    Outcome,
    RemembersStates,
    Store,
    StoredAgent,
    SweepFailure,
    SweepResult,
)

Subscriber = Callable[[Event], None]
"""Called once per event, after the change is committed."""


class _Keep(enum.Enum):
    """The default of :meth:`WrapUpService.update_agent`'s settings: "not
    given", which differs from ``None`` (no classification profile)."""

    KEEP = "keep"


KEEP = _Keep.KEEP

DEFAULT_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_COMMAND_RETENTION = timedelta(hours=24)
DEFAULT_EVENT_RETENTION = timedelta(days=7)
"""How long a command id is remembered: a retry within it is replayed."""
MAX_SWEEP_LIMIT = 10_000
SWEEP_BATCH = 100
"""Agents whose expiries a sweep saves in one transaction: one commit (one
sync of the disk) for them all, and the write lock held for milliseconds."""


class _Trust:
    """Whether to decide on remembered states: while they are found fresh.

    A stale one costs a decision and a refused save before the usual load
    and save, several times what a fresh one saves (the load), so they are
    used while stale ones stay rare: another process saving the same agents
    (app servers sharing agents round robin) stops them for a while. A
    score, not a count: threads update it without a lock, and a lost update
    only shifts when the next try comes.
    """

    __slots__ = ("score",)

    MOST = 32
    STALE = 8  # a stale state costs this many fresh ones

    def __init__(self) -> None:
        self.score = self.MOST

    def remembered(self) -> bool:
        """Whether to try the remembered state (each command not trying it
        earns back a point)."""
        if self.score > 0:
            return True
        self.score += 1
        return False

    def fresh(self) -> None:
        self.score = min(self.score + 1, self.MOST)

    def stale(self) -> None:
        self.score -= self.STALE


@attrs.frozen
class _Expiry:
    """An agent's due expiries, decided and not yet saved."""

    change: Change
    outcome: Outcome


@attrs.define
class _SweepTally:
    """What a sweep has done so far."""

    expired: int = 0
    failures: list[SweepFailure] = attrs.Factory(list)


class WrapUpService:
    """Runs commands against a store, at the clock's time.

    ``attempts`` bounds how often a command is decided again on fresh state
    after a version conflict; ``lease`` is how long a sweeper's claim on a
    due wrap-up lasts; ``command_retention`` is how long command records
    (kept for retries, with copies of what the command wrote) live before
    :meth:`sweep` prunes them. A retry older than that is decided afresh,
    like a new command. ``event_retention`` is how long the store's event
    feed keeps each event (a follower stopped for longer misses what was
    pruned meanwhile). ``observer`` hears every command and sweep (see
    :mod:`webchat_wrapup.observers`).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        lease: timedelta = DEFAULT_LEASE,
        command_retention: timedelta = DEFAULT_COMMAND_RETENTION,
        event_retention: timedelta = DEFAULT_EVENT_RETENTION,
        observer: Observer | None = None,
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise invalid_argument("attempts", "a whole number of at least 1", attempts)
        if not isinstance(lease, timedelta) or not timedelta(0) < lease <= _A_DAY:
            raise invalid_argument("lease", "a timedelta of up to a day", lease)
        if not isinstance(
            command_retention, timedelta
        ) or command_retention <= timedelta(0):
            raise invalid_argument(
                "command_retention", "a positive timedelta", command_retention
            )
        if not isinstance(event_retention, timedelta) or event_retention <= timedelta(
            0
        ):
            raise invalid_argument(
                "event_retention", "a positive timedelta", event_retention
            )
        self.store = store
        self.clock = clock
        self.attempts = attempts
        self.lease = lease
        self.command_retention = command_retention
        self.event_retention = event_retention
        self.observer = observer
        self._subscribers: list[Subscriber] = []
        self._remembered = (
            store.load_remembered if isinstance(store, RemembersStates) else None
        )
        self._trust = _Trust()

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

    def update_agent(
        self,
        agent_id: str,
        *,
        capacity: int | Literal[_Keep.KEEP] = KEEP,
        classification_profile: Iterable[str] | Literal[_Keep.KEEP] | None = KEEP,
    ) -> AgentState:
        """Change the agent's capacity and/or classification profile; a
        setting left out is kept. Returns the state stored.

        The capacity counts from the next assign: a lower one never drops a
        chat the agent holds (an agent holding 3 lowered to 1 keeps all 3,
        and is refused new chats with ``capacity_reached`` until it holds
        fewer than 1). The profile (``None``: every option) applies from the
        next classification, of a chat already held too. Saved like a
        command, against the version it was loaded at, and decided again on
        fresh state after a conflict. Subscribers hear nothing: no event
        describes it.
        """
        check_identifier(agent_id, "agent_id")
        checked = AgentState.new(  # the settings checked as add_agent checks them
            agent_id,
            capacity=1 if capacity is KEEP else capacity,
            classification_profile=(
                None if classification_profile is KEEP else classification_profile
            ),
        )
        version = 0
        for _ in range(self.attempts):
            stored = self._load_known(agent_id)
            version = stored.version
            state = _updated(stored.state, checked, capacity, classification_profile)
            if state == stored.state:
                return state
            try:
                self.store.save(Change(agent_id, version, state))
            except VersionConflict:
                continue
            return state
        raise VersionConflict(agent_id, version, self.attempts)

    def retire_agent(self, agent_id: str) -> None:
        """Remove an agent that holds no chat; it is then unknown
        (:class:`UnknownAgent`) and may be added again.

        Wrap-ups past their deadline are made permanent first, as a sweep
        would (their history entries written, subscribers told), so nothing
        of them is lost. An agent still holding a chat (active, parked, or
        in a wrap-up not yet due) is refused with
        :class:`CommandRefused` (``agent_holds_chats``) and left as it is.
        Its contact-history entries stay (they are the customers'), and its
        command records until they are pruned. Should a subscriber fail on
        the expiries' events, the agent is still retired, then
        :class:`NotificationFailed` says so.
        """
        check_identifier(agent_id, "agent_id")
        version = 0
        unheard: NotificationFailed | None = None
        for _ in range(self.attempts):
            stored = self._load_known(agent_id)
            version = stored.version
            now = utc_instant(self.clock.now())
            try:
                if self._expire_before_retiring(stored, now):
                    continue  # saved: decide on the state just stored
                chats = stored.state.chats
                if chats:
                    raise _holds_chats(agent_id, chats[0].chat_id, len(chats))
                self.store.retire(agent_id, version)
            except VersionConflict:
                continue
            except NotificationFailed as error:
                unheard = error  # the expiries were saved: go on retiring
                continue
            if unheard is not None:
                raise unheard
            return
        raise VersionConflict(agent_id, version, self.attempts)

    def _load_known(self, agent_id: str) -> StoredAgent:
        stored = self.store.load(agent_id)
        if stored is None:
            raise UnknownAgent(agent_id)
        return stored

    def _expire_before_retiring(self, stored: StoredAgent, now: datetime) -> bool:
        """Make the agent's due expiries permanent; True if it saved any."""
        decision = expire_due(stored.state, now)
        if not decision.events:
            return False
        agent_id = stored.state.agent_id
        self.store.save(_change(agent_id, stored.version, decision, now))
        self._notify(_outcome(agent_id, stored.version + 1, decision))
        return True

    def erase_customer(self, customer_id: str, *, erased_by: str) -> ErasureRecord:
        """Erase every copy of the customer's data the store keeps.

        In one transaction: their contact-history entries and every command
        record holding their data are deleted, and an
        :class:`~webchat_wrapup.ports.ErasureRecord` is kept instead (its
        own id, when, ``erased_by``, and how many entries and records were
        deleted; never the customer's id), which is returned.

        While an agent holds a chat of the customer (active, parked or in
        wrap-up) the erasure is refused with :class:`CommandRefused`
        (``customer_chat_held``) and nothing is deleted: erase once the
        chat has ended. A wrap-up past its deadline has ended: its expiry
        is made permanent first, as a sweep would, and the erasure goes on.
        Should a subscriber fail on that expiry's events, the erasure is
        still made (:meth:`erasures` has its record), then
        :class:`NotificationFailed` says so.
        """
        check_identifier(customer_id, "customer_id")
        check_identifier(erased_by, "erased_by")
        unheard: NotificationFailed | None = None
        for _ in range(self.attempts - 1):
            try:
                erasure = self._erase(customer_id, erased_by)
            except CommandRefused as refused:
                if refused.code is not ErrorCode.CUSTOMER_CHAT_HELD:
                    raise
                holder = refused.details["agent_id"]
                try:
                    if not self._expire_agent(holder, utc_instant(self.clock.now())):
                        raise  # a chat still under way: not for us to end
                except NotificationFailed as error:
                    unheard = error  # the expiry was saved: go on erasing
                continue
            if unheard is not None:
                raise unheard
            return erasure
        erasure = self._erase(customer_id, erased_by)
        if unheard is not None:
            raise unheard
        return erasure

    def _erase(self, customer_id: str, erased_by: str) -> ErasureRecord:
        return self.store.erase_customer(
            customer_id,
            erasure_id=str(uuid.uuid4()),
            erased_at=utc_instant(self.clock.now()),
            erased_by=erased_by,
        )

    def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure made in this store, oldest first."""
        return self.store.erasures()

    def execute(self, command: Command, *, command_id: str | None = None) -> Outcome:
        """Decide and save ``command``; a retried ``command_id`` is replayed.

        Every answer given for one command id agrees with what was stored:
        a refusal is only reported once no save of the agent is under way,
        so a retry racing its first attempt is told what the first did.
        """
        if self.observer is None:
            return self._execute(command, command_id)
        return self._observed(command, lambda: self._execute(command, command_id))

    def _observed(self, command: Command, run: Callable[[], Outcome]) -> Outcome:
        """``run()``, reported to the observer with its time and outcome."""
        observer = self.observer
        if observer is None:
            return run()
        started = time.perf_counter()
        try:
            outcome = run()
        except WrapUpError as error:
            seconds = time.perf_counter() - started
            observer.command_finished(command.name, seconds, error.code.value, False)
            raise
        seconds = time.perf_counter() - started
        observer.command_finished(command.name, seconds, None, outcome.replayed)
        return outcome

    def _execute(self, command: Command, command_id: str | None) -> Outcome:
        check_command(command)  # before any store is asked about it
        fingerprint = None
        if command_id is not None:
            check_identifier(command_id, "command_id")
            fingerprint = fingerprint_of(command)
        outcome = self._on_remembered_state(command, command_id, fingerprint)
        if outcome is not None:
            self._notify(outcome)
            return outcome
        version = 0
        # Optimistic: the command id is looked up only when the attempt
        # fails, as it must when the command already ran (its id is
        # recorded, so the save is refused, or the command no longer applies).
        for _ in range(self.attempts):
            stored = self.store.load(command.agent_id)
            if stored is None:
                raise UnknownAgent(command.agent_id)
            version = stored.version
            try:
                outcome = self._attempt(stored, command, command_id, fingerprint)
            except (VersionConflict, CommandIdReused):
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                if self.observer is not None:
                    self.observer.conflict_retried(command.name)
                continue
            except (CommandRefused, ChatNotHeld, InvalidInput):
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                if command_id is not None and self._moved_on(stored):
                    continue  # decided on a state a save was replacing: again
                raise
            self._notify(outcome)
            return outcome
        raise VersionConflict(command.agent_id, version, self.attempts)

    def _on_remembered_state(
        self, command: Command, command_id: str | None, fingerprint: str | None
    ) -> Outcome | None:
        """The command decided on the state the store remembers and saved
        against its version, with no read first (see
        :class:`~webchat_wrapup.ports.RemembersStates`).

        ``None``, with nothing written, whenever only the stored state can
        answer: nothing remembered, another process saved since (a version
        conflict), a refusal, nothing to save, a command id already used.
        """
        remembered = self._remembered
        if remembered is None or not self._trust.remembered():
            return None
        stored = remembered(command.agent_id)
        if stored is None:
            return None
        now = self.clock.now()
        try:
            decision = decide(stored.state, command, now)
            if not decision.events and command_id is None:
                return None
            outcome = self._save(
                stored, command, command_id, fingerprint, decision, now
            )
        except VersionConflict:
            self._trust.stale()
            return None
        except (CommandIdReused, CommandRefused, ChatNotHeld, InvalidInput):
            return None
        self._trust.fresh()
        return outcome

    def _moved_on(self, stored: StoredAgent) -> bool:
        """True when a save of the agent committed after ``stored`` was read."""
        settled = self.store.load_settled(stored.state.agent_id)
        return settled is not None and settled.version != stored.version

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
        self,
        stored: StoredAgent,
        command: Command,
        command_id: str | None,
        fingerprint: str | None,
    ) -> Outcome:
        now = self.clock.now()
        decision = decide(stored.state, command, now)
        if not decision.events and command_id is None:
            return Outcome(command.agent_id, stored.version)
        return self._save(stored, command, command_id, fingerprint, decision, now)

    def _save(
        self,
        stored: StoredAgent,
        command: Command,
        command_id: str | None,
        fingerprint: str | None,
        decision: Decision,
        now: datetime,
    ) -> Outcome:
        """Save the decision against the stored version; its outcome."""
        outcome = _outcome(command.agent_id, stored.version + 1, decision)
        record = None
        if command_id is not None and fingerprint is not None:
            record = CommandRecord(
                command_id, command.agent_id, fingerprint, outcome, now
            )
        self.store.save(
            _change(command.agent_id, stored.version, decision, now, record)
        )
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

        The claimed agents' expiries are saved :data:`SWEEP_BATCH` agents to
        a transaction (:meth:`Store.save_all`). Should a batch's save fail,
        none of it is written, and its agents are saved again: an agent
        another server saved meanwhile on its own, on fresh state, and the
        others again together; after any other error, each on its own, so
        only the failing agent is named.
        """
        _check_sweep_limit(limit)
        started = time.perf_counter()
        result = self._sweep(limit)
        if self.observer is not None:
            self.observer.sweep_finished(result, time.perf_counter() - started)
        return result

    def _sweep(self, limit: int) -> SweepResult:
        now = utc_instant(self.clock.now())
        claimed = self.store.claim_due(now, limit, self.lease)
        tally = _SweepTally()
        for start in range(0, len(claimed), SWEEP_BATCH):
            self._expire_batch(claimed[start : start + SWEEP_BATCH], now, tally)
        pruned = self.store.prune_commands(now - self.command_retention, limit)
        pruned_events = self.store.prune_events(now - self.event_retention, limit)
        return SweepResult(
            len(claimed), tally.expired, tuple(tally.failures), pruned, pruned_events
        )

    def _expire_batch(
        self, agent_ids: list[str], now: datetime, tally: _SweepTally
    ) -> None:
        """Decide the agents' due expiries and save them in one transaction."""
        batch: list[_Expiry] = []
        for agent_id in agent_ids:
            try:
                expiry = self._due_expiry(agent_id, now)
            except WrapUpError as error:
                tally.failures.append(SweepFailure(agent_id, error))
                continue
            if expiry is not None:
                batch.append(expiry)
        while batch:
            try:
                self.store.save_all([expiry.change for expiry in batch])
            except VersionConflict as error:
                # Saved elsewhere since it was loaded: that agent goes on its
                # own, on fresh state, and the others again together.
                alone = {error.agent_id}
            except WrapUpError:
                alone = {expiry.change.agent_id for expiry in batch}
            else:
                for expiry in batch:
                    self._heard(expiry, tally)
                return
            if not alone.intersection(e.change.agent_id for e in batch):
                alone = {expiry.change.agent_id for expiry in batch}
            batch = [e for e in batch if e.change.agent_id not in alone]
            for agent_id in sorted(alone):
                self._expire_alone(agent_id, now, tally)

    def _heard(self, expiry: _Expiry, tally: _SweepTally) -> None:
        """Count a saved expiry and tell the subscribers."""
        tally.expired += _expiries(expiry.outcome.events)
        try:
            self._notify(expiry.outcome)
        except NotificationFailed as error:  # saved: counted, and reported
            tally.failures.append(SweepFailure(expiry.change.agent_id, error))

    def _expire_alone(self, agent_id: str, now: datetime, tally: _SweepTally) -> None:
        """Expire one agent in a transaction of its own; a failure is named."""
        try:
            tally.expired += self._expire_agent(agent_id, now)
        except NotificationFailed as error:  # saved: count it, report it
            tally.expired += _expiries(error.outcome.events)
            tally.failures.append(SweepFailure(agent_id, error))
        except WrapUpError as error:
            tally.failures.append(SweepFailure(agent_id, error))

    def prune_commands(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` command records older than the retention;
        how many were deleted (:meth:`sweep` does this as it goes)."""
        _check_sweep_limit(limit)
        before = utc_instant(self.clock.now()) - self.command_retention
        return self.store.prune_commands(before, limit)

    def _expire_agent(self, agent_id: str, now: datetime) -> int:
        for _ in range(self.attempts):
            expiry = self._due_expiry(agent_id, now)
            if expiry is None:
                return 0
            try:
                self.store.save(expiry.change)
            except VersionConflict:
                continue
            self._notify(expiry.outcome)
            return _expiries(expiry.outcome.events)
        return 0

    def _due_expiry(self, agent_id: str, now: datetime) -> _Expiry | None:
        """The agent's due expiries, decided on its stored state (``None``:
        nothing is due, or the agent is gone)."""
        stored = self.store.load(agent_id)
        if stored is None:
            return None
        decision = expire_due(stored.state, now)
        if not decision.events:
            return None
        change = _change(agent_id, stored.version, decision, now)
        return _Expiry(change, _outcome(agent_id, stored.version + 1, decision))

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

    def transfer(
        self,
        agent_id: str,
        chat_id: str,
        *,
        to_agent_id: str | None = None,
        to_queue_id: str | None = None,
        queue: QueuePolicy | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Transfer the chat: this agent's leg ends and wrap-up starts for it.

        To a queue, the next leg waits for a router's assign with the
        ``next_leg`` of the ``chat_transferred`` event. To an agent, that
        agent holds the next leg at once (under ``queue``, or the chat's own
        queue policy), if available with room; otherwise the transfer is
        refused and nothing changes. Both agents are saved in one
        transaction; the outcome is the first agent's, with both agents'
        events.
        """
        command = TransferChat(agent_id, chat_id, to_agent_id, to_queue_id)
        if to_agent_id is None:
            return self.execute(command, command_id=command_id)
        check_command(command)
        if queue is not None and not isinstance(queue, QueuePolicy):
            raise invalid_argument("queue", "a QueuePolicy", queue)
        return self._observed(
            command, lambda: self._hand_over(command, queue, command_id)
        )

    def _hand_over(
        self, command: TransferChat, queue: QueuePolicy | None, command_id: str | None
    ) -> Outcome:
        fingerprint = None
        if command_id is not None:
            check_identifier(command_id, "command_id")
            fingerprint = fingerprint_of(command)
        for _ in range(self.attempts):
            try:
                return self._hand_over_once(command, queue, command_id, fingerprint)
            except (VersionConflict, CommandIdReused):
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
            except (CommandRefused, ChatNotHeld, InvalidInput, UnknownAgent):
                replay = self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                raise
        raise VersionConflict(command.agent_id, 0, self.attempts)

    def _hand_over_once(
        self,
        command: TransferChat,
        queue: QueuePolicy | None,
        command_id: str | None,
        fingerprint: str | None,
    ) -> Outcome:
        giver, taker = (
            self._stored(command.agent_id),
            self._stored(command.to_agent_id or ""),
        )
        chat = giver.state.chat(command.chat_id)
        now = self.clock.now()
        given = decide(giver.state, command, now)
        if chat is None:  # decide refused already, unless a sweep just ended it
            raise ChatNotHeld(command.name, command.agent_id, command.chat_id)
        assign = AssignChat(
            taker.state.agent_id,
            chat.chat_id,
            chat.customer_id,
            queue or chat.queue,
            chat.leg + 1,
        )
        taken = decide(taker.state, assign, now)
        events = given.events + taken.events
        outcome = Outcome(
            giver.state.agent_id, giver.version + 1, events, given.history
        )
        record = None
        if command_id is not None and fingerprint is not None:
            record = CommandRecord(
                command_id, command.agent_id, fingerprint, outcome, now
            )
        self.store.save_all(
            [
                _change(giver.state.agent_id, giver.version, given, now, record),
                _change(taker.state.agent_id, taker.version, taken, now),
            ]
        )
        self._notify(outcome)
        return outcome

    def _stored(self, agent_id: str) -> StoredAgent:
        stored = self.store.load(agent_id)
        if stored is None:
            raise UnknownAgent(agent_id)
        return stored

    def park(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """Set an active chat aside; it stays held."""
        return self.execute(ParkChat(agent_id, chat_id), command_id=command_id)

    def activate(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """Take a parked chat up again."""
        return self.execute(ActivateChat(agent_id, chat_id), command_id=command_id)

    def pause(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """Stop the wrap-up countdown; the time left is kept."""
        return self.execute(PauseWrapUp(agent_id, chat_id), command_id=command_id)

    def resume(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """Run the countdown again from where it stopped."""
        return self.execute(ResumeWrapUp(agent_id, chat_id), command_id=command_id)

    def choose_presence(
        self,
        agent_id: str,
        presence: Presence,
        reason: str | None = None,
        *,
        command_id: str | None = None,
    ) -> Outcome:
        """Choose a presence: now if holding no chat, else as the next status."""
        command = ChoosePresence(agent_id, presence, reason)
        return self.execute(command, command_id=command_id)

    def cancel_next_presence(
        self, agent_id: str, *, command_id: str | None = None
    ) -> Outcome:
        """Cancel a pending next status."""
        return self.execute(CancelNextPresence(agent_id), command_id=command_id)

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


def _updated(
    state: AgentState,
    checked: AgentState,
    capacity: int | _Keep,
    profile: object,
) -> AgentState:
    """``state`` with the settings given (their checked form in ``checked``)."""
    if capacity is not KEEP:
        # Fewer finished chats are remembered at a lower capacity: the newest.
        limit = finished_limit(checked.capacity)
        state = attrs.evolve(
            state, capacity=checked.capacity, finished=state.finished[-limit:]
        )
    if profile is not KEEP:
        state = attrs.evolve(
            state, classification_profile=checked.classification_profile
        )
    return state


def _holds_chats(agent_id: str, chat_id: str, count: int) -> CommandRefused:
    return CommandRefused(
        ErrorCode.AGENT_HOLDS_CHATS,
        "retire_agent",
        agent_id,
        chat_id,
        f"the agent holds {count} chat(s): retire it once they have ended",
    )


def _check_sweep_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise _bad_limit(limit)
    if not 1 <= limit <= MAX_SWEEP_LIMIT:
        raise _bad_limit(limit)


def _bad_limit(limit: object) -> InvalidInput:
    return InvalidInput(
        ErrorCode.INVALID_LIMIT,
        f"a sweep's limit must be a whole number from 1 to {MAX_SWEEP_LIMIT}, "
        f"not {shown(limit)}",
        field="limit",
    )


def _expiries(events: Iterable[Event]) -> int:
    return sum(isinstance(event, WrapUpCompleted) for event in events)


def _change(
    agent_id: str,
    version: int,
    decision: Decision,
    now: datetime,
    record: CommandRecord | None = None,
) -> Change:
    """The change that saves ``decision`` over the agent's ``version``,
    with its history, its events for the feed, and the command's record."""
    return Change(
        agent_id,
        version,
        decision.state,
        decision.history,
        record,
        decision.events,
        now,
    )


def _outcome(agent_id: str, version: int, decision: Decision) -> Outcome:
    return Outcome(agent_id, version, decision.events, decision.history)
