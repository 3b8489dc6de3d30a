"""Server-rendered SVG: preference score against energy per 1,000 tokens.

Every model is drawn with its rating interval; the Pareto frontier (models no other
beats on both score and energy) is joined by a line. No JavaScript, no third party;
the page shows the same data as a table for screen readers.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT, PAD = 720, 380, 64


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def score_energy_svg(rows: list[dict], *, title: str, x_label: str, y_label: str) -> str:
    points = [r for r in rows if r.get("wh_per_1k_tokens") not in (None, 0)]
    if not points:
        return ""
    xs = [math.log10(r["wh_per_1k_tokens"]) for r in points]
    lows = [r["lower"] for r in points]
    highs = [r["upper"] for r in points]
    x_min, x_max = min(xs), max(xs)
    if x_max - x_min < 1e-9:
        x_min, x_max = x_min - 0.5, x_max + 0.5
    y_min, y_max = min(lows), max(highs)
    if y_max - y_min < 1e-9:
        y_min, y_max = y_min - 10, y_max + 10

    def sx(x: float) -> float:
        return PAD + (x - x_min) / (x_max - x_min) * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return HEIGHT - PAD - (y - y_min) / (y_max - y_min) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" class="chart"><title id="chart-title">{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#4a4a4a"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#4a4a4a"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle" font-size="13">{escape(x_label)}</text>',
        f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" '
        f'transform="rotate(-90 16 {HEIGHT / 2})">{escape(y_label)}</text>',
    ]
    frontier = sorted((p for p in points if p.get("pareto")), key=lambda r: r["wh_per_1k_tokens"])
    if len(frontier) > 1:
        path = " ".join(f"{sx(math.log10(p['wh_per_1k_tokens'])):.1f},{sy(p['rating']):.1f}" for p in frontier)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#0b5d3b" stroke-dasharray="4 3"/>')
    for r, x in zip(points, xs, strict=True):
        cx = sx(x)
        parts.append(
            f'<line x1="{cx:.1f}" y1="{sy(r["lower"]):.1f}" x2="{cx:.1f}" y2="{sy(r["upper"]):.1f}" stroke="#7a7a7a"/>'
        )
        fill = "#0b5d3b" if r.get("pareto") else "#ffffff"
        parts.append(f'<circle cx="{cx:.1f}" cy="{sy(r["rating"]):.1f}" r="5" fill="{fill}" stroke="#0b5d3b"/>')
        anchor = "end" if cx > WIDTH * 0.75 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(
            f'<text x="{cx + dx:.1f}" y="{sy(r["rating"]) - 6:.1f}" font-size="12" text-anchor="{anchor}">'
            f"{escape(r['name'])}</text>"
        )
    for tick in _ticks(y_min, y_max):
        parts.append(f'<text x="{PAD - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:.0f}</text>')
    for decade in range(math.floor(x_min), math.ceil(x_max) + 1):
        if x_min - 1e-9 <= decade <= x_max + 1e-9:
            parts.append(
                f'<text x="{sx(decade):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle" font-size="11">'
                f"{10.0**decade:g}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
