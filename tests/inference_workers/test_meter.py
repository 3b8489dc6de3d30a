"""The meter's energy record: a typed `EnergyRecord` whose JSON keeps the keys the arena reads."""

from __future__ import annotations

import pytest

from inference_workers.meter import Meter
from inference_workers.power import NullSource, PowerSource, default_sampling_period_s
from inference_workers.protocol import EnergyRecord

# The energy record on the wire (DESIGN.md): the arena reads exactly these keys.
WIRE_KEYS = [
    "measured",
    "method",
    "energy_j",
    "gpu_j",
    "cpu_j",
    "duration_s",
    "devices",
    "avg_concurrency",
    "prompt_tokens",
    "completion_tokens",
    "sampling_period_s",
    "queued_s",  # newer: older records lack it, and parse (extra keys are ignored the other way)
]


class SteppedGpu(PowerSource):
    """A GPU counter that moves 2 J per read."""

    kind = "gpu"
    measured = True
    method = "nvml-energy-counter"

    def __init__(self):
        self.devices = ["GPU 0: Fake"]
        self.energy_j = 0.0

    def read_energy_j(self) -> float:
        self.energy_j += 2.0
        return self.energy_j


def metered_request(meter: Meter) -> EnergyRecord:
    meter.begin("r", 10)
    meter.first_token("r")
    meter.add_tokens("r", 4)
    used = meter.finish("r", prompt_tokens=10, completion_tokens=4)
    return meter.record(used, prompt_tokens=10, completion_tokens=4)


def test_it_records_a_measured_request_as_an_energy_record():
    record = metered_request(Meter(SteppedGpu(), period_s=0.1))
    assert isinstance(record, EnergyRecord) and record.has_figures
    assert record.measured is True and record.method == "nvml-energy-counter"
    assert record.energy_j == pytest.approx(
        4.0
    )  # read at begin, first token, finish and record.gpu_j == record.energy_j and record.cpu_j is None
    assert record.devices == ["GPU 0: Fake"] and record.sampling_period_s == 0.1
    assert (record.prompt_tokens, record.completion_tokens) == (10, 4)


def test_it_keeps_the_wire_keys_and_round_trips():
    wire = metered_request(Meter(SteppedGpu())).model_dump(mode="json")
    assert list(wire) == WIRE_KEYS
    assert EnergyRecord.model_validate(wire).model_dump(mode="json") == wire


def test_it_records_no_figures_with_the_meter_off():
    record = metered_request(Meter(NullSource()))
    assert not record.has_figures and record.method == "off" and record.measured is False
    wire = record.model_dump(mode="json")
    assert list(wire) == WIRE_KEYS
    assert all(
        wire[k] is None for k in ("energy_j", "gpu_j", "cpu_j", "duration_s", "avg_concurrency", "sampling_period_s")
    )
    assert wire["devices"] == [] and wire["completion_tokens"] == 4
    assert EnergyRecord.model_validate(wire) == record


def test_it_samples_at_the_period_of_fixtures_meter_yaml_by_default():
    assert Meter(NullSource()).period_s == default_sampling_period_s() > 0
