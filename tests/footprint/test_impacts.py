"""compute_impacts: each formula against numbers computed by hand from the fixture constants."""

import pytest

from footprint import compute_impacts, default_profile, sum_impacts

ZONES = ["FRA", "DEU", "SWE", "USA", "EEE", "WOR"]
YEAR_S = 365 * 24 * 3600

# 1 Wh measured on two H100s over 10 s, sharing the GPUs with 3 other requests on average.
RECORD = {
    "measured": True,
    "method": "nvml",
    "energy_j": 3600.0,
    "gpu_j": 3600.0,
    "cpu_j": None,
    "duration_s": 10.0,
    "devices": ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"],
    "avg_concurrency": 4.0,
    "prompt_tokens": 100,
    "completion_tokens": 200,
}


def _triple_of(low, mid, high):
    return pytest.approx((low, mid, high), rel=1e-12)


def _range(constant):
    return constant.get("min", constant["value"]), constant["value"], constant.get("max", constant["value"])


def test_it_multiplies_measured_energy_by_pue(datacenter):
    pue_min, pue, pue_max = _range(datacenter["pue"])
    impacts = compute_impacts(RECORD)
    assert impacts.energy_wh.value == pytest.approx(1.0)
    wall = impacts.wall_energy_wh
    assert (wall.min, wall.value, wall.max) == _triple_of(pue_min * 1.0, pue * 1.0, pue_max * 1.0)


@pytest.mark.parametrize("zone", ZONES)
def test_it_computes_usage_gwp_for_each_zone(zone, datacenter, mixes):
    pue_min, pue, pue_max = _range(datacenter["pue"])
    gwp_kg_per_kwh = mixes[zone]["gwp"]
    # 1 Wh = 0.001 kWh; kg -> g is x1000, so the gram figure is Wh x PUE x kg/kWh.
    expected = (
        0.001 * pue_min * gwp_kg_per_kwh * 1000,
        0.001 * pue * gwp_kg_per_kwh * 1000,
        0.001 * pue_max * gwp_kg_per_kwh * 1000,
    )
    impacts = compute_impacts(RECORD, default_profile().in_zone(zone))
    assert (impacts.gwp_usage_g.min, impacts.gwp_usage_g.value, impacts.gwp_usage_g.max) == _triple_of(*expected)


@pytest.mark.parametrize("zone", ZONES)
def test_it_computes_water_for_each_zone(zone, datacenter, mixes):
    pue_min, pue, pue_max = _range(datacenter["pue"])
    wue_min, wue, wue_max = _range(datacenter["wue"])
    off_site = mixes[zone]["wue"]
    expected = (
        0.001 * (wue_min + pue_min * off_site) * 1000,
        0.001 * (wue + pue * off_site) * 1000,
        0.001 * (wue_max + pue_max * off_site) * 1000,
    )
    impacts = compute_impacts(RECORD, default_profile().in_zone(zone))
    assert (impacts.water_ml.min, impacts.water_ml.value, impacts.water_ml.max) == _triple_of(*expected)


@pytest.mark.parametrize("zone", ZONES)
def test_it_computes_adpe_and_pe_usage_for_each_zone(zone, datacenter, mixes):
    pue = datacenter["pue"]["value"]
    impacts = compute_impacts(RECORD, default_profile().in_zone(zone))
    assert impacts.adpe_usage_kgsbeq.value == pytest.approx(0.001 * pue * mixes[zone]["adpe"], rel=1e-12)
    assert impacts.pe_usage_mj.value == pytest.approx(0.001 * pue * mixes[zone]["pe"], rel=1e-12)


def test_it_charges_the_request_its_share_of_the_hardware_lifetime(datacenter, hardware):
    gpu = hardware["accelerators"]["nvidia_h100_80gb"]["gwp"]
    server = hardware["servers"]["gpu_server_8_slots"]
    life = datacenter["hardware_lifetime"]
    share_s = 10.0 / 4.0
    slots = 2 / server["gpu_slots"]
    expected_value = (2 * gpu["value"] + slots * server["gwp"]["value"]) * share_s / (life["value"] * YEAR_S) * 1000
    expected_min = (2 * gpu["min"] + slots * server["gwp"]["value"]) * share_s / (life["max"] * YEAR_S) * 1000
    expected_max = (2 * gpu["max"] + slots * server["gwp"]["value"]) * share_s / (life["min"] * YEAR_S) * 1000
    impacts = compute_impacts(RECORD)
    embodied = impacts.gwp_embodied_g
    assert (embodied.min, embodied.value, embodied.max) == _triple_of(expected_min, expected_value, expected_max)
    assert impacts.gwp_g.value == pytest.approx(impacts.gwp_usage_g.value + expected_value, rel=1e-12)


def test_it_computes_embodied_adpe_and_pe(datacenter, hardware):
    gpu = hardware["accelerators"]["nvidia_h100_80gb"]
    server = hardware["servers"]["gpu_server_8_slots"]
    per_s = 2.5 / (datacenter["hardware_lifetime"]["value"] * YEAR_S)
    impacts = compute_impacts(RECORD)
    assert impacts.adpe_embodied_kgsbeq.value == pytest.approx(
        (2 * gpu["adpe"]["value"] + 0.25 * server["adpe"]["value"]) * per_s, rel=1e-12
    )
    assert impacts.pe_embodied_mj.value == pytest.approx(
        (2 * gpu["pe"]["value"] + 0.25 * server["pe"]["value"]) * per_s, rel=1e-12
    )


def test_it_counts_a_missing_concurrency_as_a_request_alone():
    alone = compute_impacts({**RECORD, "avg_concurrency": None})
    shared = compute_impacts(RECORD)
    assert alone.gwp_embodied_g.value == pytest.approx(4 * shared.gwp_embodied_g.value)


def test_it_uses_the_profile_hardware_when_the_record_names_no_device(hardware, datacenter):
    impacts = compute_impacts({**RECORD, "devices": []})
    gpu = hardware["accelerators"]["nvidia_h100_80gb"]["gwp"]["value"]
    server = hardware["servers"]["gpu_server_8_slots"]["gwp"]["value"]
    expected = (gpu + server / 8) * 2.5 / (datacenter["hardware_lifetime"]["value"] * YEAR_S) * 1000
    assert impacts.gwp_embodied_g.value == pytest.approx(expected, rel=1e-12)


def test_it_leaves_embodied_out_for_an_unknown_device():
    impacts = compute_impacts({**RECORD, "devices": ["cpu"], "measured": False, "method": "cpu-model"})
    assert impacts.gwp_embodied_g is None
    assert impacts.gwp_g == impacts.gwp_usage_g
    assert "embodied-unknown-device" in impacts.notes
    assert impacts.measured is False


def test_it_leaves_embodied_adpe_out_when_the_accelerator_has_none():
    impacts = compute_impacts({**RECORD, "devices": ["NVIDIA B200"]})
    assert impacts.gwp_embodied_g is not None
    assert impacts.adpe_embodied_kgsbeq is None
    assert "embodied-adpe-missing" in impacts.notes


def test_it_recomputes_in_another_zone_without_touching_the_record(mixes):
    before = dict(RECORD)
    france = compute_impacts(RECORD)
    sweden = compute_impacts(RECORD, default_profile().in_zone("SWE"))
    assert before == RECORD
    assert sweden.zone == "SWE" and france.zone == "FRA"
    ratio = sweden.gwp_usage_g.value / france.gwp_usage_g.value
    assert ratio == pytest.approx(mixes["SWE"]["gwp"] / mixes["FRA"]["gwp"])


def test_it_lists_the_sources_it_used():
    impacts = compute_impacts(RECORD)
    keys = {source["key"] for source in impacts.sources}
    assert {"datacenter.pue", "datacenter.wue", "electricity_mix.FRA.gwp", "datacenter.hardware_lifetime"} <= keys
    assert "hardware.accelerators.nvidia_h100_80gb.gwp" in keys
    assert all(source["source"] and source["year"] and source["unit"] for source in impacts.sources)


def test_it_flags_zone_factors_that_fall_back_to_the_world_value():
    impacts = compute_impacts(RECORD, default_profile().in_zone("EEE"))
    assert "electricity-mix-wue-world" in impacts.notes


def test_it_rejects_a_record_without_energy():
    with pytest.raises(ValueError):
        compute_impacts({**RECORD, "energy_j": None})
    with pytest.raises(ValueError):
        compute_impacts({**RECORD, "energy_j": -1})


def test_it_rejects_an_unknown_zone():
    with pytest.raises(KeyError):
        default_profile().in_zone("XXX")


def test_it_sums_the_requests_of_a_conversation():
    one = compute_impacts(RECORD)
    total = sum_impacts([one, one, one])
    assert total.gwp_g.value == pytest.approx(3 * one.gwp_g.value)
    assert total.water_ml.max == pytest.approx(3 * one.water_ml.max)
    assert total.to_dict()["energy_wh"]["unit"] == "Wh"
