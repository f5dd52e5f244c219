"""What a planner reads off a simulated day, and how agent time is measured.

Agent time is split by *presence*: time on a break is not capacity, so
occupancy and time in wrap-up are shares of the time agents were *present*
(presence Available, whatever their status), and time on a break is a
share of all agent time.
"""

from __future__ import annotations

import attrs

from .._core._machine import Status


@attrs.define
class AgentTime:
    """One simulated agent's time, added up as its status and presence change.

    A break starts only when the agent holds no chat, and no chat is given
    to an agent on a break, so time on a break and busy time never overlap.
    """

    status: Status = Status.AVAILABLE
    status_since: float = 0.0
    busy_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    breaks: list[tuple[float, float | None]] = attrs.field(factory=list)
    """Each break's start and end (``None`` while it lasts)."""

    def status_changed(self, status: Status, at: float) -> None:
        """Add the time spent in the old status; the new one starts at ``at``."""
        spent = at - self.status_since
        if self.status is not Status.AVAILABLE:
            self.busy_seconds += spent
        if self.status is Status.WRAP_UP:
            self.wrap_up_seconds += spent
        self.status, self.status_since = status, at

    def break_started(self, at: float) -> None:
        """A break began at ``at``."""
        self.breaks.append((at, None))

    def break_ended(self, at: float) -> None:
        """The break under way ended at ``at``."""
        if self.breaks and self.breaks[-1][1] is None:
            self.breaks[-1] = (self.breaks[-1][0], at)

    def break_seconds(self, until: float) -> float:
        """Time on a break up to ``until`` (a break that runs past it is cut)."""
        return sum(
            max(0.0, min(until if end is None else end, until) - start)
            for start, end in self.breaks
        )


@attrs.frozen
class Results:
    """What a planner reads off a simulated day.

    ``occupancy`` and ``wrap_up_share`` are shares of the agents' time in
    presence Available; ``break_share`` is a share of all agent time.
    ``pauses`` counts every pause of a wrap-up, ``paused_seconds`` adds up
    their lengths. ``legs`` counts every leg an agent took: each chat
    answered, and each next leg after a transfer; ``transfers`` counts the
    chats transferred, ``transfers_queued`` those of them whose next leg
    went back to the queue because no agent had room.
    """

    label: str
    offered: int
    answered: int
    abandoned: int
    service_level: float
    average_speed_of_answer: float
    abandonment: float
    occupancy: float
    wrap_up_share: float
    extensions: int
    expired: int
    history_entries: int
    pauses: int = 0
    paused_seconds: float = 0.0
    breaks: int = 0
    break_share: float = 0.0
    legs: int = 0
    transfers: int = 0
    transfers_queued: int = 0
    interrupted: bool = False

    def rows(self) -> list[tuple[str, str]]:
        """The results as (name, formatted value) pairs, in print order."""
        return [
            ("customers offered", f"{self.offered}"),
            ("answered", f"{self.answered}"),
            ("abandoned", f"{self.abandoned} ({self.abandonment:.1%})"),
            ("service level", f"{self.service_level:.1%}"),
            ("average speed of answer", f"{self.average_speed_of_answer:.1f} s"),
            ("agent occupancy", f"{self.occupancy:.1%}"),
            ("agent time in wrap-up", f"{self.wrap_up_share:.1%}"),
            ("pauses per chat", f"{self.pauses_per_chat:.2f}"),
            ("mean time paused", f"{self.mean_pause_seconds:.1f} s"),
            ("extensions used", f"{self.extensions}"),
            ("wrap-ups that expired", f"{self.expired}"),
            ("presence Available", f"{1 - self.break_share:.1%}"),
            ("presence Break", f"{self.break_share:.1%}"),
            ("breaks taken", f"{self.breaks}"),
            ("chats transferred", f"{self.transfers} ({self.transfer_share:.1%})"),
            ("transfers back to the queue", f"{self.transfers_queued}"),
            ("legs handled", f"{self.legs}"),
            ("contact-history entries", f"{self.history_entries}"),
        ]

    @property
    def pauses_per_chat(self) -> float:
        """Pauses of wrap-up per chat answered."""
        return self.pauses / self.answered if self.answered else 0.0

    @property
    def mean_pause_seconds(self) -> float:
        """How long a pause lasted, on average."""
        return self.paused_seconds / self.pauses if self.pauses else 0.0

    @property
    def transfer_share(self) -> float:
        """Chats transferred, as a share of the chats answered."""
        return self.transfers / self.answered if self.answered else 0.0
