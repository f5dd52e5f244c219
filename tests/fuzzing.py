"""What the fuzz tests share: hostile values, damaged documents, a service fuzzer.

Every fuzz test feeds public inputs values a caller might send by mistake
or on purpose, and holds the library to two promises: only a
:class:`~webchat_wrapup.WrapUpError` escapes, and a refused call leaves the
store exactly as it was. :data:`FIGURES` counts the calls made and the
untyped exceptions met; ``conftest.py`` prints them after a run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from webchat_wrapup import (
    ClassificationOption,
    ClassificationPolicy,
    DropdownClassification,
    EndedBy,
    Presence,
    QueuePolicy,
    WrapUpEnding,
    WrapUpError,
    WrapUpPolicy,
    WrapUpService,
    effective_state,
)
from webchat_wrapup.ports import Store
from webchat_wrapup.testing.strategies import commands

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
AGENTS = ("agent-1", "agent-2")
CHATS = ("chat-1", "chat-2")
CUSTOMERS = ("cust-1", "cust-2")
COMMAND_IDS = ("cmd-1", "cmd-2")
CODES = ("refund", "other", "old")


class Figures:
    """How many public calls the fuzz tests made (service calls among them),
    and how many untyped exceptions escaped."""

    def __init__(self) -> None:
        self.calls = 0
        self.service_calls = 0
        self.untyped = 0


FIGURES = Figures()


def refuses_only_typed(call: Callable[[], Any], what: str) -> tuple[bool, Any]:
    """Make ``call``: (True, result), or (False, error) for a typed refusal.

    Anything else is counted and fails the test, naming ``what``.
    """
    FIGURES.calls += 1
    try:
        return True, call()
    except WrapUpError as error:
        return False, error
    except Exception as error:
        FIGURES.untyped += 1
        raise AssertionError(
            f"{what} raised an untyped {type(error).__name__}: {str(error)[:300]}"
        ) from error


# Hostile values.

# Beyond 4300 digits an int has no repr, and Hypothesis could not report it:
# the unit tests send those.
HUGE_NUMBERS = st.sampled_from([2**63, -(2**63) - 1, 10**400, -(10**400)])
NUMBERS = st.integers() | HUGE_NUMBERS | st.floats() | st.booleans()
NASTY_TEXTS = st.sampled_from(
    [
        "",
        " ",
        " padded ",
        "\ud800",
        "lone \udfff surrogate",
        "nul\x00byte",
        "bell\x07",
        "line\nbreak",
        "tab\there",
        "\u202eright-to-left",
        "e\u0301",
        "x" * 12_000,
        "1.2",
        "99999999999999999999999999.1",
        "agent-1 ",
        "agent",
        "customer",
    ]
)
TEXTS = (
    st.text(max_size=30)
    | NASTY_TEXTS
    | st.text(st.characters(categories=["Cs", "Cc", "Zs", "Mn", "Co"]), max_size=5)
)
_OFFSETS = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
EXTREME_INSTANTS = st.sampled_from(
    [
        datetime.min,
        datetime.max,
        datetime.min.replace(tzinfo=timezone.utc),
        datetime.max.replace(tzinfo=timezone.utc),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
        datetime(1969, 12, 31, 23, 59, tzinfo=timezone.utc),
        datetime(9500, 1, 1, tzinfo=timezone.utc),
    ]
)
INSTANTS = (
    st.datetimes(timezones=st.none() | st.just(timezone.utc) | _OFFSETS)
    | EXTREME_INSTANTS
)
WRONG_TYPES = (
    st.none()
    | NUMBERS
    | st.binary(max_size=4)
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.builds(object)
    | INSTANTS
    | st.sampled_from(list(EndedBy))
    | st.just(QueuePolicy("sales"))
    | st.frozensets(st.text(max_size=3), max_size=2)
)
ANYTHING = TEXTS | WRONG_TYPES


def _itself(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy


def usually(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = ANYTHING
) -> st.SearchStrategy[Any]:
    """``good`` seven times in eight, so calls reach deep states; ``bad``
    otherwise. (``one_of`` would flatten ANYTHING's many choices beside
    ``good``, and pick ``good`` once in twenty-odd.)"""
    return st.sampled_from([good] * 7 + [bad]).flatmap(_itself)


def ids(pool: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Mostly ids from ``pool``; hostile text (surrogates, controls, padding,
    megabytes) as often as values of the wrong type otherwise."""
    hostile = st.sampled_from([TEXTS, NASTY_TEXTS, ANYTHING]).flatmap(_itself)
    return usually(st.sampled_from(pool), hostile)


QUEUES = (
    QueuePolicy("sales", WrapUpPolicy(countdown_seconds=30, max_extensions=1)),
    QueuePolicy("support", WrapUpPolicy(countdown_seconds=None)),
    QueuePolicy("chat-only", WrapUpPolicy(enabled=False)),
    QueuePolicy(
        "billing",
        WrapUpPolicy(countdown_seconds=20, early_exit_allowed=False),
        ClassificationPolicy(
            DropdownClassification(
                (
                    ClassificationOption("refund", "Refund", "Billing"),
                    ClassificationOption("other", "Other"),
                    ClassificationOption("old", "Old", retired=True),
                )
            ),
            required=True,
        ),
    ),
)


# Damaged documents: a valid one with one to three parts replaced or removed.


def deeply_nested(depth: int = 50_000) -> list[Any]:
    """A list nested ``depth`` deep, built without recursion."""
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return nested


JSON_VALUES = st.recursive(
    st.none() | NUMBERS | TEXTS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _places(data: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) inside ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield data, key
            yield from _places(value)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield data, index
            yield from _places(value)


@st.composite
def damaged(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with up to three of its parts replaced by hostile values."""
    data = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        places = list(_places(data))
        if not places:
            return draw(JSON_VALUES)
        container, key = draw(st.sampled_from(places))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(JSON_VALUES)
    return data


# The service fuzzer: every method, every store.

PICKS = usually(st.integers(0, 7)).map(lambda n: n if isinstance(n, int) else None)
"""Which assigned chat a command names; ``None`` (one time in eight) draws ids."""


class FuzzClock:
    """A clock port that may answer anything once, as a broken adapter could."""

    def __init__(self, start: datetime) -> None:
        self.instant = start
        self.wrong: list[Any] = []

    def now(self) -> Any:
        return self.wrong.pop() if self.wrong else self.instant


class ServiceFuzz(RuleBasedStateMachine):
    """Calls every service method with hostile arguments on one store.

    Subclass it with :meth:`make_store`. Good values are drawn often enough
    that agents reach wrap-up, expiry and history; after each refused call
    the store must read exactly as before.
    """

    def make_store(self) -> Store:
        raise NotImplementedError("override make_store")

    def close_store(self, store: Store) -> None:
        store.close()

    def make_service(self, store: Store, clock: FuzzClock) -> Any:
        """The face under test (the synchronous service unless overridden)."""
        return WrapUpService(store, clock)

    def run(self, call: Callable[[], Any]) -> Any:
        """What calling the face gives (an async face's calls are awaited)."""
        return call()

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.clock = FuzzClock(T0)
        self.service = self.make_service(self.store, self.clock)
        self.cursors: list[str] = []
        self.assigned: list[tuple[str, str]] = []

    def teardown(self) -> None:
        self.close_store(self.store)

    @initialize(capacity=st.integers(1, 2), profile=st.none() | st.just(["refund"]))
    def agents_start_the_day(self, capacity: int, profile: list[str] | None) -> None:
        for agent_id in AGENTS:
            self.run(self._adding(agent_id, capacity, profile))

    def _adding(
        self, agent_id: str, capacity: int, profile: list[str] | None
    ) -> Callable[[], Any]:
        service = self.service
        return lambda: service.add_agent(
            agent_id, capacity=capacity, classification_profile=profile
        )

    def snapshot(self) -> tuple[Any, ...]:
        agents = [self.store.load(agent_id) for agent_id in AGENTS]
        records = [self.store.find_command(command_id) for command_id in COMMAND_IDS]
        pages = [
            self.store.history(customer_id, limit=1000) for customer_id in CUSTOMERS
        ]
        return agents, records, pages

    def as_if_swept(self) -> tuple[Any, ...]:
        """What a refused erasure or retirement must leave as it was: each
        makes its agents' due expiries permanent first, as a sweep would,
        and is documented to; so the agents as they are in effect (due
        expiries applied), the records and erasures, not the stored
        versions. The history is compared by :func:`_only_expiries_added`."""
        agents = []
        for agent_id in AGENTS:
            stored = self.store.load(agent_id)
            now = self.clock.instant
            agents.append(
                None if stored is None else effective_state(stored.state, now)
            )
        records = [self.store.find_command(command_id) for command_id in COMMAND_IDS]
        pages = [
            self.store.history(customer_id, limit=1000) for customer_id in CUSTOMERS
        ]
        return agents, records, self.store.erasures(), pages

    def call(
        self, method: str, *args: Any, expires_first: bool = False, **kwargs: Any
    ) -> Any:
        """Call the service's ``method``; a refusal must change nothing (but
        the due expiries a method ``expires_first``, see :meth:`as_if_swept`)."""
        FIGURES.service_calls += 1
        look = self.as_if_swept if expires_first else self.snapshot
        before = look()
        bound = getattr(self.service, method)
        done, result = refuses_only_typed(
            lambda: self.run(lambda: bound(*args, **kwargs)), method
        )
        if not done:
            after = look()
            if expires_first:
                assert after[:-1] == before[:-1], (
                    f"a refused {method} changed the store"
                )
                _only_expiries_added(before[-1], after[-1], method)
            else:
                assert after == before, f"a refused {method} changed the store"
            return None
        return result

    @rule(
        agent_id=ids(AGENTS),
        capacity=usually(st.integers(1, 2)),
        profile=usually(st.none() | st.lists(st.sampled_from(CODES), max_size=2))
        | st.lists(TEXTS, max_size=2),
        exist_ok=st.booleans(),
    )
    def add_agent(
        self, agent_id: Any, capacity: Any, profile: Any, exist_ok: bool
    ) -> None:
        self.call(
            "add_agent",
            agent_id,
            capacity=capacity,
            classification_profile=profile,
            exist_ok=exist_ok,
        )

    @rule(
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        customer_id=ids(CUSTOMERS),
        queue=usually(st.sampled_from(QUEUES)),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def assign(
        self, agent_id: Any, chat_id: Any, customer_id: Any, queue: Any, command_id: Any
    ) -> None:
        done = self.call(
            "assign", agent_id, chat_id, customer_id, queue, command_id=command_id
        )
        if done is not None:
            self.assigned.append((agent_id, chat_id))

    def held(self, pick: int | None, agent_id: Any, chat_id: Any) -> tuple[Any, Any]:
        """Mostly an (agent, chat) pair once assigned, so commands reach a
        chat's whole life; the drawn ids otherwise."""
        if pick is None or not self.assigned:
            return agent_id, chat_id
        return self.assigned[pick % len(self.assigned)]

    @rule(
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        ended_by=usually(st.sampled_from(list(EndedBy))),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def end_chat(
        self, pick: Any, agent_id: Any, chat_id: Any, ended_by: Any, command_id: Any
    ) -> None:
        agent_id, chat_id = self.held(pick, agent_id, chat_id)
        self.call("end_chat", agent_id, chat_id, ended_by, command_id=command_id)

    @rule(
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        code=st.none() | usually(st.sampled_from(CODES)),
        text=st.none() | usually(st.just("Refund asked")),
        additional_text=st.none() | usually(st.just("Called back\nlater")),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def classify(self, **arguments: Any) -> None:
        agent_id, chat_id = self.held(
            arguments.pop("pick"), arguments.pop("agent_id"), arguments.pop("chat_id")
        )
        self.call("classify", agent_id, chat_id, **arguments)

    @rule(
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        reason=st.none() | usually(st.just("Threats")),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def flag_abusive(
        self, pick: Any, agent_id: Any, chat_id: Any, reason: Any, command_id: Any
    ) -> None:
        agent_id, chat_id = self.held(pick, agent_id, chat_id)
        self.call("flag_abusive", agent_id, chat_id, reason, command_id=command_id)

    @rule(
        method=st.sampled_from(["extend", "complete"]),
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def extend_or_complete(
        self, method: str, pick: Any, agent_id: Any, chat_id: Any, command_id: Any
    ) -> None:
        agent_id, chat_id = self.held(pick, agent_id, chat_id)
        self.call(method, agent_id, chat_id, command_id=command_id)

    @rule(
        method=st.sampled_from(["park", "activate", "pause", "resume"]),
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def park_activate_pause_or_resume(
        self, method: str, pick: Any, agent_id: Any, chat_id: Any, command_id: Any
    ) -> None:
        agent_id, chat_id = self.held(pick, agent_id, chat_id)
        self.call(method, agent_id, chat_id, command_id=command_id)

    @rule(
        agent_id=ids(AGENTS),
        presence=usually(st.sampled_from(list(Presence))) | TEXTS,
        reason=st.none() | usually(st.sampled_from(["Lunch", "Training"])) | TEXTS,
        cancel=st.booleans(),
    )
    def choose_or_cancel_presence(
        self, agent_id: Any, presence: Any, reason: Any, cancel: bool
    ) -> None:
        if cancel:
            self.call("cancel_next_presence", agent_id)
        else:
            self.call("choose_presence", agent_id, presence, reason)

    @rule(
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        to_agent=st.none() | ids(AGENTS),
        to_queue=st.none() | ids(("sales", "support")),
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def transfer(
        self,
        pick: Any,
        agent_id: Any,
        chat_id: Any,
        to_agent: Any,
        to_queue: Any,
        command_id: Any,
    ) -> None:
        agent_id, chat_id = self.held(pick, agent_id, chat_id)
        self.call(
            "transfer",
            agent_id,
            chat_id,
            to_agent_id=to_agent,
            to_queue_id=to_queue,
            command_id=command_id,
        )

    @rule(
        customer_id=ids(CUSTOMERS),
        erased_by=usually(st.just("dpo@example")) | TEXTS,
    )
    def erase_customer(self, customer_id: Any, erased_by: Any) -> None:
        self.call(
            "erase_customer", customer_id, erased_by=erased_by, expires_first=True
        )

    @rule(
        agent_id=ids(AGENTS),
        capacity=usually(st.integers(1, 3)) | st.integers() | TEXTS,
        retire=st.booleans(),
    )
    def update_or_retire_agent(
        self, agent_id: Any, capacity: Any, retire: bool
    ) -> None:
        if retire:
            self.call("retire_agent", agent_id, expires_first=True)
        else:
            self.call("update_agent", agent_id, capacity=capacity)

    @rule(
        pick=PICKS,
        agent_id=ids(AGENTS),
        chat_id=ids(CHATS),
        deadline=usually(st.just("its deadline")) | INSTANTS,
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def expire(
        self, pick: Any, agent_id: Any, chat_id: Any, deadline: Any, command_id: Any
    ) -> None:
        agent_id, chat_id = self.held(pick, agent_id, chat_id)
        if deadline == "its deadline":
            deadline = self._deadline_of(agent_id, chat_id)
        self.call("expire", agent_id, chat_id, deadline, command_id=command_id)

    def _deadline_of(self, agent_id: Any, chat_id: Any) -> Any:
        stored = self.store.load(agent_id) if agent_id in AGENTS else None
        chat = None if stored is None else stored.state.chat(chat_id)
        return self.clock.instant if chat is None else chat.deadline

    @rule(
        command=commands(agent_id="agent-1", chat_ids=CHATS) | ANYTHING,
        command_id=st.none() | ids(COMMAND_IDS),
    )
    def execute(self, command: Any, command_id: Any) -> None:
        self.call("execute", command, command_id=command_id)

    @rule(agent_id=ids(AGENTS))
    def view(self, agent_id: Any) -> None:
        self.call("view", agent_id)

    @rule(
        customer_id=ids(CUSTOMERS),
        cursor=st.none() | st.just("a cursor handed out") | ANYTHING,
        limit=usually(st.integers(1, 3)) | st.integers(-3, 2000),
    )
    def history(self, customer_id: Any, cursor: Any, limit: Any) -> None:
        if cursor == "a cursor handed out":
            cursor = self.cursors[-1] if self.cursors else None
        page = self.call("history", customer_id, cursor=cursor, limit=limit)
        if page is not None and page.next_cursor is not None:
            self.cursors.append(page.next_cursor)

    @rule(limit=usually(st.integers(1, 5)) | st.integers(-3, 10**6))
    def sweep(self, limit: Any) -> None:
        self.call("sweep", limit)

    @rule(seconds=st.integers(0, 120))
    def time_passes(self, seconds: int) -> None:
        self.clock.instant += timedelta(seconds=seconds)

    @rule(instant=INSTANTS | ANYTHING)
    def the_clock_answers_wrong_once(self, instant: Any) -> None:
        self.clock.wrong.append(instant)


def _only_expiries_added(before: list[Any], after: list[Any], method: str) -> None:
    """Each customer's history after holds all it held before, and nothing
    more than wrap-ups that expired."""
    for page_before, page_after in zip(before, after, strict=True):
        added = list(page_after.entries)
        for entry in page_before.entries:
            assert entry in added, f"a refused {method} removed a history entry"
            added.remove(entry)
        for entry in added:
            assert entry.ending in _EXPIRIES, (
                f"a refused {method} added an entry that is not an expiry"
            )


_EXPIRIES = {WrapUpEnding.EXPIRED, WrapUpEnding.EXPIRED_WITH_DEFAULT}
