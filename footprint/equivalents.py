"""Everyday equivalents of a figure ("1.2 minutes of a 5 W LED bulb"), chosen to land on a human scale.

The equivalents and their sources are in fixtures/footprint/equivalents.yaml. An equivalent is shown only
when its count falls between HUMAN_SCALE_MIN and HUMAN_SCALE_MAX (0.0003 smartphone charges or 40,000
web searches say nothing to a reader), and at most one per family (car in metres or in kilometres).
"""

from __future__ import annotations

import math
from typing import Any

from footprint import data

HUMAN_SCALE_MIN = 0.1
HUMAN_SCALE_MAX = 1000.0
LANGUAGES = ("fr", "en")
FIGURES = ("energy_wh", "gwp_g", "water_ml")


def pick_equivalents(figure: str, amount: float, lang: str = "fr") -> list[dict[str, Any]]:
    """Equivalents of `amount` (in the unit of `figure`: energy_wh, gwp_g or water_ml) on a human scale.

    Returns [{"key", "family", "value", "unit", "label"}], unit and label in `lang` ("fr" default, or "en"),
    in fixture order; empty when nothing lands between 0.1 and 1000 units.
    """
    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {FIGURES}, got {figure!r}")
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")
    best: dict[str, tuple[float, data.Equivalent, float]] = {}
    for equivalent in data.equivalents():
        if equivalent.figure != figure:
            continue
        count = amount / equivalent.figure_per_unit
        if not HUMAN_SCALE_MIN <= count <= HUMAN_SCALE_MAX:
            continue
        # Within a family prefer the unit whose count is nearest 10 (on a log scale): "450 m", not "0.45 km".
        distance = abs(math.log10(count) - 1)
        current = best.get(equivalent.family)
        if current is None or distance < current[0]:
            best[equivalent.family] = (distance, equivalent, count)
    chosen = sorted(best.values(), key=lambda item: data.equivalents().index(item[1]))
    return [
        {
            "key": equivalent.key,
            "family": equivalent.family,
            "value": count,
            "unit": equivalent.unit[lang],
            "label": equivalent.label[lang],
        }
        for _, equivalent, count in chosen
    ]


def equivalents_for(impacts: Any, lang: str = "fr") -> dict[str, list[dict[str, Any]]]:
    """Equivalents of an Impacts' central values: energy at the wall, total GWP and water."""
    return {
        "energy_wh": pick_equivalents("energy_wh", impacts.wall_energy_wh.value, lang),
        "gwp_g": pick_equivalents("gwp_g", impacts.gwp_g.value, lang),
        "water_ml": pick_equivalents("water_ml", impacts.water_ml.value, lang),
    }


def equivalent_sources() -> list[dict[str, Any]]:
    """Each equivalent's sourced constant, for the methodology page."""
    return [
        {**equivalent.amount.to_dict(), "key": equivalent.key, "label": dict(equivalent.label)}
        for equivalent in data.equivalents()
    ]
