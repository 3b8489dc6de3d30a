"""Energy record -> environmental impacts, for a deployment profile.

`compute_impacts(record, profile)` is a pure function of the worker's energy record (DESIGN.md,
"Energy metering") and of a `DeploymentProfile` (zone, PUE, WUE, hardware). Stored records never change;
to show "as if it ran in Sweden", call it again with `profile.in_zone("SWE")`.

Formulas (energy E = energy_j / 3600 Wh, as measured at the devices):
  wall energy      = E x PUE
  GWP usage        = E x PUE x carbon intensity of the zone's electricity
  ADPe, PE usage   = E x PUE x the zone's ADPe, PE factors
  water            = E x (WUE on site + PUE x water intensity of the zone's electricity)
  embodied (GWP, ADPe, PE)
                   = (n x accelerator + n / server slots x server) x share_s / lifetime_s,
                     share_s = duration_s / avg_concurrency   (the request's share of the hardware's time)
Every figure carries [min, max] from the ranges of its inputs (PUE, WUE, embodied impacts, lifetime):
all formulas grow with each input except lifetime, so the bounds come from the bounds of the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from footprint import data

SECONDS_PER_YEAR = 365 * 24 * 60 * 60  # the year EcoLogits uses for hardware lifespans


@dataclass(frozen=True)
class Figure:
    """A computed quantity with its range: min <= value <= max."""

    value: float
    min: float
    max: float
    unit: str

    @classmethod
    def exact(cls, value: float, unit: str) -> Figure:
        return cls(value, value, value, unit)

    def __add__(self, other: Figure) -> Figure:
        if other.unit != self.unit:
            raise ValueError(f"cannot add {other.unit} to {self.unit}")
        return Figure(self.value + other.value, self.min + other.min, self.max + other.max, self.unit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeploymentProfile:
    """Where and on what a model runs. `accelerator`/`server` are keys of fixtures/footprint/hardware.yaml."""

    zone: str
    pue: data.Constant
    wue: data.Constant  # on-site water usage effectiveness, L/kWh
    hardware_lifetime: data.Constant  # years
    accelerator: str | None = None
    accelerator_count: int = 1  # used when a record lists no device
    server: str | None = None

    def in_zone(self, zone: str) -> DeploymentProfile:
        data.zone_factors(zone)  # fail early on an unknown zone
        return replace(self, zone=zone)


def default_profile() -> DeploymentProfile:
    settings = data.default_profile_settings()
    return DeploymentProfile(
        zone=settings["zone"],
        pue=data.datacenter_constant("pue"),
        wue=data.datacenter_constant("wue"),
        hardware_lifetime=data.datacenter_constant("hardware_lifetime"),
        accelerator=settings.get("accelerator"),
        accelerator_count=int(settings.get("accelerator_count", 1)),
        server=settings.get("server"),
    )


@dataclass(frozen=True)
class Impacts:
    """Impacts of one request (or the sum of several). Figures in the unit their name says."""

    measured: bool
    method: str  # the record's metering method ("nvml", "rapl", ...) or "ecologits" for estimates
    source: str  # what the figures rest on: "nvml measurement", "EcoLogits 0.11.3"
    zone: str
    energy_wh: Figure | None  # at the devices (None for estimates: EcoLogits reports wall energy)
    wall_energy_wh: Figure
    gwp_usage_g: Figure
    gwp_embodied_g: Figure | None
    gwp_g: Figure
    water_ml: Figure
    adpe_usage_kgsbeq: Figure
    adpe_embodied_kgsbeq: Figure | None
    adpe_kgsbeq: Figure
    pe_usage_mj: Figure
    pe_embodied_mj: Figure | None
    pe_mj: Figure
    sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # codes, e.g. "electricity-mix-wue-world"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scaled(energy_kwh: float, low: float, mid: float, high: float, unit: str) -> Figure:
    return Figure(energy_kwh * mid, energy_kwh * low, energy_kwh * high, unit)


def _hardware_in_use(record: Mapping[str, Any], profile: DeploymentProfile, notes: list[str]):
    """[(accelerator, count)] behind the record: from its NVML device names, else from the profile."""
    devices = record.get("devices") or []
    if not devices:
        if profile.accelerator is None:
            return []
        return [(data.accelerators()[profile.accelerator], profile.accelerator_count)]
    counts: dict[str, int] = {}
    for device in devices:
        accelerator = data.find_accelerator(str(device))
        if accelerator is None:
            notes.append("embodied-unknown-device")
            continue
        counts[accelerator.key] = counts.get(accelerator.key, 0) + 1
    return [(data.accelerators()[key], count) for key, count in counts.items()]


def _embodied(
    criterion: str,
    hardware: list,
    server: data.Hardware | None,
    share_s: float,
    lifetime: data.Constant,
    scale: float,
    unit: str,
) -> tuple[Figure | None, list[data.Constant]]:
    """Embodied impact share for one criterion (gwp, adpe, pe), or None where a constant is missing."""
    constants: list[data.Constant] = []
    low = mid = high = 0.0
    for accelerator, count in hardware:
        constant = getattr(accelerator, criterion)
        if constant is None:
            return None, []
        constants.append(constant)
        low, mid, high = low + count * constant.min, mid + count * constant.value, high + count * constant.max
    if server is not None:
        constant = getattr(server, criterion)
        if constant is None:
            return None, []
        constants.append(constant)
        slots_used = sum(count for _, count in hardware) / server.gpu_slots
        low, mid, high = (
            low + slots_used * constant.min,
            mid + slots_used * constant.value,
            high + slots_used * constant.max,
        )
    per_s = share_s * scale / SECONDS_PER_YEAR
    figure = Figure(
        mid * per_s / lifetime.value,
        low * per_s / lifetime.max,  # a longer life spreads the impact thinner
        high * per_s / lifetime.min,
        unit,
    )
    return figure, constants


def compute_impacts(record: Mapping[str, Any] | Any, profile: DeploymentProfile | None = None) -> Impacts:
    """Impacts of a worker's energy record in a deployment profile (default: fixtures).

    `record` is the worker's `EnergyRecord` (inference_workers.protocol) or its JSON as a
    mapping; this package stays free of pydantic, so it only asks for `model_dump`."""
    if hasattr(record, "model_dump"):
        record = record.model_dump()
    profile = profile or default_profile()
    energy_j = record.get("energy_j")
    if energy_j is None or energy_j < 0:
        raise ValueError(f"energy_j must be a number >= 0, got {energy_j!r}")
    duration_s = float(record.get("duration_s") or 0.0)
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
    # The worker's average number of requests sharing the hardware during this one, itself included.
    concurrency = max(float(record.get("avg_concurrency") or 1.0), 1.0)

    zone = data.zone_factors(profile.zone)
    pue, wue = profile.pue, profile.wue
    notes = list(zone.warnings)

    energy_wh = float(energy_j) / 3600
    energy_kwh = energy_wh / 1000
    wall_kwh = Figure(energy_kwh * pue.value, energy_kwh * pue.min, energy_kwh * pue.max, "kWh")

    def usage(factor: float, scale: float, unit: str) -> Figure:
        return _scaled(factor * scale, wall_kwh.min, wall_kwh.value, wall_kwh.max, unit)

    gwp_usage = usage(zone.gwp_kg_per_kwh, 1000, "gCO2eq")
    adpe_usage = usage(zone.adpe_kgsbeq_per_kwh, 1, "kgSbeq")
    pe_usage = usage(zone.pe_mj_per_kwh, 1, "MJ")
    water = _scaled(
        energy_kwh * 1000,  # L -> mL
        wue.min + pue.min * zone.wue_l_per_kwh,
        wue.value + pue.value * zone.wue_l_per_kwh,
        wue.max + pue.max * zone.wue_l_per_kwh,
        "mL",
    )

    hardware = _hardware_in_use(record, profile, notes)
    server = data.servers()[profile.server] if profile.server and hardware else None
    share_s = duration_s / concurrency
    embodied: dict[str, Figure | None] = {}
    embodied_constants: list[data.Constant] = []
    for criterion, scale, unit in (("gwp", 1000, "gCO2eq"), ("adpe", 1, "kgSbeq"), ("pe", 1, "MJ")):
        if not hardware:
            embodied[criterion] = None
            continue
        figure, constants = _embodied(criterion, hardware, server, share_s, profile.hardware_lifetime, scale, unit)
        embodied[criterion] = figure
        embodied_constants += constants
        if figure is None:
            notes.append(f"embodied-{criterion}-missing")
    if not hardware:
        notes.append("embodied-unknown-hardware")

    def total(usage_figure: Figure, embodied_figure: Figure | None) -> Figure:
        return usage_figure if embodied_figure is None else usage_figure + embodied_figure

    sources = _sources(profile, embodied_constants if hardware else [], hardware_used=bool(hardware))
    return Impacts(
        measured=bool(record.get("measured", False)),
        method=str(record.get("method") or "unknown"),
        source=f"{record.get('method') or 'unknown'} measurement",
        zone=profile.zone,
        energy_wh=Figure.exact(energy_wh, "Wh"),
        wall_energy_wh=Figure(wall_kwh.value * 1000, wall_kwh.min * 1000, wall_kwh.max * 1000, "Wh"),
        gwp_usage_g=gwp_usage,
        gwp_embodied_g=embodied["gwp"],
        gwp_g=total(gwp_usage, embodied["gwp"]),
        water_ml=water,
        adpe_usage_kgsbeq=adpe_usage,
        adpe_embodied_kgsbeq=embodied["adpe"],
        adpe_kgsbeq=total(adpe_usage, embodied["adpe"]),
        pe_usage_mj=pe_usage,
        pe_embodied_mj=embodied["pe"],
        pe_mj=total(pe_usage, embodied["pe"]),
        sources=sources,
        notes=list(dict.fromkeys(notes)),
    )


def _sources(profile: DeploymentProfile, embodied: list[data.Constant], hardware_used: bool) -> list[dict]:
    """The constants behind a result: value, unit, source, year (deduplicated, in order of use)."""
    found = [profile.pue.to_dict(), profile.wue.to_dict(), *data.electricity_factor_constants(profile.zone)]
    if hardware_used:
        found.append(profile.hardware_lifetime.to_dict())
    found += [constant.to_dict() for constant in embodied]
    unique = {item["key"]: item for item in found}
    return list(unique.values())


def sum_impacts(items: list[Impacts]) -> Impacts:
    """Per-conversation total of several requests' impacts (same zone expected)."""
    if not items:
        raise ValueError("nothing to sum")

    def add(name: str) -> Figure | None:
        figures = [getattr(item, name) for item in items]
        if any(figure is None for figure in figures):
            return None
        result = figures[0]
        for figure in figures[1:]:
            result = result + figure
        return result

    names = [
        f for f in Impacts.__dataclass_fields__ if f not in ("measured", "method", "source", "zone", "sources", "notes")
    ]
    sources = {s["key"]: s for item in items for s in item.sources}
    methods = sorted({item.method for item in items})
    return Impacts(
        measured=all(item.measured for item in items),
        method=methods[0] if len(methods) == 1 else "+".join(methods),
        source=" + ".join(sorted({item.source for item in items})),
        zone=items[0].zone if len({item.zone for item in items}) == 1 else "mixed",
        sources=list(sources.values()),
        notes=list(dict.fromkeys(note for item in items for note in item.notes)),
        **{name: add(name) for name in names},
    )
