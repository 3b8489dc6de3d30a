"""Numbers for people, formatted for the page's language (1,5 Wh in French)."""

from __future__ import annotations

import math

from django import template
from django.utils.formats import number_format

register = template.Library()


def significant(value: float, digits: int = 2) -> tuple[float, int]:
    """Round to `digits` significant figures; returns (value, decimal places to show)."""
    if value == 0 or not math.isfinite(value):
        return 0.0, 0
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return round(value, decimals), decimals


@register.filter
def num(value, digits: int = 2) -> str:
    if value is None or value == "":
        return "–"
    rounded, decimals = significant(float(value), int(digits))
    return number_format(rounded, decimal_pos=decimals, use_l10n=True, force_grouping=True)


@register.filter
def wh(value) -> str:
    """Energy in Wh, scaled to mWh or kWh when that reads better."""
    if value is None:
        return "–"
    # Pick the unit after rounding, so that 0.9996 reads "1,0 Wh", not "1 000 mWh".
    value = significant(float(value))[0]
    if 0 < abs(value) < 1:
        return f"{num(value * 1000)}\u00a0mWh"
    if abs(value) >= 1000:
        return f"{num(value / 1000)}\u00a0kWh"
    return f"{num(value)}\u00a0Wh"


@register.filter
def side_label(side: str) -> str:
    return side.upper()
