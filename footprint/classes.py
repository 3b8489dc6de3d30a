"""Energy classes A-F per answer, and the sobriety references of the reveal.

Pure: the thresholds and references are constants of fixtures/footprint (value, unit,
source, year), read through the validating loader.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from footprint import data


@cache
def class_bounds() -> tuple[tuple[str, data.Constant | None], ...]:
    """(letter, upper bound in Wh per 1,000 output tokens) from A to F; F has no bound."""
    classes = data.load_fixture("energy_classes")["classes"]
    bounds = []
    for letter, raw in classes.items():
        upper = data.make_constant(f"energy_class_{letter}", raw["upper"]) if raw else None
        if upper is not None and upper.unit != "Wh/1000 tokens":
            raise data.FixtureError(f"energy class {letter}: unit {upper.unit!r}, expected 'Wh/1000 tokens'")
        bounds.append((letter, upper))
    values = [u.value for _letter, u in bounds if u is not None]
    if values != sorted(values) or bounds[-1][1] is not None:
        raise data.FixtureError("energy classes: bounds must grow, and the last class has none")
    return tuple(bounds)


def energy_class(wh_per_1k_tokens: float | None) -> str | None:
    """The class of an answer (None without a figure)."""
    if wh_per_1k_tokens is None:
        return None
    for letter, upper in class_bounds():
        if upper is None or wh_per_1k_tokens < upper.value:
            return letter
    raise AssertionError("unreachable: the last class has no bound")


def wh_per_1k_tokens(energy_wh: float | None, output_tokens: int | None) -> float | None:
    if energy_wh is None or not output_tokens:
        return None
    return energy_wh / output_tokens * 1000


def class_table() -> list[dict[str, Any]]:
    """For the methodology page: each class with its bounds and source."""
    rows, lower = [], 0.0
    for letter, upper in class_bounds():
        rows.append(
            {
                "letter": letter,
                "from": lower,
                "below": upper.value if upper else None,
                "unit": "Wh/1000 tokens",
                "source": upper.source if upper else None,
                "year": upper.year if upper else None,
            }
        )
        lower = upper.value if upper else lower
    return rows


@cache
def _references() -> dict[str, Any]:
    return data.load_fixture("sobriety")["references"]


def sobriety_reference(key: str, lang: str = "fr") -> dict[str, Any]:
    """A reference point: its constant (value, unit, source, year) and its sentence."""
    raw = _references()[key]
    return {**data.make_constant(f"sobriety_{key}", raw["energy"]).to_dict(), "text": raw["label"][lang]}
