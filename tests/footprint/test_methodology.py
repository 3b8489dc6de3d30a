"""methodology(): formulas, sourced constants and limits for the methodology page."""

import pytest

from footprint import methodology


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_it_lists_formulas_constants_and_limits(lang):
    page = methodology(lang)
    assert {f["key"] for f in page["formulas"]} >= {"wall_energy_wh", "gwp_usage_g", "water_ml", "gwp_embodied_g"}
    for constant in page["constants"]:
        assert constant["source"] and constant["year"] and constant["unit"], constant["key"]
    zones = {zone["zone"] for zone in page["electricity_mixes"]["zones"]}
    assert {"FRA", "DEU", "SWE", "USA", "EEE", "WOR"} <= zones
    assert page["estimates"]["source"].startswith("EcoLogits ")
    assert any("NVML" in limit["text"] for limit in page["limits"])


def test_it_writes_the_limits_in_the_requested_language():
    french = methodology("fr")["limits"]
    english = methodology("en")["limits"]
    assert [row["key"] for row in french] == [row["key"] for row in english]
    assert french[0]["text"] != english[0]["text"]
