"""The reveal's picture before its numbers: A and B side by side as bars with their ranges,
drawn on the server as inline SVG (no script, no third party), readable by screen readers
through its title and description, and scaled to the page's width on a phone."""

from __future__ import annotations

from django.utils.html import escape

WIDTH, BAR_H, GAP, LEFT, RIGHT = 260, 16, 8, 18, 96  # RIGHT: room for the value after the bar


def bars_svg(title: str, rows: list[dict], description: str) -> str:
    """Horizontal bars on one scale. Each row: {"label", "value", "min", "max", "text"}
    (`text`: the value written for people, in the page's language). A row without a value
    is left empty, not drawn as zero."""
    top = max((r["max"] or r["value"] or 0) for r in rows) or 1.0
    span = WIDTH - LEFT - RIGHT
    height = len(rows) * (BAR_H + GAP) + GAP
    parts = [
        f'<svg class="bars" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{_id(title)}-t {_id(title)}-d" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{_id(title)}-t">{escape(title)}</title><desc id="{_id(title)}-d">{escape(description)}</desc>',
    ]
    for i, row in enumerate(rows):
        y = GAP + i * (BAR_H + GAP)
        parts.append(f'<text x="0" y="{y + BAR_H - 4}" class="bar-label">{escape(row["label"])}</text>')
        if row["value"] is None:
            continue
        width = max(row["value"] / top * span, 1.0)
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR_H}" class="bar bar-{i}"/>')
        low, high = row.get("min"), row.get("max")
        if low is not None and high is not None and high > low:
            x1, x2, mid = LEFT + low / top * span, LEFT + high / top * span, y + BAR_H / 2
            parts.append(
                f'<path d="M{x1:.1f} {mid - 5}v10M{x1:.1f} {mid}H{x2:.1f}M{x2:.1f} {mid - 5}v10" class="range-line"/>'
            )
        end = LEFT + max(row["value"], high or 0) / top * span
        parts.append(f'<text x="{end + 4:.1f}" y="{y + BAR_H - 4}" class="bar-value">{escape(row["text"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _id(title: str) -> str:
    return "svg-" + "".join(ch if ch.isalnum() else "-" for ch in title.lower())[:40]
