"""The docs cannot drift: code examples run, references cover everything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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
from webchat_wrapup._core._errors import ERROR_CLASSES
from webchat_wrapup._core._events import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
TEST_MODULE_PAGES = {DOCS / "how-to" / "own-store.md"}
POSTGRES_PAGES = {DOCS / "deploying.md"}


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


def test_no_page_hides_code_in_an_untested_fence() -> None:
    for page in PAGES:
        assert "```py\n" not in page.read_text(encoding="utf-8"), page.name


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if python_blocks(p) and p not in TEST_MODULE_PAGES],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_python_example_in_the_docs_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if page in POSTGRES_PAGES and "WEBCHAT_WRAPUP_POSTGRES_DSN" not in os.environ:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL examples: no server")
        pytest.skip("WEBCHAT_WRAPUP_POSTGRES_DSN is not set: no PostgreSQL server")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for block in python_blocks(page):
        exec(compile(block, str(page), "exec"), namespace)


@pytest.mark.parametrize(
    "page", sorted(TEST_MODULE_PAGES), ids=lambda p: str(p.relative_to(ROOT))
)
def test_pages_that_are_test_modules_pass_under_pytest(
    page: Path, tmp_path: Path
) -> None:
    module = tmp_path / f"test_{page.stem.replace('-', '_')}.py"
    module.write_text("\n\n".join(python_blocks(page)), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
    assert " skipped" not in result.stdout


def text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_every_error_code_is_documented_with_the_class_that_raises_it() -> None:
    page = text("errors.md")
    for code in ErrorCode:
        cls = ERROR_CLASSES[code]
        assert f"| `{code.value}` | `{cls.__name__}` |" in page


def test_the_error_classes_table_gives_each_class_its_parent_and_status() -> None:
    page = text("errors.md")
    for cls in set(ERROR_CLASSES.values()):
        parent = next(b for b in cls.__mro__[1:] if b.__module__ == "builtins")
        row = next(
            line
            for line in page.splitlines()
            if line.startswith(f"| `{cls.__name__}` |")
        )
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert cells[1] == f"`{parent.__name__}`"
        if isinstance(cls.__dict__.get("http_status"), int):
            assert cells[2] == str(cls.http_status)


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


def test_every_policy_file_key_is_documented() -> None:
    from webchat_wrapup.tools.policy_file import _SETTINGS

    page = text("command-line.md")
    for key in _SETTINGS:
        assert f"`{key}`" in page


def shell_commands(page: Path) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    lines = [
        line.split("#")[0].strip() for block in blocks for line in block.split("\n")
    ]
    return [line for line in lines if line.startswith("webchat-wrapup")]


def test_the_command_lines_in_the_docs_run(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    script = Path(sys.executable).parent / "webchat-wrapup"
    pages = [DOCS / "command-line.md", DOCS / "how-to" / "reports.md"]
    commands = [command for page in pages for command in shell_commands(page)]
    assert len(commands) >= 6
    for command in commands:
        result = subprocess.run(
            command.replace("webchat-wrapup", str(script), 1),
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
