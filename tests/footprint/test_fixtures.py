"""Every constant under fixtures/ carries its unit, source and year (convention in fixtures/README.md)."""

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

from footprint import data

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
YAML_FILES = sorted(FIXTURES.rglob("*.yaml")) + sorted(FIXTURES.rglob("*.yml"))


def _constants(node, path=""):
    """Independent walk (not footprint.data's): every mapping with a `value` key, at any depth."""
    if isinstance(node, dict):
        if "value" in node:
            yield path, node
        for key, child in node.items():
            yield from _constants(child, f"{path}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _constants(child, f"{path}[{index}]")


def test_it_finds_the_footprint_fixtures():
    names = {path.name for path in YAML_FILES}
    assert {"zones.yaml", "datacenter.yaml", "hardware.yaml", "equivalents.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_it_gives_every_constant_a_unit_source_and_year(path):
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    for where, constant in _constants(content):
        for field in ("unit", "source", "year"):
            assert constant.get(field) not in (None, ""), f"{path.name}{where}: no {field}"
        assert isinstance(constant["year"], int), f"{path.name}{where}: year is not an integer"
        assert isinstance(constant["value"], (int, float)), f"{path.name}{where}: value is not a number"
        low = constant.get("min", constant["value"])
        high = constant.get("max", constant["value"])
        assert low <= constant["value"] <= high, f"{path.name}{where}: value outside [min, max]"


def test_it_gives_the_ecologits_zone_factors_a_unit_source_and_year():
    factors = yaml.safe_load((FIXTURES / "footprint" / "zones.yaml").read_text())["electricity_mixes"]["factors"]
    assert set(factors) == {"gwp", "adpe", "pe", "wue"}
    for name, meta in factors.items():
        for field in ("unit", "source", "year"):
            assert meta.get(field) not in (None, ""), f"zones.yaml factor {name}: no {field}"


def test_it_offers_only_zones_that_ecologits_ships():
    zones = yaml.safe_load((FIXTURES / "footprint" / "zones.yaml").read_text())["zones"]
    shipped = json.loads(resources.files("ecologits").joinpath("data/electricity_mixes.json").read_text())
    codes = {mix["name"] for mix in shipped["electricity_mixes"]}
    assert {"FRA", "DEU", "SWE", "USA", "EEE", "WOR"} <= set(zones) <= codes
    for code, names in zones.items():
        assert names["fr"] and names["en"], code


def test_it_rejects_a_constant_without_source():
    assert data.constant_problems({"value": 1, "unit": "W", "year": 2024}) == ["missing source"]
    assert data.constant_problems({"value": 1, "unit": "W", "source": "x", "year": 2024, "min": 2}) == [
        "range does not contain value (need min <= value <= max)"
    ]
    with pytest.raises(data.FixtureError):
        data.make_constant("x", {"value": 1, "unit": "", "source": "s", "year": 2024})


def test_it_loads_every_footprint_constant_through_the_validating_loader():
    assert data.datacenter_constant("pue").unit == "ratio"
    assert data.accelerators()["nvidia_h100_80gb"].gwp.unit == "kgCO2eq"
    assert data.servers()["gpu_server_8_slots"].gpu_slots == 8
    assert all(equivalent.figure_per_unit > 0 for equivalent in data.equivalents())
