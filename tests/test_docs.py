"""The docs cannot drift: code examples run, references cover everything."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from webchat_wrapup import (
    AgentView,
    ChatView,
    ClassificationPolicy,
    ContactHistoryEntry,
    ErrorCode,
    FreeTextClassification,
    WrapUpPolicy,
)
from webchat_wrapup._events import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name
)
def test_every_python_example_in_the_docs_runs(page: Path) -> None:
    for block in python_blocks(page):
        exec(compile(block, str(page), "exec"), {})


def text(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_every_error_code_is_documented() -> None:
    page = text("errors.md")
    for code in ErrorCode:
        assert f"| `{code.value}` |" in page


@pytest.mark.parametrize(
    "cls", [WrapUpPolicy, ClassificationPolicy, FreeTextClassification]
)
def test_every_policy_setting_is_documented(cls: type) -> None:
    page = text("policies.md")
    for field in attrs.fields(cls):
        if field.init:
            assert f"| `{field.name}` |" in page


def test_every_event_and_its_fields_are_documented() -> None:
    page = text("events-and-views.md")
    for name, cls in EVENT_TYPES.items():
        section = page.split(f"### `{name}`")[1].split("###")[0]
        for field in attrs.fields(cls):
            assert f"`{field.name}`" in section


@pytest.mark.parametrize("cls", [AgentView, ChatView, ContactHistoryEntry])
def test_every_view_and_entry_field_is_documented(cls: type) -> None:
    page = text("events-and-views.md")
    for field in attrs.fields(cls):
        assert f"`{field.name}`" in page
