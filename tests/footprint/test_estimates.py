"""estimate_with_ecologits gives what EcoLogits itself gives on the same inputs."""

import json
from importlib import metadata, resources

import pytest
from ecologits.impacts.llm import compute_llm_impacts
from ecologits.utils.range_value import RangeValue

from footprint import default_profile, estimate_with_ecologits


def _mix(zone):
    shipped = json.loads(resources.files("ecologits").joinpath("data/electricity_mixes.json").read_text())
    return next(mix for mix in shipped["electricity_mixes"] if mix["name"] == zone)


def _direct(zone, total, active, tokens, latency, pue, wue):
    mix = _mix(zone)
    return compute_llm_impacts(
        model_active_parameter_count=active,
        model_total_parameter_count=total,
        output_token_count=tokens,
        request_latency=latency,
        if_electricity_mix_adpe=mix["adpe"],
        if_electricity_mix_pe=mix["pe"],
        if_electricity_mix_gwp=mix["gwp"],
        if_electricity_mix_wue=mix["wue"],
        datacenter_pue=pue,
        datacenter_wue=wue,
    )


def _bounds(value):
    if isinstance(value, RangeValue):
        return value.mean, value.min, value.max
    return value, value, value


@pytest.mark.parametrize("zone", ["FRA", "DEU", "SWE", "USA", "EEE", "WOR"])
@pytest.mark.parametrize(
    "total, active",
    [(8.0, 8.0), (70.0, 70.0), (141.0, 39.0), ((40.0, 60.0), (8.0, 12.0))],
)
def test_it_matches_ecologits_called_directly(zone, total, active):
    profile = default_profile()
    pue, wue = profile.pue, profile.wue
    as_ecologits = lambda v: RangeValue(min=v[0], max=v[1]) if isinstance(v, tuple) else v  # noqa: E731
    central = _direct(zone, as_ecologits(total), as_ecologits(active), 388, 12.5, pue.value, wue.value)
    bounds = _direct(
        zone,
        as_ecologits(total),
        as_ecologits(active),
        388,
        12.5,
        RangeValue(min=pue.min, max=pue.max),
        RangeValue(min=wue.min, max=wue.max),
    )
    estimate = estimate_with_ecologits(total, active, 212, 388, 12.5, zone)

    pairs = [
        (estimate.wall_energy_wh, central.energy, bounds.energy, 1000),
        (estimate.gwp_g, central.gwp, bounds.gwp, 1000),
        (estimate.gwp_usage_g, central.usage.gwp, bounds.usage.gwp, 1000),
        (estimate.gwp_embodied_g, central.embodied.gwp, bounds.embodied.gwp, 1000),
        (estimate.water_ml, central.wcf, bounds.wcf, 1000),
        (estimate.adpe_kgsbeq, central.adpe, bounds.adpe, 1),
        (estimate.pe_mj, central.pe, bounds.pe, 1),
    ]
    for figure, c, b, scale in pairs:
        assert figure.value == pytest.approx(_bounds(c.value)[0] * scale, rel=1e-12)
        assert figure.min == pytest.approx(_bounds(b.value)[1] * scale, rel=1e-12)
        assert figure.max == pytest.approx(_bounds(b.value)[2] * scale, rel=1e-12)
        assert figure.min <= figure.value <= figure.max


def test_it_labels_the_estimate_as_ecologits():
    estimate = estimate_with_ecologits(8, 8, 10, 100, 2.0, "FRA")
    assert estimate.source == f"EcoLogits {metadata.version('ecologits')}"
    assert estimate.measured is False and estimate.method == "ecologits"
    assert estimate.energy_wh is None
    assert estimate.wall_energy_wh.unit == "Wh"


def test_it_says_that_input_tokens_are_not_modelled():
    with_prompt = estimate_with_ecologits(8, 8, 500, 100, 2.0, "FRA")
    without = estimate_with_ecologits(8, 8, 0, 100, 2.0, "FRA")
    assert "input-tokens-not-modelled" in with_prompt.notes
    assert "input-tokens-not-modelled" not in without.notes
    assert with_prompt.gwp_g == without.gwp_g


def test_it_uses_the_default_zone_when_none_is_given():
    assert estimate_with_ecologits(8, 8, 0, 100, 2.0).zone == default_profile().zone
