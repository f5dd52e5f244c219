"""The docs cannot drift: code examples run, references cover everything."""

from __future__ import annotations

import enum
import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import webchat_wrapup
from webchat_wrapup import (
    AgentState,
    AgentView,
    ChatView,
    ClassificationPolicy,
    ContactHistoryEntry,
    DropdownClassification,
    ErrorCode,
    FreeTextClassification,
    QueuePolicy,
    WrapUpError,
    WrapUpPolicy,
)
from webchat_wrapup._core._errors import ERROR_CLASSES
from webchat_wrapup._core._events import EVENT_TYPES
from webchat_wrapup.tools.policy_file import PolicyFileError, parse_policy_file
from webchat_wrapup.tools.simulation import (
    DEFAULT_ARRIVALS_PER_HOUR,
    SimulationSettings,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

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
    pages = [
        DOCS / "command-line.md",
        DOCS / "how-to" / "reports.md",
        DOCS / "how-to" / "policies.md",
    ]
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


# The reference tables against the classes: every default and every range.


def table_rows(section: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables in ``section``."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    assert rows, "no table found"
    return rows


def sections(page: str) -> dict[str, str]:
    """Each ``## `Name` `` section of ``page``, by name."""
    parts = re.split(r"^## `([^`]+)`\n", text(page), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def first_code(cell: str) -> str | None:
    found = re.match(r"`([^`]*)`", cell)
    return None if found is None else found.group(1)


PUBLIC_NAMES = {name: getattr(webchat_wrapup, name) for name in webchat_wrapup.__all__}


def documented_value(code: str) -> object:
    """A default as the docs write it, as a value (enums by their value)."""
    try:
        return eval(code, {"__builtins__": {}}, PUBLIC_NAMES)
    except (NameError, SyntaxError):
        return code


def same(documented: object, default: object) -> bool:
    if isinstance(default, enum.Enum):
        return documented == default.value
    return documented == default


POLICY_CLASSES: dict[str, tuple[Callable[..., object], Callable[[str], object]]] = {
    "QueuePolicy": (
        lambda **kw: QueuePolicy(**{"queue_id": "q", **kw}),
        lambda name: attrs.fields_dict(QueuePolicy)[name].default,
    ),
    "WrapUpPolicy": (
        WrapUpPolicy,
        lambda name: attrs.fields_dict(WrapUpPolicy)[name].default,
    ),
    "ClassificationPolicy": (
        ClassificationPolicy,
        lambda name: attrs.fields_dict(ClassificationPolicy)[name].default,
    ),
    "DropdownClassification": (
        DropdownClassification,
        lambda name: attrs.fields_dict(DropdownClassification)[name].default,
    ),
    "FreeTextClassification": (
        FreeTextClassification,
        lambda name: attrs.fields_dict(FreeTextClassification)[name].default,
    ),
    "AgentState.new": (
        lambda **kw: AgentState.new("agent-ana", **kw),
        lambda name: inspect.signature(AgentState.new).parameters[name].default,
    ),
}


def test_the_policy_reference_has_a_table_for_every_policy_class() -> None:
    assert set(sections("policies.md")) == set(POLICY_CLASSES)


@pytest.mark.parametrize("name", sorted(POLICY_CLASSES))
def test_the_policy_reference_gives_each_classs_own_defaults(name: str) -> None:
    _, default_of = POLICY_CLASSES[name]
    for setting, _, documented, _ in table_rows(sections("policies.md")[name]):
        setting = setting.strip("`")
        default = default_of(setting)
        if documented == "required":
            assert default in (attrs.NOTHING, inspect.Parameter.empty), setting
            continue
        code = first_code(documented)
        assert code is not None, f"{name}.{setting}: no default in {documented!r}"
        assert same(documented_value(code), default), f"{name}.{setting}"


RANGE = re.compile(r"^(\d[\d,]*) to (\d[\d,]*)")


def test_the_policy_reference_gives_each_classs_own_ranges() -> None:
    checked = set()
    for name, section in sections("policies.md").items():
        make, _ = POLICY_CLASSES[name]
        for setting, _, _, allowed in table_rows(section):
            setting = setting.strip("`")
            if allowed == "true or false":
                make(**{setting: True})
                with pytest.raises(WrapUpError):
                    make(**{setting: "yes"})
                checked.add(setting)
            found = RANGE.match(allowed)
            if found is None:
                continue
            low, high = (int(number.replace(",", "")) for number in found.groups())
            make(**{setting: low})
            make(**{setting: high})
            for outside in (low - 1, high + 1):
                with pytest.raises(WrapUpError):
                    make(**{setting: outside})
            checked.add(setting)
    numeric = {
        "countdown_seconds",
        "extension_seconds",
        "max_extensions",
        "additional_text_max_length",
        "max_length",
        "capacity",
    }
    assert numeric <= checked


def policy_file_rows() -> list[tuple[str, str, str]]:
    """(file key, meaning, default) for each key of the policy-file table."""
    section = text("command-line.md").split("## Policy files")[1].split("\n## ")[0]
    rows = []
    for keys, meaning, defaults in table_rows(section):
        names = re.findall(r"`([^`]+)`", keys)
        codes = re.findall(r"`([^`]+)`", defaults) or [""] * len(names)
        for key, code in zip(names, codes, strict=True):
            rows.append((key, meaning, code))
    return rows


def effective(queue: dict[str, object]) -> tuple[object, object]:
    policies = parse_policy_file({"queues": {"q": queue}})
    return policies.queues["q"], policies.queue_capacity["q"]


def test_a_policy_file_that_states_each_documented_default_changes_nothing() -> None:
    implicit = effective({})
    assert implicit == (QueuePolicy("q"), AgentState.new("agent-ana").capacity)
    stated = 0
    for key, _, code in policy_file_rows():
        if code:
            value = tomllib.loads(f"value = {code}")["value"]
            assert effective({key: value}) == implicit, key
            stated += 1
    assert stated >= 12


def test_the_policy_file_ranges_in_the_docs_are_the_libraries() -> None:
    checked = set()
    for key, meaning, _ in policy_file_rows():
        found = re.search(r"(\d[\d,]*) to (\d[\d,]*)", meaning)
        if found is None:
            continue
        low, high = (int(number.replace(",", "")) for number in found.groups())
        effective({key: low})
        effective({key: high})
        for outside in (low - 1, high + 1):
            with pytest.raises(PolicyFileError):
                effective({key: outside})
        checked.add(key)
    assert checked >= {"countdown_seconds", "max_extensions", "capacity"}


def test_the_simulation_defaults_in_the_docs_are_the_settings_classs() -> None:
    section = text("command-line.md").split("## `simulate`")[1].split("\n## ")[0]
    documented = {row[0].strip("`"): row[-1] for row in table_rows(section)}
    assert documented.pop("[simulation.arrivals]") == f"{DEFAULT_ARRIVALS_PER_HOUR:g}"
    defaults: dict[str, Any] = {
        field.name: field.default
        for field in attrs.fields(SimulationSettings)
        if field.name != "arrivals_per_hour"
    }
    assert set(documented) == set(defaults)
    for name, default in defaults.items():
        shown = f"{default:g}" if isinstance(default, (int, float)) else default
        assert documented[name] == shown, name


# A newcomer's way in.


def markdown_links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)#]+)", page.read_text(encoding="utf-8"))


def test_the_readme_links_the_tutorial_how_tos_guarantees_and_api() -> None:
    links = markdown_links(ROOT / "README.md")
    for page in ("tutorial.md", "guarantees.md", "api.md"):
        assert f"docs/{page}" in links
    how_tos = sorted(f"docs/{p.relative_to(DOCS)}" for p in DOCS.glob("how-to/*.md"))
    assert set(how_tos) <= set(links)
    for link in links:
        if not link.startswith("http"):
            assert (ROOT / link).is_file(), link


@pytest.mark.parametrize("name", ["README.md", "docs/index.md", "docs/tutorial.md"])
def test_the_way_in_installs_from_a_checkout_not_from_pypi(name: str) -> None:
    page = (ROOT / name).read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", page, re.S)
    commands = [line for block in blocks for line in block.splitlines()]
    assert any("pip install -e ." in line for line in commands)
    assert not any("pip install webchat-wrapup" in line for line in commands)
    for extra in ("postgres", "testing", "docs"):
        assert f".[{extra}]" in page


def test_where_things_live_names_every_part_of_the_package() -> None:
    section = text("concepts.md").split("## Where things live")[1].split("\n## ")[0]
    package = ROOT / "src" / "webchat_wrapup"
    parts = [
        f"{path.name}/" if path.is_dir() else path.name
        for path in package.iterdir()
        if not path.name.startswith("__") and path.name != "py.typed"
    ]
    for part in parts:
        assert f"`{part}`" in section or f"`webchat_wrapup/{part}`" in section, part


def test_the_postgres_store_is_in_the_storage_page_and_the_api_reference() -> None:
    assert "`PostgresStore(" in text("storage.md")
    assert "::: webchat_wrapup.stores.postgres.PostgresStore" in text("api.md")
