"""Start workers as child processes: for `make run`, the tests and the benches.

Each worker runs `python -m inference_workers serve ...` in its own process group,
so stopping it (and the engine it launched) never leaves an orphan behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from inference_workers.engines import REPO, python_for_engine, stop_process_group

MODELS_DIR = REPO / "var" / "models"


def ensure_tiny_model(
    out_dir: Path, *, seed: int, layers: int, hidden_size: int = 128, train_steps: int | None = None
) -> Path:
    """Build a tiny demo model with the engine's interpreter unless it is already there."""
    if (out_dir / "config.json").exists() and (out_dir / "model.safetensors").exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        python_for_engine(),
        "-m",
        "devtools",
        "tiny-model",
        str(out_dir),
        "--seed",
        str(seed),
        "--layers",
        str(layers),
        "--hidden-size",
        str(hidden_size),
    ]
    if train_steps is not None:
        cmd += ["--train-steps", str(train_steps)]
    subprocess.run(cmd, cwd=REPO, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return out_dir


def ensure_chatty_model(out_dir: Path, *, seed: int, layers: int = 1, hidden_size: int = 128) -> Path:
    """An untrained model from the recipe whose generation never stops on its end token, so
    streams run exactly as long as max_tokens allows (tests of stop and disconnect, benches
    that need the same work in every round)."""
    model = ensure_tiny_model(out_dir, seed=seed, layers=layers, hidden_size=hidden_size, train_steps=0)
    path = model / "generation_config.json"
    config = json.loads(path.read_text())
    if config.get("eos_token_id") is not None:
        config["eos_token_id"] = None  # untrained, it would still emit it now and then
        path.write_text(json.dumps(config, indent=2))
    return model


@dataclass
class WorkerHandle:
    proc: subprocess.Popen
    port: int
    name: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with code {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker {self.name} not ready after {timeout_s:.0f} s")

    def stop(self, grace_s: float = 15.0) -> None:
        stop_process_group(self.proc, grace_s)


def start_worker(
    model_dir: Path,
    *,
    name: str,
    port: int | None = None,
    engine: str = "transformers",
    extra: list[str] = (),
    log_dir: Path | None = None,
    batching: bool = True,
) -> WorkerHandle:
    """A worker for `model_dir`, started (call `wait_ready`). With `batching`, a transformers
    engine runs with continuous batching (bench/engine_batching.py, tiny model on 2 shared
    CPU cores: about the same tokens/s with 1 stream, 2.4 to 7 times with 8 and 4.4 to 10 times
    with 32); without it, it takes every sampling parameter and runs one request at a time.
    Unless `extra` names `--gpus` or `--device cuda`, the engine runs on CPU, and so does the
    worker's meter (`--meter auto`: RAPL, else the CPU-time model), even on a host with GPUs:
    reading them would label every demo worker `nvml, measured` and charge each the same
    GPUs' idle draw."""
    # The port is bound and listening here, and the worker inherits the socket: from now until
    # the worker stops, no other process (another worker's engine picking a free port, an
    # outgoing connection) can take it, and a health check never reaches someone else.
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("127.0.0.1", port or 0))
    except OSError as exc:
        listening.close()
        raise RuntimeError(f"worker {name}: port {port} is taken ({exc.strerror}); is another arena running?") from None
    listening.listen(128)
    port = listening.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "inference_workers",
        "serve",
        "--engine",
        engine,
        "--model",
        str(model_dir),
        "--served-model-name",
        name,
        "--fd",
        str(listening.fileno()),
    ]
    if batching and engine == "transformers":
        cmd.append("--continuous-batching")
    out = subprocess.DEVNULL
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        cmd += ["--engine-log", str(log_dir / f"{name}-engine.log")]
        out = open(log_dir / f"{name}-worker.log", "ab")
    cmd += extra  # last: it may end with `-- ENGINE ARGS`
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(listening.fileno(),),
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    finally:
        listening.close()  # the worker holds its own copy
        if out is not subprocess.DEVNULL:
            out.close()
    return WorkerHandle(proc, port, name)
