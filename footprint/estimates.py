"""EcoLogits estimates, for models that cannot be metered (remote APIs) and beside metered ones.

`estimate_with_ecologits` calls EcoLogits' own LLM impact function
(`ecologits.impacts.llm.compute_llm_impacts`) with the model's parameter counts, the real number of
generated tokens and the request latency, and the electricity factors of the zone from the same
EcoLogits data file the measured path uses. Results carry `source: "EcoLogits <version>"`.

What EcoLogits models and what it does not:
- Energy is a function of output tokens and active parameters (a regression on ML.ENERGY benchmarks of
  vLLM on H100s, batch size 64). Input (prompt) tokens are NOT an input of `compute_llm_impacts` in
  EcoLogits 0.11.3, so prompt_tokens are accepted, reported in a note, and not used.
- `latency_s` caps the modelled generation time (it bounds energy of the server without GPUs and the
  embodied share), as EcoLogits does with the measured request latency.
- EcoLogits reports energy at the wall (PUE included); it does not expose the IT energy, so
  `energy_wh` is None on estimates and `wall_energy_wh` holds EcoLogits' energy.

Ranges: EcoLogits propagates intervals (RangeValue). The central value comes from one call with the
central PUE and WUE (the midpoint where the parameter count is itself a range, as EcoLogits' own
`RangeValue.mean`), min and max from a second call with PUE and WUE as intervals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from footprint import data
from footprint.impacts import Figure, Impacts, default_profile

# EcoLogits (and the pydantic it pulls in) is imported inside the functions that call it, so that
# `import footprint` works where only the measured path is needed, as in the ranking's
# numpy/scipy-only environment.
if TYPE_CHECKING:
    from ecologits.utils.range_value import RangeValue

ParamCount = float | tuple[float, float]


def to_ecologits_value(value: ParamCount | data.Constant, *, central: bool = False) -> float | RangeValue:
    """A number, (min, max) pair or Constant as EcoLogits takes it (a RangeValue when it is a range)."""
    from ecologits.utils.range_value import RangeValue

    if isinstance(value, data.Constant):
        if central or not value.has_range:
            return value.value
        return RangeValue(min=value.min, max=value.max)
    if isinstance(value, tuple):
        low, high = value
        return float(low) if low == high else RangeValue(min=float(low), max=float(high))
    return float(value)


def _bounds(value: float | RangeValue) -> tuple[float, float, float]:
    """(central, min, max) of an EcoLogits result."""
    from ecologits.utils.range_value import RangeValue

    if isinstance(value, RangeValue):
        return float(value.mean), float(value.min), float(value.max)
    return float(value), float(value), float(value)


def _figure(central: Any, bounds: Any, scale: float, unit: str) -> Figure:
    value, _, _ = _bounds(central.value)
    _, low, high = _bounds(bounds.value)
    # EcoLogits rounds nothing, but guard the invariant against float noise in its interval arithmetic.
    low, high = min(low, value), max(high, value)
    return Figure(value * scale, low * scale, high * scale, unit)


def estimate_with_ecologits(
    total_params_b: ParamCount,
    active_params_b: ParamCount,
    prompt_tokens: int,
    completion_tokens: int,
    latency_s: float | None,
    zone: str | None = None,
    *,
    pue: data.Constant | None = None,
    wue: data.Constant | None = None,
) -> Impacts:
    """EcoLogits' estimate of one request, as an `Impacts` (measured=False, method="ecologits").

    total_params_b / active_params_b: parameter counts in billions, a number or a (min, max) pair.
    zone: electricity-mix zone (default: the default profile's). pue / wue (L/kWh on site): data-centre
    constants, default the default profile's, so the estimate of a self-hosted model is comparable with
    its measurement; pass a provider's figures for a remote API.
    """
    from ecologits.impacts.llm import compute_llm_impacts

    profile = default_profile()
    zone = zone or profile.zone
    pue = pue or profile.pue
    wue = wue or profile.wue
    factors = data.zone_factors(zone)
    version = data.ecologits_version()

    common = {
        "model_active_parameter_count": to_ecologits_value(active_params_b),
        "model_total_parameter_count": to_ecologits_value(total_params_b),
        "output_token_count": completion_tokens,
        "request_latency": latency_s,
        "if_electricity_mix_adpe": factors.adpe_kgsbeq_per_kwh,
        "if_electricity_mix_pe": factors.pe_mj_per_kwh,
        "if_electricity_mix_gwp": factors.gwp_kg_per_kwh,
        "if_electricity_mix_wue": factors.wue_l_per_kwh,
    }
    central = compute_llm_impacts(
        **common,
        datacenter_pue=to_ecologits_value(pue, central=True),
        datacenter_wue=to_ecologits_value(wue, central=True),
    )
    bounds = compute_llm_impacts(
        **common,
        datacenter_pue=to_ecologits_value(pue),
        datacenter_wue=to_ecologits_value(wue),
    )

    notes = list(factors.warnings)
    if prompt_tokens:
        notes.append("input-tokens-not-modelled")
    sources = [
        {
            "key": "ecologits",
            "value": None,
            "min": None,
            "max": None,
            "unit": "",
            "source": f"EcoLogits {version} (GenAI Impact), ecologits.impacts.llm.compute_llm_impacts, "
            "https://ecologits.ai/latest/methodology/llm_inference/",
            "year": 2025,
        },
        pue.to_dict(),
        wue.to_dict(),
        *data.electricity_factor_constants(zone),
    ]

    return Impacts(
        measured=False,
        method="ecologits",
        source=f"EcoLogits {version}",
        zone=zone,
        energy_wh=None,
        wall_energy_wh=_figure(central.energy, bounds.energy, 1000, "Wh"),
        gwp_usage_g=_figure(central.usage.gwp, bounds.usage.gwp, 1000, "gCO2eq"),
        gwp_embodied_g=_figure(central.embodied.gwp, bounds.embodied.gwp, 1000, "gCO2eq"),
        gwp_g=_figure(central.gwp, bounds.gwp, 1000, "gCO2eq"),
        water_ml=_figure(central.wcf, bounds.wcf, 1000, "mL"),
        adpe_usage_kgsbeq=_figure(central.usage.adpe, bounds.usage.adpe, 1, "kgSbeq"),
        adpe_embodied_kgsbeq=_figure(central.embodied.adpe, bounds.embodied.adpe, 1, "kgSbeq"),
        adpe_kgsbeq=_figure(central.adpe, bounds.adpe, 1, "kgSbeq"),
        pe_usage_mj=_figure(central.usage.pe, bounds.usage.pe, 1, "MJ"),
        pe_embodied_mj=_figure(central.embodied.pe, bounds.embodied.pe, 1, "MJ"),
        pe_mj=_figure(central.pe, bounds.pe, 1, "MJ"),
        sources=sources,
        notes=list(dict.fromkeys(notes)),
    )
