"""Fixture constants read straight from the YAML and EcoLogits files, for hand-computed expectations."""

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

FOOTPRINT = Path(__file__).resolve().parents[2] / "fixtures" / "footprint"


def read_yaml(name):
    return yaml.safe_load((FOOTPRINT / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def datacenter():
    return read_yaml("datacenter")


@pytest.fixture(scope="session")
def hardware():
    return read_yaml("hardware")


@pytest.fixture(scope="session")
def mixes():
    shipped = json.loads(resources.files("ecologits").joinpath("data/electricity_mixes.json").read_text())
    return {mix["name"]: mix for mix in shipped["electricity_mixes"]}
