"""Which power source a worker opens: NVML only for the GPUs its engine uses (named with
--gpus, or an engine on CUDA, then CUDA_VISIBLE_DEVICES), never for a CPU engine on a GPU
host (make run there: every demo worker would be labelled `nvml, measured` and charged the
same GPUs' idle draw). NVML is played by the stand-in module: no GPU here."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from devtools import launcher
from devtools.nvml_standin import FakeGpu, FakeNvml
from inference_workers.__main__ import serve_parser
from inference_workers.app import WorkerConfig, meter_source
from inference_workers.engines import EngineSpec, engine_environment
from inference_workers.power import GpuSelectionError, NvmlSource, gpus_to_meter, open_power_source


@pytest.fixture
def four_gpus(monkeypatch):
    """A host with four GPUs, each at 60 W idle, as `import pynvml` sees it; no CUDA variables."""
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu(energy_mj=0, power_mw=60_000) for _ in range(4)]))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def test_auto_meters_a_cpu_engine_on_the_cpu_even_on_a_gpu_host(four_gpus):
    source = open_power_source("auto", engine_on_gpu=False, environ={})
    assert not isinstance(source, NvmlSource)
    assert source.kind == "cpu" and source.method in ("rapl", "cpu-time-model")


def test_auto_meters_an_engine_on_cuda_with_nvml(four_gpus):
    source = open_power_source("auto", engine_on_gpu=True, environ={})
    assert isinstance(source, NvmlSource) and source.measured and len(source.devices) == 4  # none named: all
    named = open_power_source("auto", engine_on_gpu=True, environ={"CUDA_VISIBLE_DEVICES": "2,3"})
    assert isinstance(named, NvmlSource) and len(named.devices) == 2
    listed = open_power_source("auto", gpus=[1])  # --gpus: those, whatever the engine
    assert isinstance(listed, NvmlSource) and len(listed.devices) == 1


def test_an_explicit_nvml_meter_reads_nvml_whatever_the_engine(four_gpus):
    """`--meter nvml` (bench/gpu_energy.py --dry-run, with the stand-in) is the operator's choice."""
    assert isinstance(open_power_source("nvml", environ={}), NvmlSource)


@pytest.mark.parametrize(
    ("config", "gpus_read"),
    [
        (WorkerConfig("transformers", "m"), None),  # make run's demo workers: CPU engine, no GPU named
        (WorkerConfig("transformers", "m", device="cpu"), None),
        (WorkerConfig("transformers", "m", upstream="http://127.0.0.1:1"), None),
        (WorkerConfig("transformers", "m", device="cuda"), 4),
        (WorkerConfig("transformers", "m", device="cuda:1", gpus=[1]), 1),
        (WorkerConfig("transformers", "m", gpus=[0, 2]), 2),
        (WorkerConfig("vllm", "m"), 4),
        (WorkerConfig("vllm", "m", gpus=[3]), 1),
    ],
)
def test_the_worker_opens_nvml_only_where_its_engine_uses_a_gpu(four_gpus, config, gpus_read):
    source = meter_source(config)
    if gpus_read is None:
        assert not isinstance(source, NvmlSource) and source.kind == "cpu"
    else:
        assert isinstance(source, NvmlSource) and len(source.devices) == gpus_read


def test_the_worker_reads_the_gpus_cuda_visible_devices_names(four_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    source = meter_source(WorkerConfig("vllm", "m"))
    assert isinstance(source, NvmlSource) and len(source.devices) == 1
    # ...but CUDA_VISIBLE_DEVICES does not put a CPU engine on a GPU.
    assert not isinstance(meter_source(WorkerConfig("transformers", "m")), NvmlSource)


def test_the_launchers_demo_workers_are_metered_on_the_cpu(four_gpus, monkeypatch, tmp_path):
    """What make run starts, as its worker parses it, on a host with GPUs."""
    commands = []
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, **kwargs: commands.append(cmd))
    launcher.start_worker(tmp_path, name="demo")
    parser = argparse.ArgumentParser()
    serve_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(commands[0][3:])  # after `python -m inference_workers`
    config = WorkerConfig(args.engine, args.model, gpus=args.gpus, device=args.device, meter=args.meter)
    source = meter_source(config, engine_pid=None)
    assert not isinstance(source, NvmlSource) and source.kind == "cpu"


def test_gpus_to_meter_follows_gpus_then_cuda_visible_devices():
    assert gpus_to_meter([2], {"CUDA_VISIBLE_DEVICES": "0"}) == [2]  # --gpus wins
    assert gpus_to_meter(None, {}) is None  # none named: every GPU
    assert gpus_to_meter([], {"CUDA_VISIBLE_DEVICES": "3, 1"}) == [3, 1]
    assert gpus_to_meter([], {"CUDA_VISIBLE_DEVICES": "0,-1,2"}) == [0]  # CUDA stops at an invalid index
    assert gpus_to_meter([], {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}) == [1]


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        ({"CUDA_VISIBLE_DEVICES": "GPU-8f3a1c2e-0000-1111-2222-333344445555"}, "cannot map"),
        ({"CUDA_VISIBLE_DEVICES": "MIG-0"}, "cannot map"),
        ({"CUDA_VISIBLE_DEVICES": ""}, "hides every GPU"),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, "hides every GPU"),
        ({"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "FASTEST_FIRST"}, "PCI bus order"),
    ],
)
def test_gpus_the_meter_cannot_tell_nvml_are_an_error_not_a_fallback(four_gpus, environ, why):
    with pytest.raises(GpuSelectionError, match=why):
        gpus_to_meter([], environ)
    with pytest.raises(GpuSelectionError, match=why):  # auto does not hide it behind RAPL or an estimate
        open_power_source("auto", engine_on_gpu=True, environ=environ)


def test_the_engine_runs_on_gpu_for_vllm_and_transformers_on_cuda_only():
    assert EngineSpec("vllm", "m", port=1).runs_on_gpu
    assert EngineSpec("transformers", "m", port=1, gpus=[0]).runs_on_gpu
    assert EngineSpec("transformers", "m", port=1, device="cuda:1").runs_on_gpu
    assert not EngineSpec("transformers", "m", port=1).runs_on_gpu
    assert not EngineSpec("transformers", "m", port=1, gpus=[0], device="cpu").runs_on_gpu


def test_an_inherited_cuda_visible_devices_is_read_in_pci_order_by_the_engine_too(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    env = engine_environment(EngineSpec("vllm", "m", port=1))
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")  # the operator's own choice stays (the meter refuses it)
    assert engine_environment(EngineSpec("vllm", "m", port=1))["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"
