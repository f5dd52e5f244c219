"""Reading the HTML report back in tests: a strict tree from html.parser."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import attrs

VOID = frozenset({"meta", "link", "br", "hr", "img", "input", "source", "wbr"})


@attrs.define
class Element:
    tag: str
    attributes: dict[str, str | None]
    children: list[Element | str] = attrs.Factory(list)

    def walk(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.walk()

    def find_all(self, tag: str, **attributes: str) -> list[Element]:
        """Every element below (and including) this one with ``tag`` and
        ``attributes`` (``class_`` for ``class``; a class matches one word)."""
        return [e for e in self.walk() if e.tag == tag and e.has(**attributes)]

    def has(self, **attributes: str) -> bool:
        for name, wanted in attributes.items():
            name = name.rstrip("_").replace("_", "-")
            value = self.attributes.get(name)
            if name == "class":
                if value is None or wanted not in value.split():
                    return False
            elif value != wanted:
                return False
        return True

    def text(self) -> str:
        """All the text inside, as the page shows it (no ``<title>`` tooltips)."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag not in ("title", "desc"):
                parts.append(child.text())
        return "".join(parts)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def parse(page: str) -> Element:
    """The page as a tree; fails on any end tag that does not close the
    element last opened, and on any element left open."""
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.open == [builder.root], "elements left open"
    return builder.root


def table_cells(table: Element) -> list[list[str]]:
    """The body rows of ``table``, each cell's text (a number's exact value)."""
    rows = []
    for row in table.find_all("tbody")[0].find_all("tr"):
        rows.append(
            [
                cell.attributes.get("data-value") or cell.text()
                for cell in row.find_all("td")
            ]
        )
    return rows
