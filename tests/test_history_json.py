"""Contact-history entries written and read by hand, as JSON documents and
as the stores' rows: the same values, the same refusals, as the reflective
codec (``_core/_json.py``) that defines the document form."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from entry_strategies import damaged_values, history_entries
from webchat_wrapup import (
    AbuseFlag,
    Classification,
    ContactHistoryEntry,
    EndedBy,
    ErrorCode,
    StoreError,
    WrapUpEnding,
    WrapUpError,
)
from webchat_wrapup._core._history import check_entry
from webchat_wrapup._core._json import checked, document_from_dict, document_to_dict
from webchat_wrapup.stores import _entries
from webchat_wrapup.stores._entries import (
    ROW_FIELDS,
    entry_from_json,
    entry_of_row,
    entry_row,
    entry_to_json,
    entry_to_text,
    read_row,
)
from webchat_wrapup.stores._rows import decode_rows
from webchat_wrapup.tools._tally import count
from webchat_wrapup.tools.runs import run_of


def reflective(data: object) -> ContactHistoryEntry:
    """What ``from_dict`` was before it was written by hand."""
    return checked(check_entry, document_from_dict(ContactHistoryEntry, data))


def outcome(call: Any) -> tuple[Any, ...]:
    """What a decoder does: its value, or its typed error in full."""
    try:
        return ("value", call())
    except WrapUpError as error:
        return ("error", type(error), error.code, error.message, error.details)


def through_json(data: object) -> Any:
    return json.loads(json.dumps(data))


@given(history_entries())
def test_to_dict_writes_what_the_reflective_codec_writes(
    entry: ContactHistoryEntry,
) -> None:
    data = entry.to_dict()
    assert data == document_to_dict(entry)
    assert list(data) == list(document_to_dict(entry))  # the same order too
    assert json.dumps(data) == json.dumps(document_to_dict(entry))


class Text(str):
    """Text that is not exactly ``str``."""


@pytest.mark.parametrize(
    "changes",
    [
        {"customer_id": Text("cust-1")},
        {"extensions_used": True},
        {"paused_seconds": 3},
        {"classification": Classification(Text("Refund"))},
        {"transferred_to_queue": 7},
        {"ending": "expired"},
    ],
    ids=repr,
)
def test_to_dict_of_an_entry_of_unusual_types_is_the_reflective_codecs(
    changes: dict[str, Any],
) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    entry = ContactHistoryEntry(
        "cust-1", "chat-1", "agent-1", "sales", None, None, start, start,
        EndedBy.AGENT, start, start, WrapUpEnding.EXPIRED, 0,
        AbuseFlag("agent-1", start),
    )  # fmt: skip
    unusual = attrs.evolve(entry, **changes)

    def written(to_dict: Any) -> str:
        try:
            return json.dumps(to_dict(unusual))
        except TypeError as error:  # what the reflective codec cannot write
            return repr(error)

    assert written(ContactHistoryEntry.to_dict) == written(document_to_dict)


@given(history_entries())
def test_from_dict_reads_what_the_reflective_codec_reads(
    entry: ContactHistoryEntry,
) -> None:
    data = through_json(entry.to_dict())
    assert ContactHistoryEntry.from_dict(data) == reflective(data) == entry


def _with(data: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    *parents, last = path
    for key in parents:
        data = data[key]
    data[last] = value


FIELDS = [
    (name,) for name in ("schema_version", *attrs.fields_dict(ContactHistoryEntry))
] + [
    ("classification", "label"),
    ("classification", "code"),
    ("abuse", "flagged_at"),
    ("abuse", "reason"),
]


@given(history_entries(), st.sampled_from(FIELDS), damaged_values, st.data())
def test_a_damaged_document_is_refused_exactly_as_the_reflective_codec_refuses_it(
    entry: ContactHistoryEntry, path: tuple[str, ...], value: object, data: Any
) -> None:
    document = through_json(entry.to_dict())
    how = data.draw(st.sampled_from(["replace", "remove", "add"]))
    if len(path) == 2 and document[path[0]] is None:
        document[path[0]] = {}
    if how == "replace":
        _with(document, path, value)
    elif how == "remove":
        document.pop(path[0], None)
    else:
        document["extra"] = value
    assert outcome(lambda: ContactHistoryEntry.from_dict(document)) == outcome(
        lambda: reflective(document)
    )


EDGES = [
    None, True, False, 0, -1, 2**63, 1.5, -0.0, float("nan"), float("inf"), 1e16,
    "", " x", "x", "expired", "customer", "2026-01-05T09:00:00",
    "2026-01-05T09:00:00+02:00", "1969-12-31T23:59:59Z", [], {}, {"label": "x"},
]  # fmt: skip


def test_every_field_refuses_each_edge_value_as_the_reflective_codec_does() -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    entry = ContactHistoryEntry(
        "cust-1", "chat-1", "agent-1", "sales", Classification("Refund", "refund"),
        "text", start, start, EndedBy.AGENT, start, start + timedelta(seconds=30),
        WrapUpEnding.EXPIRED, 1, AbuseFlag("agent-1", start), 2, 12.5,
    )  # fmt: skip
    for path in FIELDS:
        for value in EDGES:
            document = through_json(entry.to_dict())
            _with(document, path, value)
            assert outcome(lambda d=document: ContactHistoryEntry.from_dict(d)) == (
                outcome(lambda d=document: reflective(d))
            ), (path, value)


def _plain_entry() -> ContactHistoryEntry:
    """An expired wrap-up with no classification, pause or transfer."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    return ContactHistoryEntry(
        "cust-1", "chat-1", "agent-1", "sales", None, None, start, start,
        EndedBy.AGENT, start, start + timedelta(seconds=30), WrapUpEnding.EXPIRED,
        0, None,
    )  # fmt: skip


def test_documents_written_before_pauses_and_transfers_still_read() -> None:
    entry = _plain_entry()
    document = entry.to_dict()
    for key in (
        "pause_count",
        "paused_seconds",
        "leg",
        "transferred_to_agent",
        "transferred_to_queue",
    ):
        del document[key]
    assert ContactHistoryEntry.from_dict(document) == entry


# Rows: the stores' flat form.


@given(history_entries())
def test_an_entry_reads_back_from_its_row(entry: ContactHistoryEntry) -> None:
    text = entry_to_text(entry)
    assert text.startswith("[")
    assert len(json.loads(text)) == len(ROW_FIELDS)
    assert entry_from_json(text) == entry
    assert read_row(text) == entry_row(entry)
    assert len(text) < len(entry_to_json(entry))


@given(history_entries())
def test_an_entry_a_row_cannot_hold_as_it_is_is_kept_as_its_document(
    entry: ContactHistoryEntry,
) -> None:
    elsewhere = timezone(timedelta(hours=2))
    moved = attrs.evolve(
        entry, chat_started_at=entry.chat_started_at.astimezone(elsewhere)
    )
    text = entry_to_text(moved)
    assert text == entry_to_json(moved)
    assert entry_from_json(text) == entry


@given(history_entries(), st.integers(0, len(ROW_FIELDS) - 1), damaged_values)
def test_a_damaged_row_is_refused_or_reads_back_as_written(
    entry: ContactHistoryEntry, index: int, value: object
) -> None:
    row = entry_row(entry)
    row[index] = value
    text = json.dumps(row)
    result = outcome(lambda: entry_from_json(text, "row 7"))
    if result[0] == "error":
        assert result[1:3] == (StoreError, ErrorCode.STORE_CORRUPT)
        assert result[3].startswith("row 7 is damaged")
    else:  # nothing read differs from what is stored
        assert entry_row(result[1]) == row
        assert result[1] == entry_of_row(json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "[1, 2]",
        "[" * 3000 + "]" * 3000,
        '["a"] x',
        "null",
        "",
        json.dumps([None] * len(ROW_FIELDS)),
    ],
)
def test_text_that_is_not_a_row_or_a_document_is_store_corrupt(text: str) -> None:
    assert read_row(text) is None or text.startswith("[null")
    with pytest.raises(StoreError) as caught:
        entry_from_json(text)
    assert caught.value.code is ErrorCode.STORE_CORRUPT


PARSERS = {"standard library": _entries.scan_row}
try:
    import orjson
except ImportError:  # the ``fast`` extra is not installed: one parser only
    pass
else:
    PARSERS["orjson"] = orjson.loads


def with_each_parser(call: Any) -> dict[str, tuple[Any, ...]]:
    """What ``call`` does with rows parsed by each parser available."""
    done = {}
    for name, parse in PARSERS.items():
        with mock.patch.object(_entries, "_load_row", parse):
            done[name] = outcome(call)
    return done


def counted(text: str) -> tuple[Any, ...]:
    """What a report makes of a stored text: its counts, a damaged row
    named, or a fall back to reading every entry checked."""

    def damaged(table: str, key: object, reason: str) -> StoreError:
        return StoreError(ErrorCode.STORE_CORRUPT, f"{table} {key}: {reason}")

    try:
        tally = count(decode_rows([(text, 7)], damaged), 3_600_000_000, run_of)
        tally.check()
    except StoreError as error:
        return ("damaged", error.message)
    except Exception:
        return ("read every entry checked",)
    return ("counted", tally.chats, tally.trends, tally.pauses)


@given(history_entries(), st.integers(0, len(ROW_FIELDS) - 1), damaged_values)
def test_rows_read_the_same_whichever_parser_reads_them(
    entry: ContactHistoryEntry, index: int, value: object
) -> None:
    row = entry_row(entry)
    intact = json.dumps(row)
    row[index] = value
    for text in (intact, json.dumps(row), f" {intact}", intact[:-1]):
        read = with_each_parser(lambda t=text: entry_from_json(t))
        assert len(set(map(repr, read.values()))) == 1, read
        reports = with_each_parser(lambda t=text: counted(t))
        assert len(set(map(repr, reports.values()))) == 1, reports


@pytest.mark.parametrize("wide", [2**63, -(2**63) - 1, 2**64, 2**70])
@pytest.mark.parametrize("index", [8, 14, 19, 20, 21, 0])
def test_numbers_wider_than_64_bits_are_damage_whichever_parser_reads_them(
    wide: int, index: int
) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    entry = ContactHistoryEntry(
        "c", "chat", "a", "q", None, None, start, start, EndedBy.AGENT, start,
        start, WrapUpEnding.EXPIRED, 0, None,
    )  # fmt: skip
    row = entry_row(entry)
    row[index] = wide
    read = with_each_parser(lambda: entry_from_json(json.dumps(row), "row 7"))
    assert {result[2] for result in read.values()} == {ErrorCode.STORE_CORRUPT}
    assert len(set(map(repr, read.values()))) == 1, read
    reports = with_each_parser(lambda: counted(json.dumps(row)))
    assert len(set(map(repr, reports.values()))) == 1, reports


@pytest.mark.parametrize(
    "value", [[-(2**63) - 1], {"a": [2**70]}, [[[1.5]]], [2**64, "x"]]
)
def test_a_number_nested_in_a_row_s_value_reads_the_same_whichever_parser_reads_it(
    value: object,
) -> None:
    # orjson reads a whole number wider than 64 bits as a fraction, the
    # standard library as it is: nested in a value, as at its top level,
    # both are refused alike.
    row = entry_row(_plain_entry())
    row[0] = value
    read = with_each_parser(lambda: entry_from_json(json.dumps(row)))
    assert len(set(map(repr, read.values()))) == 1, read
    assert "is not a number a row holds" in repr(read["standard library"])
