"""One method per command, shared by both faces of the service.

``T`` is what running a command gives: an :class:`Outcome` on
:class:`~webchat_wrapup.service.WrapUpService`, a coroutine of one on
:class:`~webchat_wrapup.aio.AsyncWrapUpService`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

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
)
from ._core._history import EndedBy
from ._core._machine import Presence
from ._core._policy import QueuePolicy
from .observers import Observer
from .ports import Clock

if TYPE_CHECKING:
    from ._operations import Operations, Subscriber

T = TypeVar("T")


class CommandShorthands(Generic[T]):
    """Each command by name, run as :meth:`execute` runs it."""

    def execute(self, command: Command, *, command_id: str | None = None) -> T:
        """Decide and save ``command``; a retried ``command_id`` is replayed."""
        raise NotImplementedError

    def _transfer(
        self, command: TransferChat, queue: QueuePolicy | None, command_id: str | None
    ) -> T:
        raise NotImplementedError

    def assign(
        self,
        agent_id: str,
        chat_id: str,
        customer_id: str,
        queue: QueuePolicy,
        *,
        command_id: str | None = None,
    ) -> T:
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
    ) -> T:
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
    ) -> T:
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
    ) -> T:
        """Flag the chat as abusive."""
        command = FlagAbusive(agent_id, chat_id, reason)
        return self.execute(command, command_id=command_id)

    def extend(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> T:
        """Use one extension."""
        return self.execute(ExtendWrapUp(agent_id, chat_id), command_id=command_id)

    def complete(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> T:
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
    ) -> T:
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
        return self._transfer(command, queue, command_id)

    def park(self, agent_id: str, chat_id: str, *, command_id: str | None = None) -> T:
        """Set an active chat aside; it stays held."""
        return self.execute(ParkChat(agent_id, chat_id), command_id=command_id)

    def activate(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> T:
        """Take a parked chat up again."""
        return self.execute(ActivateChat(agent_id, chat_id), command_id=command_id)

    def pause(self, agent_id: str, chat_id: str, *, command_id: str | None = None) -> T:
        """Stop the wrap-up countdown; the time left is kept."""
        return self.execute(PauseWrapUp(agent_id, chat_id), command_id=command_id)

    def resume(
        self, agent_id: str, chat_id: str, *, command_id: str | None = None
    ) -> T:
        """Run the countdown again from where it stopped."""
        return self.execute(ResumeWrapUp(agent_id, chat_id), command_id=command_id)

    def choose_presence(
        self,
        agent_id: str,
        presence: Presence,
        reason: str | None = None,
        *,
        command_id: str | None = None,
    ) -> T:
        """Choose a presence: now if holding no chat, else as the next status."""
        command = ChoosePresence(agent_id, presence, reason)
        return self.execute(command, command_id=command_id)

    def cancel_next_presence(
        self, agent_id: str, *, command_id: str | None = None
    ) -> T:
        """Cancel a pending next status."""
        return self.execute(CancelNextPresence(agent_id), command_id=command_id)

    def expire(
        self,
        agent_id: str,
        chat_id: str,
        deadline: datetime,
        *,
        command_id: str | None = None,
    ) -> T:
        """Make one expiry permanent (does nothing if it is not due)."""
        command = ExpireWrapUp(agent_id, chat_id, deadline)
        return self.execute(command, command_id=command_id)


class ServiceFace(CommandShorthands[T]):
    """What both faces of the service share besides the commands: their
    settings, read back, and subscriptions. Settings are given to the
    constructor and fixed from then on."""

    _work: Operations

    @property
    def clock(self) -> Clock:
        """The clock commands are decided at."""
        return self._work.clock

    @property
    def observer(self) -> Observer | None:
        """What hears every command and sweep, if anything."""
        return self._work.observer

    @property
    def attempts(self) -> int:
        """How often a command is decided again after a version conflict."""
        return self._work.settings.attempts

    @property
    def lease(self) -> timedelta:
        """How long a sweeper's claim on a due wrap-up lasts."""
        return self._work.settings.lease

    @property
    def command_retention(self) -> timedelta:
        """How long command records live before sweeps prune them."""
        return self._work.settings.command_retention

    @property
    def event_retention(self) -> timedelta:
        """How long the event feed keeps each event."""
        return self._work.settings.event_retention

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Hear every event after it is committed; returns an unsubscribe."""
        subscribers = self._work.subscribers
        subscribers.append(subscriber)
        return lambda: subscribers.remove(subscriber)
