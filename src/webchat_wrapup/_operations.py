"""The service's work, written once for both faces.

Load, let the core decide, save, then notify: every operation of
:class:`~webchat_wrapup.service.WrapUpService` and
:class:`~webchat_wrapup.aio.AsyncWrapUpService` is a coroutine of
:class:`Operations` over a :class:`ServiceStore`. The synchronous service
runs it over its store at once (:mod:`webchat_wrapup._immediate`); the
asyncio service awaits it on the event loop, over an
:class:`~webchat_wrapup.ports.AsyncStore`. One implementation, so both have
the same versions and retries, idempotency, refusals and notifications.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from ._core._agent import AgentState
from ._core._commands import AssignChat, Command, TransferChat, check_command
from ._core._decide import Decision, decide, decide_checked, expire_due
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
)
from ._core._events import Event
from ._core._instants import utc_instant
from ._core._policy import QueuePolicy
from ._core._text import check_identifier
from ._core._views import AgentView, view_agent
from ._decisions import change_of, outcome_of
from ._fingerprint import fingerprint_of
from ._settings import KEEP, Keep, Settings, updated_settings
from ._sweeping import SweepWork
from .observers import Observer
from .ports import (
    Change,
    Clock,
    CommandRecord,
    ErasureRecord,
    HistoryPage,
    Outcome,
    RemembersStates,
    StoredAgent,
    SweepResult,
)

Subscriber = Callable[[Event], None]
"""Called once per event, after the change is committed."""


class ServiceStore(Protocol):
    """The store calls the service makes: a part of
    :class:`~webchat_wrapup.ports.AsyncStore`."""

    async def load(self, agent_id: str) -> StoredAgent | None: ...
    async def load_settled(self, agent_id: str) -> StoredAgent | None: ...
    async def save(self, change: Change) -> None: ...
    async def save_all(self, changes: Sequence[Change]) -> None: ...
    async def find_command(self, command_id: str) -> CommandRecord | None: ...
    async def prune_commands(self, before: datetime, limit: int) -> int: ...
    async def prune_events(self, before: datetime, limit: int) -> int: ...
    async def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage: ...
    async def erase_customer(
        self,
        customer_id: str,
        *,
        erasure_id: str,
        erased_at: datetime,
        erased_by: str,
    ) -> ErasureRecord: ...
    async def erasures(self) -> tuple[ErasureRecord, ...]: ...
    async def retire(self, agent_id: str, expected_version: int) -> None: ...
    async def claim_due(
        self, at: datetime, limit: int, lease: timedelta
    ) -> list[str]: ...


Remembered = Callable[[str], "StoredAgent | None"]


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
        if self.score < self.MOST:  # mostly at MOST: nothing to compute
            self.score = min(self.score + 1, self.MOST)

    def stale(self) -> None:
        self.score -= self.STALE


class Operations:
    """Every operation of the service, as coroutines over ``store``.

    ``remembering`` is the store the face was given: its
    ``load_remembered`` is used if it offers one
    (:class:`~webchat_wrapup.ports.RemembersStates`).
    """

    def __init__(
        self,
        store: ServiceStore,
        clock: Clock,
        settings: Settings,
        observer: Observer | None,
        remembering: object,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.observer = observer
        self.subscribers: list[Subscriber] = []
        self._remembered: Remembered | None = (
            remembering.load_remembered
            if isinstance(remembering, RemembersStates)
            else None
        )
        self._trust = _Trust()
        self._sweeps = SweepWork(self)

    # Agents.

    async def add_agent(
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
            await self.store.save(Change(agent_id, 0, state))
        except VersionConflict as error:
            stored = await self.store.load(agent_id) if exist_ok else None
            if stored is None:
                raise AgentExists(agent_id) from error
            return stored.state
        return state

    async def update_agent(
        self,
        agent_id: str,
        *,
        capacity: int | Keep = KEEP,
        classification_profile: Iterable[str] | Keep | None = KEEP,
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
        for _ in range(self.settings.attempts):
            stored = await self.load_known(agent_id)
            version = stored.version
            state = updated_settings(
                stored.state, checked, capacity, classification_profile
            )
            if state == stored.state:
                return state
            try:
                await self.store.save(Change(agent_id, version, state))
            except VersionConflict:
                continue
            return state
        raise VersionConflict(agent_id, version, self.settings.attempts)

    async def retire_agent(self, agent_id: str) -> None:
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
        for _ in range(self.settings.attempts):
            stored = await self.load_known(agent_id)
            version = stored.version
            now = utc_instant(self.clock.now())
            try:
                if await self._expire_before_retiring(stored, now):
                    continue  # saved: decide on the state just stored
                chats = stored.state.chats
                if chats:
                    raise _holds_chats(agent_id, chats[0].chat_id, len(chats))
                await self.store.retire(agent_id, version)
            except VersionConflict:
                continue
            except NotificationFailed as error:
                unheard = error  # the expiries were saved: go on retiring
                continue
            if unheard is not None:
                raise unheard
            return
        raise VersionConflict(agent_id, version, self.settings.attempts)

    async def load_known(self, agent_id: str) -> StoredAgent:
        """The stored agent; :class:`UnknownAgent` if there is none."""
        stored = await self.store.load(agent_id)
        if stored is None:
            raise UnknownAgent(agent_id)
        return stored

    async def _expire_before_retiring(self, stored: StoredAgent, now: datetime) -> bool:
        """Make the agent's due expiries permanent; True if it saved any."""
        decision = expire_due(stored.state, now)
        if not decision.events:
            return False
        agent_id = stored.state.agent_id
        await self.store.save(change_of(agent_id, stored.version, decision, now))
        self.notify(outcome_of(agent_id, stored.version + 1, decision))
        return True

    # Customers.

    async def erase_customer(
        self, customer_id: str, *, erased_by: str
    ) -> ErasureRecord:
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
        for _ in range(self.settings.attempts - 1):
            try:
                erasure = await self._erase(customer_id, erased_by)
            except CommandRefused as refused:
                if refused.code is not ErrorCode.CUSTOMER_CHAT_HELD:
                    raise
                holder = refused.details["agent_id"]
                now = utc_instant(self.clock.now())
                try:
                    if not await self._sweeps.expire_agent(holder, now):
                        raise  # a chat still under way: not for us to end
                except NotificationFailed as error:
                    unheard = error  # the expiry was saved: go on erasing
                continue
            if unheard is not None:
                raise unheard
            return erasure
        erasure = await self._erase(customer_id, erased_by)
        if unheard is not None:
            raise unheard
        return erasure

    async def _erase(self, customer_id: str, erased_by: str) -> ErasureRecord:
        return await self.store.erase_customer(
            customer_id,
            erasure_id=str(uuid.uuid4()),
            erased_at=utc_instant(self.clock.now()),
            erased_by=erased_by,
        )

    async def erasures(self) -> tuple[ErasureRecord, ...]:
        """Every erasure made in this store, oldest first."""
        return await self.store.erasures()

    async def view(self, agent_id: str) -> AgentView:
        """What the agent's desk shows now."""
        check_identifier(agent_id, "agent_id")
        stored = await self.load_known(agent_id)
        return view_agent(stored.state, self.clock.now())

    async def history(
        self, customer_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> HistoryPage:
        """A page of the customer's contact history."""
        check_identifier(customer_id, "customer_id")
        return await self.store.history(customer_id, cursor=cursor, limit=limit)

    # Commands.

    def execute(
        self, command: Command, *, command_id: str | None = None
    ) -> Coroutine[Any, Any, Outcome]:
        """Decide and save ``command``; a retried ``command_id`` is replayed.

        Every answer given for one command id agrees with what was stored:
        a refusal is only reported once no save of the agent is under way,
        so a retry racing its first attempt is told what the first did.
        """
        if self.observer is None:
            return self._execute(command, command_id)
        return self._observed(command, self._execute(command, command_id))

    async def _observed(self, command: Command, run: Awaitable[Outcome]) -> Outcome:
        """``run``, reported to the observer with its time and outcome."""
        observer = self.observer
        if observer is None:
            return await run
        started = time.perf_counter()
        try:
            outcome = await run
        except WrapUpError as error:
            seconds = time.perf_counter() - started
            observer.command_finished(command.name, seconds, error.code.value, False)
            raise
        seconds = time.perf_counter() - started
        observer.command_finished(command.name, seconds, None, outcome.replayed)
        return outcome

    async def _execute(self, command: Command, command_id: str | None) -> Outcome:
        check_command(command)  # before any store is asked about it
        fingerprint = None
        if command_id is not None:
            check_identifier(command_id, "command_id")
            fingerprint = fingerprint_of(command)
        if self._remembered is not None:
            outcome = await self._on_remembered_state(command, command_id, fingerprint)
            if outcome is not None:
                self.notify(outcome)
                return outcome
        version = 0
        # Optimistic: the command id is looked up only when the attempt
        # fails, as it must when the command already ran (its id is
        # recorded, so the save is refused, or the command no longer applies).
        for _ in range(self.settings.attempts):
            stored = await self.store.load(command.agent_id)
            if stored is None:
                raise UnknownAgent(command.agent_id)
            version = stored.version
            now = self.clock.now()
            try:
                decision = decide_checked(stored.state, command, now)
                if not decision.events and command_id is None:
                    return Outcome(command.agent_id, version)  # nothing to save
                change, outcome = self._change(
                    stored, command, command_id, fingerprint, decision, now
                )
                await self.store.save(change)
            except (VersionConflict, CommandIdReused):
                replay = await self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                if self.observer is not None:
                    self.observer.conflict_retried(command.name)
                continue
            except (CommandRefused, ChatNotHeld, InvalidInput):
                replay = await self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                if command_id is not None and await self._moved_on(stored):
                    continue  # decided on a state a save was replacing: again
                raise
            self.notify(outcome)
            return outcome
        raise VersionConflict(command.agent_id, version, self.settings.attempts)

    async def _on_remembered_state(
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
            decision = decide_checked(stored.state, command, now)
            if not decision.events and command_id is None:
                return None
            change, outcome = self._change(
                stored, command, command_id, fingerprint, decision, now
            )
            await self.store.save(change)
        except VersionConflict:
            self._trust.stale()
            return None
        except (CommandIdReused, CommandRefused, ChatNotHeld, InvalidInput):
            return None
        self._trust.fresh()
        return outcome

    async def _moved_on(self, stored: StoredAgent) -> bool:
        """True when a save of the agent committed after ``stored`` was read."""
        settled = await self.store.load_settled(stored.state.agent_id)
        return settled is not None and settled.version != stored.version

    async def _replay_if_recorded(
        self, command_id: str | None, fingerprint: str | None
    ) -> Outcome | None:
        if command_id is None or fingerprint is None:
            return None
        record = await self.store.find_command(command_id)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise CommandIdReused(command_id)
        first = record.outcome
        return Outcome(first.agent_id, first.version, first.events, first.history, True)

    def _change(
        self,
        stored: StoredAgent,
        command: Command,
        command_id: str | None,
        fingerprint: str | None,
        decision: Decision,
        now: datetime,
    ) -> tuple[Change, Outcome]:
        """What saving the decision against the stored version writes, with
        the command's record, and what it answers."""
        outcome = outcome_of(command.agent_id, stored.version + 1, decision)
        record = None
        if command_id is not None and fingerprint is not None:
            record = CommandRecord(
                command_id, command.agent_id, fingerprint, outcome, now
            )
        change = change_of(command.agent_id, stored.version, decision, now, record)
        return change, outcome

    def notify(self, outcome: Outcome) -> None:
        """Tell every subscriber each event of ``outcome`` (already saved)."""
        if not self.subscribers:
            return
        failures: list[Exception] = []
        for event in outcome.events:
            for subscriber in list(self.subscribers):
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

    async def transfer(
        self,
        command: TransferChat,
        *,
        queue: QueuePolicy | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Transfer a chat; to an agent, both agents saved in one transaction."""
        if command.to_agent_id is None:
            return await self.execute(command, command_id=command_id)
        check_command(command)
        if queue is not None and not isinstance(queue, QueuePolicy):
            raise invalid_argument("queue", "a QueuePolicy", queue)
        return await self._observed(
            command, self._hand_over(command, queue, command_id)
        )

    async def _hand_over(
        self, command: TransferChat, queue: QueuePolicy | None, command_id: str | None
    ) -> Outcome:
        fingerprint = None
        if command_id is not None:
            check_identifier(command_id, "command_id")
            fingerprint = fingerprint_of(command)
        for _ in range(self.settings.attempts):
            try:
                return await self._hand_over_once(
                    command, queue, command_id, fingerprint
                )
            except (VersionConflict, CommandIdReused):
                replay = await self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
            except (CommandRefused, ChatNotHeld, InvalidInput, UnknownAgent):
                replay = await self._replay_if_recorded(command_id, fingerprint)
                if replay is not None:
                    return replay
                raise
        raise VersionConflict(command.agent_id, 0, self.settings.attempts)

    async def _hand_over_once(
        self,
        command: TransferChat,
        queue: QueuePolicy | None,
        command_id: str | None,
        fingerprint: str | None,
    ) -> Outcome:
        giver = await self.load_known(command.agent_id)
        taker = await self.load_known(command.to_agent_id or "")
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
        await self.store.save_all(
            [
                change_of(giver.state.agent_id, giver.version, given, now, record),
                change_of(taker.state.agent_id, taker.version, taken, now),
            ]
        )
        self.notify(outcome)
        return outcome

    # Sweeps.

    async def sweep(self, limit: int = 100) -> SweepResult:
        """Make up to ``limit`` agents' due expiries permanent.

        Safe to run in several processes at once: claims keep sweepers apart
        and versions make each expiry happen exactly once. An agent that
        cannot be loaded, decided or saved does not hold up the others: the
        sweep goes on and names it in :attr:`SweepResult.failures`; its
        claim is left to run out, and sweeps claim agents never claimed
        before ahead of it.

        The claimed agents' expiries are saved
        :data:`~webchat_wrapup.service.SWEEP_BATCH` agents to a transaction
        (:meth:`Store.save_all`). Should a batch's save fail, none of it is
        written, and its agents are saved again: an agent another server
        saved meanwhile on its own, on fresh state, and the others again
        together; after any other error, each on its own, so only the
        failing agent is named. Command records and events past their
        retention are pruned too (up to ``limit`` of each).
        """
        return await self._sweeps.sweep(limit)

    async def prune_commands(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` command records older than the retention;
        how many were deleted (:meth:`sweep` does this as it goes)."""
        return await self._sweeps.prune_commands(limit)


def _holds_chats(agent_id: str, chat_id: str, count: int) -> CommandRefused:
    return CommandRefused(
        ErrorCode.AGENT_HOLDS_CHATS,
        "retire_agent",
        agent_id,
        chat_id,
        f"the agent holds {count} chat(s): retire it once they have ended",
    )
