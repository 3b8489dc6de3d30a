"""Server-rendered SVG: preference score against energy per 1,000 tokens.

Every model is drawn with its intervals: vertically the 95 % interval of its rating (with
end caps), horizontally the interquartile range of its Wh per 1,000 tokens where known.
The Pareto frontier (models no other beats on both score and energy) is joined by a
line. No JavaScript, no third party; the page shows the same data as a table for screen
readers.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT, PAD = 720, 380, 64
CAP = 4  # half-width of an interval's end caps, in SVG units


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = (high - low) / count
    return [low + i * step for i in range(count + 1)]


def _log_ticks(x_min: float, x_max: float) -> list[float]:
    """Ticks for a log10 axis spanning [x_min, x_max]: the powers of ten, or 1-2-5 steps when
    fewer than two powers of ten fall inside (a narrow range would show one label or none)."""

    def inside(values):
        return [v for v in values if x_min - 1e-9 <= math.log10(v) <= x_max + 1e-9]

    decades = range(math.floor(x_min), math.ceil(x_max) + 1)
    ticks = inside([10.0**d for d in decades])
    if len(ticks) >= 2:
        return ticks
    return inside([float(f"{m * 10.0**d:g}") for d in decades for m in (1, 2, 5)])


def _energy_spread(row: dict) -> tuple[float, float] | None:
    """log10 of the interquartile range of Wh per 1,000 tokens, when the row has one."""
    q1, q3 = row.get("wh_per_1k_tokens_q1"), row.get("wh_per_1k_tokens_q3")
    if not q1 or not q3 or q1 <= 0 or q3 <= 0:
        return None
    return math.log10(q1), math.log10(q3)


def score_energy_svg(rows: list[dict], *, title: str, x_label: str, y_label: str) -> str:
    points = [r for r in rows if r.get("wh_per_1k_tokens") not in (None, 0)]
    if not points:
        return ""
    xs = [math.log10(r["wh_per_1k_tokens"]) for r in points]
    spreads = [_energy_spread(r) for r in points]
    lows = [r["lower"] for r in points]
    highs = [r["upper"] for r in points]
    x_min = min(xs + [q1 for q1, _ in filter(None, spreads)])
    x_max = max(xs + [q3 for _, q3 in filter(None, spreads)])
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
    for r, x, spread in zip(points, xs, spreads, strict=True):
        cx, cy = sx(x), sy(r["rating"])
        low, high = sy(r["lower"]), sy(r["upper"])
        parts.append(
            f'<path d="M{cx:.1f},{low:.1f}V{high:.1f}M{cx - CAP:.1f},{low:.1f}H{cx + CAP:.1f}'
            f'M{cx - CAP:.1f},{high:.1f}H{cx + CAP:.1f}" stroke="#4a4a4a" fill="none" class="score-interval"/>'
        )
        if spread is not None:
            left, right = sx(spread[0]), sx(spread[1])
            parts.append(
                f'<path d="M{left:.1f},{cy:.1f}H{right:.1f}M{left:.1f},{cy - CAP:.1f}V{cy + CAP:.1f}'
                f'M{right:.1f},{cy - CAP:.1f}V{cy + CAP:.1f}" stroke="#4a4a4a" fill="none" class="energy-spread"/>'
            )
        fill = "#0b5d3b" if r.get("pareto") else "#ffffff"
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{fill}" stroke="#0b5d3b"/>')
        anchor = "end" if cx > WIDTH * 0.75 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(
            f'<text x="{cx + dx:.1f}" y="{sy(r["rating"]) - 6:.1f}" font-size="12" text-anchor="{anchor}">'
            f"{escape(r['name'])}</text>"
        )
    for tick in _ticks(y_min, y_max):
        parts.append(f'<text x="{PAD - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:.0f}</text>')
    for tick in _log_ticks(x_min, x_max):
        parts.append(
            f'<text x="{sx(math.log10(tick)):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle" font-size="11">'
            f"{tick:g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
