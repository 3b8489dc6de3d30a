"""Engine command lines and environments, the requirement files that provide the
engines, and a real `transformers serve` started and stopped as a process group."""

from __future__ import annotations

import os
import re

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from inference_workers.engines import (
    REPO,
    EngineError,
    EngineProcess,
    EngineSpec,
    build_command,
    engine_environment,
    free_port,
    probe_health,
)
from tests.conftest import TEST_LOGS

REQUIREMENTS = REPO / "requirements"


def option(cmd: list[str], name: str) -> str:
    assert cmd.count(name) == 1, f"{name} appears {cmd.count(name)} times in {cmd}"
    return cmd[cmd.index(name) + 1]


# -- vLLM --------------------------------------------------------------------------------
def test_vllm_command_line():
    spec = EngineSpec(
        "vllm",
        "Qwen/Qwen3-8B",
        port=8201,
        gpus=[2, 3],
        served_model_name="qwen3-8b",
        extra_args=["--max-model-len", "8192"],
    )
    cmd = build_command(spec, executable="vllm")
    assert cmd[:3] == ["vllm", "serve", "Qwen/Qwen3-8B"]  # the model is positional
    assert option(cmd, "--host") == "127.0.0.1"  # the worker is the engine's only client
    assert option(cmd, "--port") == "8201"
    assert option(cmd, "--served-model-name") == "qwen3-8b"
    assert option(cmd, "--tensor-parallel-size") == "2"  # one shard per GPU
    assert "--enable-force-include-usage" in cmd  # usage in every stream, for the meter
    assert cmd[-2:] == ["--max-model-len", "8192"]  # extra arguments come last


def test_vllm_command_line_defaults():
    cmd = build_command(EngineSpec("vllm", "/models/llama", port=8202), executable="/opt/vllm/bin/vllm")
    assert cmd[0] == "/opt/vllm/bin/vllm"
    assert option(cmd, "--tensor-parallel-size") == "1"  # no GPU listed
    assert option(cmd, "--served-model-name") == "/models/llama"  # the model itself


def test_engine_environment_pins_the_gpus_in_pci_order(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    env = engine_environment(EngineSpec("vllm", "m", port=1, gpus=[1, 3]))
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # as NVML numbers them, so the meter reads the same GPUs
    assert env["HF_HUB_OFFLINE"] == "1"  # no download unless the operator asks


def test_engine_environment_without_gpus_leaves_cuda_alone(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = engine_environment(EngineSpec("transformers", "m", port=1))
    assert "CUDA_VISIBLE_DEVICES" not in env


# -- transformers ------------------------------------------------------------------------------
def test_transformers_command_line_on_cpu_and_cuda():
    cpu = build_command(EngineSpec("transformers", "var/models/x", port=8301), executable="transformers")
    assert cpu[:3] == ["transformers", "serve", "var/models/x"]
    assert option(cpu, "--host") == "127.0.0.1"
    assert option(cpu, "--port") == "8301"
    assert option(cpu, "--device") == "cpu"
    cuda = build_command(EngineSpec("transformers", "m", port=8302, gpus=[0]), executable="transformers")
    assert option(cuda, "--device") == "cuda"
    chosen = build_command(
        EngineSpec("transformers", "m", port=8303, gpus=[0, 1], device="cuda:1"), executable="transformers"
    )
    assert option(chosen, "--device") == "cuda:1"


def test_transformers_with_continuous_batching_bounds_its_cache_on_cpu_only():
    cpu = build_command(EngineSpec("transformers", "m", port=1, continuous_batching=True), executable="transformers")
    assert "--continuous-batching" in cpu
    assert option(cpu, "--cb-num-blocks") == "256" and option(cpu, "--cb-max-batch-tokens") == "512"
    chosen = build_command(
        EngineSpec("transformers", "m", port=1, continuous_batching=True, extra_args=["--cb-num-blocks", "64"]),
        executable="transformers",
    )
    assert chosen.count("--cb-num-blocks") == 1 and option(chosen, "--cb-num-blocks") == "64"
    cuda = build_command(
        EngineSpec("transformers", "m", port=1, gpus=[0], continuous_batching=True), executable="transformers"
    )
    assert "--continuous-batching" in cuda and "--cb-num-blocks" not in cuda  # sized from GPU memory
    assert "--continuous-batching" not in build_command(EngineSpec("transformers", "m", port=1), executable="t")


def test_only_transformers_without_batching_runs_one_request_at_a_time():
    assert EngineSpec("transformers", "m", port=1).runs_one_at_a_time
    assert not EngineSpec("transformers", "m", port=1, continuous_batching=True).runs_one_at_a_time
    assert not EngineSpec("vllm", "m", port=1).runs_one_at_a_time


def test_the_worker_queues_only_in_front_of_an_engine_that_runs_one_request_at_a_time():
    from inference_workers.app import WorkerConfig

    assert WorkerConfig("transformers", "m").slots == 1
    assert WorkerConfig("transformers", "m", continuous_batching=True).slots == 0
    assert WorkerConfig("vllm", "m").slots == 0
    assert WorkerConfig("transformers", "m", engine_slots=0).slots == 0  # the engine's own queue, as before
    assert WorkerConfig("vllm", "m", engine_slots=4).slots == 4


def test_an_unknown_engine_is_an_error():
    with pytest.raises(EngineError, match="unknown engine 'llama.cpp'"):
        build_command(EngineSpec("llama.cpp", "m", port=1), executable="x")


def test_the_model_name_each_engine_expects_upstream():
    assert EngineSpec("vllm", "Qwen/Qwen3-8B", port=1, served_model_name="qwen").upstream_model == "qwen"
    assert EngineSpec("vllm", "Qwen/Qwen3-8B", port=1).upstream_model == "Qwen/Qwen3-8B"
    # transformers serve names a model by its id or path, whatever the public name
    assert EngineSpec("transformers", "var/models/t", port=1, served_model_name="tiny").upstream_model == "var/models/t"


# -- requirement files -------------------------------------------------------------------------
def pins(path) -> dict[str, str]:
    """name -> version specifier of each requirement line (comments, -r lines skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", line)
        found[match.group(1).lower()] = match.group(3).strip()
    return found


def test_vllm_is_pinned_for_gpu_nodes_only():
    gpu = REQUIREMENTS / "gpu.txt"
    assert gpu.exists(), "requirements/gpu.txt provides `vllm serve` on GPU nodes"
    assert re.search(r"^vllm==\S+", gpu.read_text(), flags=re.M), "vllm must be pinned exactly (vllm==X.Y.Z)"
    for name in ("base.txt", "engine-cpu.txt", "test.txt"):
        # Comments may talk about vLLM; no requirement line may pull it (and CUDA) onto CPU hosts.
        lines = [line.split("#", 1)[0] for line in (REQUIREMENTS / name).read_text().lower().splitlines()]
        assert not any("vllm" in line for line in lines), f"{name} must not install vLLM on CPU hosts"
        assert "vllm" not in pins(REQUIREMENTS / name)


def test_the_cpu_engine_pins_transformers_inside_the_range_vllm_accepts():
    spec = pins(REQUIREMENTS / "engine-cpu.txt")["transformers"]
    assert spec.startswith("=="), f"transformers must be pinned exactly, not {spec!r}"
    assert Version(spec[2:]) in SpecifierSet(">=5.16,<5.21")


# -- a real engine -----------------------------------------------------------------------------
@pytest.mark.slow
def test_stopping_an_engine_leaves_no_process_of_its_group(tiny_model):
    TEST_LOGS.mkdir(parents=True, exist_ok=True)
    engine = EngineProcess(
        EngineSpec("transformers", str(tiny_model), port=free_port()), log_path=TEST_LOGS / "engine-stop.log"
    )
    engine.start()
    pgid = engine.pid
    try:
        assert os.getpgid(engine.pid) == engine.pid  # the leader of a group of its own
        engine.wait_ready(timeout_s=180)
        assert probe_health(engine.spec.base_url)
    finally:
        engine.stop()
    assert not engine.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)  # no process of the group is left
    assert not probe_health(engine.spec.base_url)
