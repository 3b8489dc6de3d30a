"""Loading and checking the footprint fixtures (fixtures/footprint/*.yaml) and EcoLogits' zone data.

Every number used to turn energy into impacts comes from here, with its unit, source and year:
data-centre defaults (PUE, WUE, hardware lifetime), embodied impacts of accelerators and servers,
everyday equivalents, and the electricity-mix factors per zone, which are read from the data file
that the installed `ecologits` package ships rather than copied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
FOOTPRINT_DIR = FIXTURES_DIR / "footprint"

# Units the impact formulas are written for; the loader refuses anything else.
HARDWARE_UNITS = {"gwp": "kgCO2eq", "adpe": "kgSbeq", "pe": "MJ"}
DATACENTER_UNITS = {"pue": "ratio", "wue": "L/kWh", "hardware_lifetime": "years"}

# Conversion of an equivalent's `amount` into the unit of the figure it translates.
_FIGURE_UNITS = {
    "energy_wh": {"Wh": 1.0, "kWh": 1000.0},
    "gwp_g": {"gCO2eq": 1.0, "kgCO2eq": 1000.0},
    "water_ml": {"mL": 1.0, "cL": 10.0, "L": 1000.0},
}


class FixtureError(ValueError):
    """A fixture file is missing a field or holds an inconsistent value."""


@dataclass(frozen=True)
class Constant:
    """A sourced number: value with an optional [min, max] range."""

    key: str
    value: float
    unit: str
    source: str
    year: int
    min: float
    max: float

    @property
    def has_range(self) -> bool:
        return self.min != self.value or self.max != self.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "min": self.min,
            "max": self.max,
            "unit": self.unit,
            "source": self.source,
            "year": self.year,
        }


def constant_problems(raw: Mapping[str, Any]) -> list[str]:
    """What is wrong with a mapping that has a `value` key, per fixtures/README.md (empty if nothing)."""
    problems = []
    for field in ("unit", "source", "year"):
        if raw.get(field) in (None, ""):
            problems.append(f"missing {field}")
    numbers = {k: raw.get(k) for k in ("value", "min", "max") if raw.get(k) is not None}
    for name, number in numbers.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            problems.append(f"{name} is not a number")
    if not problems:
        low = numbers.get("min", numbers["value"])
        high = numbers.get("max", numbers["value"])
        if not low <= numbers["value"] <= high:
            problems.append("range does not contain value (need min <= value <= max)")
    year = raw.get("year")
    if year not in (None, "") and (isinstance(year, bool) or not isinstance(year, int)):
        problems.append("year is not an integer")
    return problems


def make_constant(key: str, raw: Mapping[str, Any]) -> Constant:
    if not isinstance(raw, Mapping) or "value" not in raw:
        raise FixtureError(f"{key}: expected a constant with a value")
    problems = constant_problems(raw)
    if problems:
        raise FixtureError(f"{key}: {', '.join(problems)}")
    value = float(raw["value"])
    return Constant(
        key=key,
        value=value,
        unit=str(raw["unit"]),
        source=" ".join(str(raw["source"]).split()),
        year=int(raw["year"]),
        min=float(raw.get("min", value)),
        max=float(raw.get("max", value)),
    )


def iter_constants(node: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (dotted path, mapping) for every mapping with a `value` key, at any depth."""
    if isinstance(node, Mapping):
        if "value" in node:
            yield path, node
        for key, child in node.items():
            yield from iter_constants(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from iter_constants(child, f"{path}[{index}]")


@cache
def load_fixture(name: str) -> dict[str, Any]:
    """Parsed content of fixtures/footprint/<name>.yaml (cached; treat as read-only)."""
    # Imported here, not at module level, so that `import footprint` needs only the standard
    # library (the ranking's numpy/scipy-only environment imports it); the fixtures need PyYAML.
    import yaml

    with open(FOOTPRINT_DIR / f"{name}.yaml", encoding="utf-8") as fd:
        return yaml.safe_load(fd)


def _checked_unit(constant: Constant, expected: str) -> Constant:
    if constant.unit != expected:
        raise FixtureError(f"{constant.key}: unit {constant.unit!r}, expected {expected!r}")
    return constant


# Data centre -----------------------------------------------------------------------------------


def datacenter_constant(name: str) -> Constant:
    """`pue`, `wue` (L/kWh on site) or `hardware_lifetime` (years) from datacenter.yaml."""
    raw = load_fixture("datacenter")[name]
    return _checked_unit(make_constant(f"datacenter.{name}", raw), DATACENTER_UNITS[name])


def default_profile_settings() -> dict[str, Any]:
    return dict(load_fixture("datacenter")["default_profile"])


# Hardware --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hardware:
    """Embodied impacts of one accelerator or one server (without its accelerators)."""

    key: str
    label: str
    gwp: Constant
    adpe: Constant | None
    pe: Constant | None
    match: tuple[str, ...] = ()
    gpu_slots: int = 0


def _hardware(kind: str, key: str, raw: Mapping[str, Any]) -> Hardware:
    impacts = {}
    for name, unit in HARDWARE_UNITS.items():
        if name in raw:
            impacts[name] = _checked_unit(make_constant(f"hardware.{kind}.{key}.{name}", raw[name]), unit)
        elif name == "gwp":
            raise FixtureError(f"hardware.{kind}.{key}: gwp is required")
        else:
            impacts[name] = None
    return Hardware(
        key=key,
        label=str(raw.get("label", key)),
        match=tuple(str(m).lower() for m in raw.get("match", ())),
        gpu_slots=int(raw.get("gpu_slots", 0)),
        **impacts,
    )


@cache
def accelerators() -> dict[str, Hardware]:
    raw = load_fixture("hardware")["accelerators"]
    return {key: _hardware("accelerators", key, entry) for key, entry in raw.items()}


@cache
def servers() -> dict[str, Hardware]:
    raw = load_fixture("hardware")["servers"]
    found = {key: _hardware("servers", key, entry) for key, entry in raw.items()}
    for server in found.values():
        if server.gpu_slots < 1:
            raise FixtureError(f"hardware.servers.{server.key}: gpu_slots must be >= 1")
    return found


def find_accelerator(device_name: str) -> Hardware | None:
    """The accelerator whose `match` substrings occur in an NVML device name, if any."""
    name = device_name.lower()
    for accelerator in accelerators().values():
        if any(fragment in name for fragment in accelerator.match):
            return accelerator
    return None


# Zones -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneFactors:
    """Impact factors of one kWh of electricity in a zone, as EcoLogits ships them."""

    zone: str
    gwp_kg_per_kwh: float
    adpe_kgsbeq_per_kwh: float
    pe_mj_per_kwh: float
    wue_l_per_kwh: float
    warnings: tuple[str, ...]


@cache
def ecologits_version() -> str:
    """The installed EcoLogits (read once: reading package metadata takes milliseconds, and every
    estimate names its version)."""
    return metadata.version("ecologits")


@cache
def _ecologits_mixes() -> dict[str, ZoneFactors]:
    dataset = load_fixture("zones")["electricity_mixes"]
    path = resources.files(dataset["package"]).joinpath(dataset["file"])
    mixes = json.loads(path.read_text(encoding="utf-8"))["electricity_mixes"]
    return {
        mix["name"]: ZoneFactors(
            zone=mix["name"],
            gwp_kg_per_kwh=float(mix["gwp"]),
            adpe_kgsbeq_per_kwh=float(mix["adpe"]),
            pe_mj_per_kwh=float(mix["pe"]),
            wue_l_per_kwh=float(mix["wue"]),
            warnings=tuple(mix.get("warnings") or ()),
        )
        for mix in mixes
    }


def zone_factors(zone: str) -> ZoneFactors:
    try:
        return _ecologits_mixes()[zone]
    except KeyError:
        raise KeyError(f"no electricity mix for zone {zone!r} in EcoLogits {ecologits_version()}") from None


def known_zones() -> list[str]:
    return sorted(_ecologits_mixes())


def zone_labels(lang: str = "fr") -> dict[str, str]:
    """Zones offered in the interface, code -> name in `lang` ("fr" or "en")."""
    return {code: names[lang] for code, names in load_fixture("zones")["zones"].items()}


def electricity_factor_sources() -> dict[str, dict[str, Any]]:
    """Unit, source and year of each electricity-mix factor (gwp, adpe, pe, wue)."""
    factors = load_fixture("zones")["electricity_mixes"]["factors"]
    version = ecologits_version()
    return {
        name: {
            "unit": meta["unit"],
            "source": " ".join(str(meta["source"]).split()) + f" (EcoLogits {version})",
            "year": int(meta["year"]),
        }
        for name, meta in factors.items()
    }


def electricity_factor_constants(zone: str) -> list[dict[str, Any]]:
    """The zone's four electricity-mix factors as constant dicts (key, value, min, max, unit, source, year)."""
    factors = zone_factors(zone)
    values = {
        "gwp": factors.gwp_kg_per_kwh,
        "adpe": factors.adpe_kgsbeq_per_kwh,
        "pe": factors.pe_mj_per_kwh,
        "wue": factors.wue_l_per_kwh,
    }
    return [
        {
            "key": f"electricity_mix.{zone}.{name}",
            "value": values[name],
            "min": values[name],
            "max": values[name],
            **meta,
        }
        for name, meta in electricity_factor_sources().items()
    ]


# Equivalents -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Equivalent:
    key: str
    figure: str
    family: str
    amount: Constant
    figure_per_unit: float
    unit: Mapping[str, str]
    label: Mapping[str, str]


def _figure_per_unit(key: str, figure: str, amount: Constant, unit_s: float | None) -> float:
    if figure not in _FIGURE_UNITS:
        raise FixtureError(f"equivalents.{key}: unknown figure {figure!r}")
    if figure == "energy_wh" and amount.unit == "W":
        if not unit_s:
            raise FixtureError(f"equivalents.{key}: an amount in W needs unit_s")
        return amount.value * unit_s / 3600
    factor = _FIGURE_UNITS[figure].get(amount.unit)
    if factor is None:
        raise FixtureError(f"equivalents.{key}: unit {amount.unit!r} does not convert to {figure}")
    return amount.value * factor


@cache
def equivalents() -> tuple[Equivalent, ...]:
    found = []
    for key, raw in load_fixture("equivalents")["equivalents"].items():
        amount = make_constant(f"equivalents.{key}.amount", raw["amount"])
        for field in ("unit", "label"):
            if not {"fr", "en"} <= set(raw[field]):
                raise FixtureError(f"equivalents.{key}: {field} needs fr and en")
        found.append(
            Equivalent(
                key=key,
                figure=raw["figure"],
                family=raw.get("family", key),
                amount=amount,
                figure_per_unit=_figure_per_unit(key, raw["figure"], amount, raw.get("unit_s")),
                unit=raw["unit"],
                label=raw["label"],
            )
        )
    return tuple(found)
