"""Per-request energy on a real NVIDIA GPU, in one command.

    .venv/bin/python bench/gpu_energy.py [--out var/gpu-energy.json]
    .venv/bin/python bench/gpu_energy.py --dry-run   # no GPU: the same pipeline on CPU, NVML played
                                                     # by devtools/nvml_standin.py (figures meaningless)

From a checkout with the repository's requirements installed (`make install`), on one GPU, in
a few minutes: builds an untrained model from the tiny-model recipe, large enough to load the
GPU (--layers 16 --hidden-size 2048: about 0.6 B parameters, random weights, answers that always
run to max_tokens), starts a worker in front of `transformers serve` on CUDA (continuous
batching unless --no-batching) with `--meter nvml`, and prints, then writes as JSON:

* the device, and the NVML energy counter's refresh interval as observed (median time between
  two changes of its value, polled every millisecond);
* idle power: the counter over --idle-s with nothing running;
* J per request and J per output token at 1, 8 and 32 concurrent requests;
* conservation on the real counter: energy read = charged + idle, records = charged (0.1 %);
* the attribution fidelity figures of bench/attribution_fidelity.py.

Without NVML (no driver, no GPU, no nvidia-ml-py) it stops with an error and exit code 2: it
never falls back to an estimate. The worker runs with `--meter nvml`, which refuses to either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from attribution_fidelity import (  # noqa: E402
    CONSERVATION_TOLERANCE,
    measure_fidelity,
    one_request,
    parse_metrics,
    read_metrics,
)

from devtools.launcher import MODELS_DIR, ensure_chatty_model, start_worker  # noqa: E402

LOG_DIR = REPO / "var" / "bench-logs"
PROMPT = "Explique comment fonctionne une pompe à chaleur, étape par étape. " * 4


class NoNvml(RuntimeError):
    """NVML cannot be read here: the bench stops with exit code 2 and says why."""

    def __init__(self, reason: str):
        super().__init__(
            f"gpu_energy: NVML is not available here ({reason}). This bench measures an NVIDIA GPU's "
            "energy counter and does not fall back to an estimate; without a GPU, run it with --dry-run."
        )


def open_nvml(dry_run: bool, standin_dir: Path):
    """The pynvml module, initialised: the real one, or (dry run) the stand-in, which the
    worker started below imports as `pynvml` too."""
    if dry_run:
        from devtools import nvml_standin
        from devtools.nvml_standin import standin_path

        os.environ["PYTHONPATH"] = standin_path(standin_dir)
        nvml_standin.nvmlInit()
        return nvml_standin
    try:
        import pynvml

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            raise NoNvml("NVML sees no GPU")
    except NoNvml:
        raise
    except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded...
        raise NoNvml(f"{type(exc).__name__}: {exc}") from None
    return pynvml


def counter_mj(nvml, handle) -> int | None:
    try:
        return nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception:  # pre-Volta GPUs: no counter (the worker then integrates polled power)
        return None


def observe_refresh_s(nvml, handle, seconds: float) -> float | None:
    """Median time between two changes of the counter's value, polled without pause (a read
    takes microseconds; on the CPU stand-in the polling itself keeps the counter moving, where
    an idle machine could leave it still for the whole probe)."""
    changes, last = [], counter_mj(nvml, handle)
    if last is None:
        return None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = counter_mj(nvml, handle)
        if value != last:
            changes.append(time.monotonic())
            last = value
    gaps = [b - a for a, b in zip(changes, changes[1:], strict=False)]
    return statistics.median(gaps) if gaps else None


def idle_power_w(nvml, handle, seconds: float) -> float | None:
    start_mj, t0 = counter_mj(nvml, handle), time.monotonic()
    if start_mj is None:
        return nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
    time.sleep(seconds)
    return (counter_mj(nvml, handle) - start_mj) / 1000.0 / (time.monotonic() - t0)


async def load_levels(url: str, model: str, levels: list[int], rounds: int, max_tokens: int) -> list[dict]:
    """J per request and per output token with `level` requests at once, `rounds` times each."""
    out = []
    request = {"name": "load", "prompt": PROMPT, "max_tokens": max_tokens}
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=httpx.Limits(max_connections=None)) as client:
        await one_request(client, url, model, {**request, "max_tokens": 8})  # warm-up
        for level in levels:
            before, t0, records = await read_metrics(client, url), time.monotonic(), []
            for _ in range(rounds):
                records += await asyncio.gather(*(one_request(client, url, model, request) for _ in range(level)))
            wall_s, after = time.monotonic() - t0, await read_metrics(client, url)
            energy_j = sum(r["energy_j"] for r in records)
            tokens = sum(r["completion_tokens"] for r in records)
            out.append(
                {
                    "concurrency": level,
                    "requests": len(records),
                    "j_per_request": energy_j / len(records),
                    "j_per_output_token": energy_j / tokens,
                    "output_tokens_per_s": tokens / wall_s,
                    "mean_avg_concurrency": statistics.fmean(r["avg_concurrency"] for r in records),
                    "counter_j": after["read"] - before["read"],
                    "idle_j": after["idle"] - before["idle"],
                }
            )
            print(
                f"  {level:3d} at once: {out[-1]['j_per_request']:9.3f} J/request  "
                f"{out[-1]['j_per_output_token']:8.4f} J/output token  {out[-1]['output_tokens_per_s']:8.1f} tok/s",
                flush=True,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except NoNvml as exc:
        print(exc, file=sys.stderr)
        return 2


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="on CPU, with the NVML stand-in")
    parser.add_argument("--out", type=Path, help="JSON file (default: var/gpu-energy[-dry-run].json)")
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--hidden-size", type=int, default=2048, help="a multiple of 64")
    parser.add_argument("--no-batching", action="store_true", help="transformers serve one request at a time")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=2, help="rounds per concurrency level")
    parser.add_argument("--max-tokens", type=int, default=128, help="output tokens of each load request")
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--probe-s", type=float, default=2.0, help="time spent watching the counter refresh")
    parser.add_argument("--fidelity-requests", type=int, default=8)
    parser.add_argument("--fidelity-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    out = args.out or REPO / "var" / ("gpu-energy-dry-run.json" if args.dry_run else "gpu-energy.json")
    t0 = time.monotonic()

    with tempfile.TemporaryDirectory() as standin_dir:
        nvml = open_nvml(args.dry_run, Path(standin_dir))
        handle = nvml.nvmlDeviceGetHandleByIndex(0)
        name = nvml.nvmlDeviceGetName(handle)
        device = name.decode() if isinstance(name, bytes) else str(name)
        print(f"device: {device}{' (DRY RUN: the figures describe this CPU, not a GPU)' if args.dry_run else ''}")
        refresh_s = observe_refresh_s(nvml, handle, args.probe_s)
        print(
            f"NVML counter refresh interval (observed): {refresh_s if refresh_s is None else f'{refresh_s * 1000:.1f} ms'}"
        )

        if args.dry_run:  # the one-layer test model: the CPU serves it in seconds
            model = ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)
            placement = ["--device", "cpu"]
        else:
            model = ensure_chatty_model(
                MODELS_DIR / f"gpu-bench-{args.layers}x{args.hidden_size}",
                seed=21,
                layers=args.layers,
                hidden_size=args.hidden_size,
            )
            placement = ["--gpus", "0"]
        print(f"model: {model} ({time.monotonic() - t0:.0f} s so far)", flush=True)
        worker = start_worker(
            model,
            name="gpu-bench",
            extra=["--meter", "nvml", *placement],
            log_dir=LOG_DIR,
            batching=not args.no_batching,
        )
        try:
            worker.wait_ready(timeout_s=600)
            health = httpx.get(worker.url + "/health").json()
            if health["meter"]["method"] not in ("nvml", "nvml-power-polling"):  # never an estimate
                raise NoNvml(f"the worker meters with {health['meter']['method']}")
            time.sleep(2.0)  # the engine settles after its start
            idle_w = idle_power_w(nvml, handle, args.idle_s)
            print(f"idle power: {idle_w:.1f} W over {args.idle_s:g} s", flush=True)
            before = parse_metrics(httpx.get(worker.url + "/metrics").text)
            load = asyncio.run(load_levels(worker.url, "gpu-bench", args.concurrency, args.rounds, args.max_tokens))
            fidelity = asyncio.run(
                measure_fidelity(
                    worker.url, "gpu-bench", repeats=args.fidelity_repeats, n=args.fidelity_requests, seed=0
                )
            )
            time.sleep(1.0)  # a few idle samples: every interval settled
            after = parse_metrics(httpx.get(worker.url + "/metrics").text)
        finally:
            worker.stop()
        nvml.nvmlShutdown()

    delta = {k: after[k] - before[k] for k in ("read", "charged", "idle")}
    conservation = {
        **{f"{k}_j": v for k, v in delta.items()},
        "read_vs_charged_plus_idle": abs(delta["read"] - delta["charged"] - delta["idle"]) / delta["read"],
        "fidelity_run": fidelity["conservation"],
    }
    held = (
        max(conservation["read_vs_charged_plus_idle"], fidelity["conservation"]["records_vs_charged"])
        <= CONSERVATION_TOLERANCE
    )
    summary = {
        kind: {
            key: statistics.fmean(r[key] for name, r in fidelity["runs"].items() if name.startswith(kind))
            for key in ("mae_pp", "worst_pp", "rank_correlation", "saved")
        }
        for kind in ("at_once", "random")
    }
    result = {
        "dry_run": args.dry_run,
        "device": device,
        "engine": "transformers serve" + ("" if args.no_batching else " --continuous-batching"),
        "model": {"path": str(model), "layers": None if args.dry_run else args.layers},
        "counter_refresh_s": refresh_s,
        "idle_power_w": idle_w,
        "load": load,
        "conservation": conservation,
        "conservation_holds": held,
        "fidelity": {"summary": summary, **fidelity},
        "elapsed_s": time.monotonic() - t0,
    }
    print(
        f"conservation: read {delta['read']:.3f} J = charged {delta['charged']:.3f} + idle {delta['idle']:.3f} "
        f"(off by {conservation['read_vs_charged_plus_idle'] * 100:.4f} %): "
        f"{'holds' if held else 'BROKEN'} within 0.1 %"
    )
    for kind, figures in summary.items():
        print(
            f"fidelity {kind}: MAE {figures['mae_pp']:.2f} pp, worst {figures['worst_pp']:.2f} pp, "
            f"rank correlation {figures['rank_correlation']:.3f}, energy saved by overlapping {figures['saved']:.1%}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written: {out} ({result['elapsed_s']:.0f} s in all)")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
