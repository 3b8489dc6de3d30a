"""Inference engines the worker fronts: their command lines, launch, readiness, stop.

The worker is the engine's only client, so the engine always listens on 127.0.0.1.
`vllm serve` runs on GPU nodes (from requirements/gpu.txt, in its own environment);
`transformers serve` runs on CPU or CUDA (requirements/engine-cpu.txt). Both speak the
OpenAI protocol; only their command lines and the `model` field they expect differ.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ENGINES = ("vllm", "transformers")
# transformers serve --continuous-batching sizes its KV cache from free memory: on CPU that was
# 18 GB of a 23 GB host for a one-layer tiny model. 256 blocks of 256 tokens hold 32 streams of
# 1,024 tokens; 512 tokens per forward pass keep a batch's prefill memory small.
CPU_BATCHING_CACHE_ARGS = ["--cb-num-blocks", "256", "--cb-max-batch-tokens", "512"]


class EngineError(RuntimeError):
    """The engine could not be started or stopped; the message says why."""


@dataclass
class EngineSpec:
    engine: str
    model: str
    port: int
    gpus: list[int] = field(default_factory=list)
    served_model_name: str | None = None
    device: str | None = None  # transformers only: "cpu", "cuda", "cuda:0"...
    extra_args: list[str] = field(default_factory=list)
    continuous_batching: bool = False  # transformers only: vLLM always batches

    @property
    def runs_one_at_a_time(self) -> bool:
        """`transformers serve` without continuous batching generates for one request at a time."""
        return self.engine == "transformers" and not self.continuous_batching

    @property
    def transformers_device(self) -> str:
        """Where `transformers serve` runs: --device, else CUDA where GPUs are listed, else CPU."""
        return self.device or ("cuda" if self.gpus else "cpu")

    @property
    def runs_on_gpu(self) -> bool:
        """Whether the engine computes on a GPU, so that the meter reads NVML: vLLM always
        (its CUDA build, requirements/gpu.txt); transformers on a CUDA device only. On a GPU
        host a CPU engine is metered on the CPU, not charged the GPUs' draw."""
        if self.engine == "vllm":
            return True
        return self.transformers_device.startswith("cuda")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def upstream_model(self) -> str:
        """What the engine expects in a request's `model` field."""
        if self.engine == "vllm":
            return self.served_model_name or self.model
        return self.model  # transformers serve names the model by its id or path


def engine_executable(engine: str) -> str:
    """The engine's CLI: ARENA_<ENGINE>_BIN, else on PATH, else the repo's engine venv."""
    override = os.environ.get(f"ARENA_{engine.upper()}_BIN")
    if override:
        return override
    found = shutil.which(engine)
    if found:
        return found
    local = REPO / ".venv-engine" / "bin" / engine
    if local.exists():
        return str(local)
    raise EngineError(
        f"cannot find the `{engine}` command: install requirements/"
        f"{'gpu' if engine == 'vllm' else 'engine-cpu'}.txt or set ARENA_{engine.upper()}_BIN"
    )


def build_command(spec: EngineSpec, executable: str | None = None) -> list[str]:
    """The engine's command line, bound to 127.0.0.1."""
    exe = executable or engine_executable(spec.engine)
    if spec.engine == "vllm":
        cmd = [
            exe,
            "serve",
            spec.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(spec.port),
            "--served-model-name",
            spec.served_model_name or spec.model,
            "--tensor-parallel-size",
            str(max(len(spec.gpus), 1)),
            # Usage in every stream, whether or not the client asked: the meter reconciles
            # its token counts with it.
            "--enable-force-include-usage",
            "--disable-uvicorn-access-log",
        ]
    elif spec.engine == "transformers":
        device = spec.transformers_device
        cmd = [
            exe,
            "serve",
            spec.model,  # force-loads this one model for every request
            "--host",
            "127.0.0.1",
            "--port",
            str(spec.port),
            "--device",
            device,
            "--log-level",
            "warning",
        ]
        if spec.continuous_batching:
            cmd.append("--continuous-batching")
            if device == "cpu" and "--cb-num-blocks" not in spec.extra_args:
                cmd += CPU_BATCHING_CACHE_ARGS
    else:
        raise EngineError(f"unknown engine {spec.engine!r}: use one of {', '.join(ENGINES)}")
    return cmd + list(spec.extra_args)


def engine_environment(spec: EngineSpec) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    if spec.gpus:
        # NVML numbers GPUs in PCI bus order; make CUDA agree so --gpus means the same
        # devices for the engine and the meter.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpus)
    elif "CUDA_VISIBLE_DEVICES" in env:
        # Inherited: the meter reads those indices in NVML's (PCI bus) order, so CUDA must too.
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return env


def _die_with_parent() -> None:
    """In the engine's child process, before exec: ask Linux to SIGTERM it when the worker
    dies, even by SIGKILL, so an engine never outlives its worker holding the GPU."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the worker's own shutdown still stops the engine
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EngineProcess:
    """An engine launched as a child process, in its own process group."""

    def __init__(self, spec: EngineSpec, log_path: Path | None = None):
        self.spec = spec
        self.command = build_command(spec)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                self.command,
                env=engine_environment(self.spec),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: stopping it stops its children
                preexec_fn=_die_with_parent,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise EngineError(f"the engine exited with code {self.proc.returncode}: {self._log_tail()}")
            if probe_health(self.spec.base_url):
                return
            time.sleep(0.25)
        self.stop()
        raise EngineError(f"the engine was not ready after {timeout_s:.0f} s: {self._log_tail()}")

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, grace_s)

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-2000:]
        return "(no log)"


def stop_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the child's whole process group, SIGKILL it if it outlives `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def probe_health(base_url: str, timeout_s: float = 2.0) -> bool:
    try:
        return httpx.get(base_url + "/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def python_for_engine() -> str:
    """The interpreter that has torch and transformers (for the tiny-model recipe):
    ARENA_ENGINE_PYTHON, else the repo's engine venv, else this very interpreter (which
    `python -m devtools` then reports as "no engine interpreter")."""
    override = os.environ.get("ARENA_ENGINE_PYTHON")
    if override:
        return override
    local = REPO / ".venv-engine" / "bin" / "python"
    return str(local) if local.exists() else sys.executable
