"""pick_equivalents: human-scale counts, labels in French and English."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from footprint import compute_impacts, equivalents_for, pick_equivalents

FIGURES = ["energy_wh", "gwp_g", "water_ml"]
FOOTPRINT = Path(__file__).resolve().parents[2] / "fixtures" / "footprint"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIGURES), st.floats(min_value=0, max_value=1e9, allow_nan=False), st.sampled_from(["fr", "en"]))
def test_it_only_returns_counts_on_a_human_scale(figure, amount, lang):
    picked = pick_equivalents(figure, amount, lang)
    for item in picked:
        assert 0.1 <= item["value"] <= 1000
        assert set(item) == {"key", "family", "value", "unit", "label"}
        assert item["label"] and item["unit"]
    assert len({item["key"] for item in picked}) == len(picked)


def test_it_labels_in_french_by_default_and_in_english_on_request():
    french = pick_equivalents("energy_wh", 1.0)
    english = pick_equivalents("energy_wh", 1.0, "en")
    assert [i["key"] for i in french] == [i["key"] for i in english]
    assert french and all(f["label"] != e["label"] for f, e in zip(french, english, strict=True))
    assert any("ampoule" in item["label"] for item in french)
    assert any("bulb" in item["label"] for item in english)


def test_it_has_labels_in_both_languages_for_every_equivalent():
    equivalents = yaml.safe_load((FOOTPRINT / "equivalents.yaml").read_text())["equivalents"]
    for key, entry in equivalents.items():
        for field in ("label", "unit"):
            assert entry[field]["fr"] and entry[field]["en"], f"{key}.{field}"


def test_it_converts_with_the_fixture_constants():
    equivalents = yaml.safe_load((FOOTPRINT / "equivalents.yaml").read_text())["equivalents"]
    bulb_w = equivalents["led_bulb_minutes"]["amount"]["value"]
    phone_kwh = equivalents["smartphone_charges"]["amount"]["value"]
    picked = {item["key"]: item["value"] for item in pick_equivalents("energy_wh", 3.0, "en")}
    assert picked["led_bulb_minutes"] == pytest.approx(3.0 / (bulb_w / 60))
    assert picked["smartphone_charges"] == pytest.approx(3.0 / (phone_kwh * 1000))


def test_it_shows_one_unit_per_family():
    picked = [item["key"] for item in pick_equivalents("gwp_g", 50.0)]
    assert sum(key.startswith("car_") for key in picked) == 1


def test_it_returns_nothing_for_zero():
    assert pick_equivalents("water_ml", 0.0) == []


def test_it_rejects_an_unknown_figure_or_language():
    with pytest.raises(ValueError):
        pick_equivalents("gwp_kg", 1.0)
    with pytest.raises(ValueError):
        pick_equivalents("gwp_g", 1.0, "de")


def test_it_finds_equivalents_for_a_typical_request():
    record = {
        "measured": True,
        "method": "nvml",
        "energy_j": 41.7,
        "duration_s": 3.2,
        "devices": ["NVIDIA H100 80GB HBM3"],
        "avg_concurrency": 7.4,
    }
    found = equivalents_for(compute_impacts(record), "en")
    assert all(found[figure] for figure in FIGURES)
