"""The drawing kit behind :mod:`webchat_wrapup.tools.charts`: escaping,
text measuring, axis ticks, colours and the legend.

Text is measured by estimate (no font is at hand): wide East Asian
characters count one em, others six tenths of one, which errs on the wide
side for Latin text so labels rarely touch.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence

FONT_SIZE = 12
"""Pixels; every text but the title uses it."""

PALETTE = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#000000",
    "#7f7f7f",
)
"""Okabe and Ito's colours, told apart by colour-blind readers too (their
yellow left out: it cannot be read on white)."""

DASHES = ("", "6 3", "2 3")
"""Series past the palette's length repeat its colours with these dashes."""

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters that XML (and so SVG) cannot hold, even escaped."""


def text(value: str) -> str:
    """``value`` safe inside an element or a quoted attribute."""
    return html.escape(_NOT_XML.sub("\ufffd", value), quote=True)


def width_of(value: str, size: float = FONT_SIZE) -> float:
    """About how many pixels ``value`` takes at ``size``."""
    ems = sum(
        1.0 if unicodedata.east_asian_width(char) in "WF" else 0.6 for char in value
    )
    return ems * size


def fit(value: str, pixels: float) -> str:
    """``value``, cut short with an ellipsis if it would pass ``pixels``."""
    if width_of(value) <= pixels:
        return value
    room, used = pixels - width_of("\u2026"), 0.0
    for index, char in enumerate(value):
        used += width_of(char)
        if used > room:
            return value[:index] + "\u2026"
    return value  # pragma: no cover - the whole value fitted after all


def number(value: float) -> str:
    """``value`` as a tick or bar label: ``1,250``, ``0.25``, ``3.2e+09``."""
    if value >= 1e9:
        return f"{value:.2g}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}"


def ticks(values: Sequence[float]) -> list[float]:
    """Round axis ticks from zero up to the largest of ``values`` or a little
    past it; whole steps when every value is whole (counts)."""
    most = max(values, default=0.0)
    if most <= 0:
        return [0.0, 1.0]
    raw = most / 4
    if all(value == int(value) for value in values):
        raw = max(raw, 1.0)
    if raw > 0 and math.isfinite(raw):
        power = 10.0 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
        count = math.ceil(most / step)
        if math.isfinite(count * step) and 0 < count <= 8:
            return [i * step for i in range(count + 1)]
    return sorted({most * (i / 4) for i in range(5)})  # past round numbers


def colour(index: int) -> tuple[str, str]:
    """The colour and dash pattern of the ``index``-th series."""
    round_, place = divmod(index, len(PALETTE))
    return PALETTE[place], DASHES[round_ % len(DASHES)]


def dash_of(pattern: str) -> str:
    """The ``stroke-dasharray`` attribute of ``pattern`` (none for a solid line)."""
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def title_and_description(title: str, description: str, width: float) -> str:
    """The ``<title>`` screen readers announce, the ``<desc>`` they may read
    on, and the visible title, cut to ``width``."""
    shown = fit(title, (width - 16) * FONT_SIZE / 15)
    return (
        f"<title>{text(title)}</title><desc>{text(description)}</desc>"
        f'<text x="8" y="20" font-size="15" font-weight="bold">{text(shown)}</text>'
    )


def legend(
    names: Sequence[str], *, top: float, left: float, right: float
) -> tuple[str, float]:
    """The legend as rows of swatches and names from ``top``, as many to a
    row as fit between ``left`` and ``right``: its SVG and its height."""
    parts = ['<g class="legend">']
    x, y = left, top + FONT_SIZE
    for index, name in enumerate(names):
        shown = fit(name, 200)
        span = 24 + width_of(shown) + 16
        if x > left and x + span > right:
            x, y = left, y + 18
        stroke, dash = colour(index)
        parts.append(
            f'<g class="legend-entry"><title>{text(name)}</title>'
            f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 18:.1f}" '
            f'y2="{y - 4:.1f}" stroke="{stroke}" stroke-width="3"{dash_of(dash)}/>'
            f'<text x="{x + 24:.1f}" y="{y:.1f}">{text(shown)}</text></g>'
        )
        x += span
    parts.append("</g>")
    height = y - top + 8 if names else 0.0
    return "".join(parts), height


def nothing_to_show(x: float, y: float, message: str) -> str:
    """A centred note where the marks would have been."""
    return (
        f'<text class="empty" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
        f'fill="#555">{text(message)}</text>'
    )
