"""Properties of compute_impacts that hold for any record, zone and profile."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from footprint import compute_impacts, data, default_profile

FIGURES = [
    "wall_energy_wh",
    "gwp_usage_g",
    "gwp_embodied_g",
    "gwp_g",
    "water_ml",
    "adpe_usage_kgsbeq",
    "adpe_embodied_kgsbeq",
    "adpe_kgsbeq",
    "pe_usage_mj",
    "pe_embodied_mj",
    "pe_mj",
]
USAGE = ["wall_energy_wh", "gwp_usage_g", "water_ml", "adpe_usage_kgsbeq", "pe_usage_mj"]

zones = st.sampled_from(data.known_zones())
energies = st.floats(min_value=0, max_value=1e7, allow_nan=False)
devices = st.lists(
    st.sampled_from(["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA B200", "cpu"]), max_size=8
)
records = st.fixed_dictionaries(
    {
        "measured": st.booleans(),
        "method": st.sampled_from(["nvml", "rapl", "cpu-model"]),
        "energy_j": energies,
        "duration_s": st.floats(min_value=0, max_value=3600, allow_nan=False),
        "devices": devices,
        "avg_concurrency": st.one_of(st.none(), st.floats(min_value=0, max_value=512, allow_nan=False)),
    }
)


def _constant(key, low, mid, high, unit):
    return data.Constant(key=key, value=mid, unit=unit, source="test", year=2024, min=low, max=high)


@st.composite
def profiles(draw):
    base = default_profile()
    pue = sorted(draw(st.lists(st.floats(min_value=1, max_value=3), min_size=3, max_size=3)))
    wue = sorted(draw(st.lists(st.floats(min_value=0, max_value=5), min_size=3, max_size=3)))
    life = sorted(draw(st.lists(st.floats(min_value=0.5, max_value=10), min_size=3, max_size=3)))
    return replace(
        base.in_zone(draw(zones)),
        pue=_constant("pue", *pue, "ratio"),
        wue=_constant("wue", *wue, "L/kWh"),
        hardware_lifetime=_constant("life", *life, "years"),
    )


@settings(max_examples=150, deadline=None)
@given(records, profiles())
def test_it_keeps_every_value_inside_its_range(record, profile):
    impacts = compute_impacts(record, profile)
    for name in FIGURES:
        figure = getattr(impacts, name)
        if figure is not None:
            assert figure.min <= figure.value <= figure.max, name
            assert figure.min >= 0, name


@settings(max_examples=150, deadline=None)
@given(records, energies, energies, profiles())
def test_it_grows_with_energy(record, first, second, profile):
    low, high = sorted((first, second))
    smaller = compute_impacts({**record, "energy_j": low}, profile)
    larger = compute_impacts({**record, "energy_j": high}, profile)
    for name in FIGURES:
        a, b = getattr(smaller, name), getattr(larger, name)
        if a is not None:
            assert a.value <= b.value and a.min <= b.min and a.max <= b.max, name


@settings(max_examples=100, deadline=None)
@given(records, profiles())
def test_it_gives_zero_usage_impacts_for_zero_energy(record, profile):
    impacts = compute_impacts({**record, "energy_j": 0.0}, profile)
    for name in USAGE:
        figure = getattr(impacts, name)
        assert (figure.min, figure.value, figure.max) == (0, 0, 0), name
