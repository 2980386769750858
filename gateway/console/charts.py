"""Charts as SVG drawn on the server: no script, nothing from another origin, readable by screen readers.

Each chart has a ``<title>`` and each bar a ``<title>`` with its value, and the same numbers are in a
table next to it for anyone who would rather read them.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

# Decision colours, also named in the legend; chosen to stay apart for the common colour blindnesses.
DECISION_CLASSES = {"allow": "bar-allow", "deny": "bar-deny", "error": "bar-error", "invalid": "bar-invalid"}


def stacked_days(title: str, days: Sequence[str], counts: Mapping[str, Mapping[str, int]]) -> Markup:
    """Vertical bars per day, stacked by decision."""
    width, height, pad = 640, 180, 24
    peak = max((sum(counts.get(d, {}).values()) for d in days), default=0) or 1
    bar = (width - pad) / max(len(days), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 30}" role="img" aria-labelledby="c-days">',
        f'<title id="c-days">{escape(title)}</title>',
    ]
    for i, day in enumerate(days):
        x = pad + i * bar
        y = float(height)
        for decision, cls in DECISION_CLASSES.items():
            n = counts.get(day, {}).get(decision, 0)
            if not n:
                continue
            h = n / peak * (height - 10)
            y -= h
            parts.append(
                f'<rect class="{cls}" x="{x + 2:.1f}" y="{y:.1f}" width="{bar - 4:.1f}" height="{h:.1f}">'
                f"<title>{escape(day)} {escape(decision)}: {n}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 16}" class="axis day">{escape(day[5:])}</text>'
        )
    parts.append(f'<text x="2" y="12" class="axis">{peak}</text></svg>')
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or a number


def horizontal(title: str, values: Sequence[tuple[str, int]], css: str = "bar-plain") -> Markup:
    """Horizontal bars, one per label, longest first."""
    rows = list(values)[:12]
    width, row = 640, 22
    peak = max((n for _, n in rows), default=0) or 1
    height = row * max(len(rows), 1) + 4
    ident = f"c-{zlib.crc32(title.encode()):08x}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{ident}">',
        f'<title id="{ident}">{escape(title)}</title>',
    ]
    for i, (label, n) in enumerate(rows):
        y = i * row + 2
        w = n / peak * (width - 260)
        parts.append(f'<text x="0" y="{y + 15}" class="label">{escape(label[:32])}</text>')
        parts.append(
            f'<rect class="{css}" x="220" y="{y + 3}" width="{w:.1f}" height="{row - 6}">'
            f"<title>{escape(label)}: {n}</title></rect>"
        )
        parts.append(f'<text x="{224 + w:.1f}" y="{y + 15}" class="label">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or a number
