"""Command line: `python -m inference_workers serve ...` (tiny demo models: `python -m devtools tiny-model`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .power import default_sampling_period_s


def _gpus(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gpus takes GPU indices separated by commas, not {text!r}") from None


def serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="serve one model replica, metered, in front of an engine")
    p.add_argument("--engine", choices=["vllm", "transformers"], required=True)
    p.add_argument("--model", required=True, help="Hugging Face id or local directory")
    p.add_argument("--served-model-name", help="the name clients use (default: --model)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument(
        "--fd",
        type=int,
        help="serve on this inherited, already listening socket instead of --host/--port (the launcher "
        "binds the port before the engine loads, so no other process can take it meanwhile)",
    )
    p.add_argument(
        "--gpus",
        type=_gpus,
        default=[],
        help="GPU indices in PCI bus order, e.g. 0,1 (tensor parallel over them); the meter reads exactly these",
    )
    p.add_argument("--device", help="transformers only: cpu, cuda, cuda:0 (default: cuda if --gpus else cpu)")
    p.add_argument("--upstream", help="attach to an engine already running at this URL instead of launching one")
    p.add_argument("--engine-port", type=int, help="port for the launched engine (default: a free one)")
    p.add_argument(
        "--continuous-batching",
        action="store_true",
        help="transformers: run the engine with --continuous-batching (requests batched; sampling "
        "parameters refused, as it applies one setting to all); vLLM always batches",
    )
    p.add_argument(
        "--engine-slots",
        type=int,
        help="requests sent to the engine at once, the others waiting in the worker, charged nothing "
        "(default: 1 for transformers without --continuous-batching, else 0: no limit)",
    )
    p.add_argument(
        "--meter",
        choices=["auto", "nvml", "rapl", "cpu", "off"],
        default="auto",
        help="power source; auto: NVML where the engine uses a GPU (--gpus, vLLM, transformers on cuda; "
        "the GPUs of --gpus, else CUDA_VISIBLE_DEVICES, else all), else RAPL, else the CPU-time model "
        "(measured: false); off: no energy record (benchmarks of the meter's cost only)",
    )
    p.add_argument(
        "--sampling-period",
        type=float,
        default=default_sampling_period_s(),
        help="seconds between power readings (default: %(default)s, from fixtures/meter.yaml)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("ARENA_WORKER_TOKEN") or None,
        help="a shared secret every request must bear as `Authorization: Bearer` (except /health and "
        "/metrics); default: $ARENA_WORKER_TOKEN",
    )
    p.add_argument("--max-tokens-limit", type=int, default=1024)
    p.add_argument("--max-prompt-chars", type=int, default=32_000)
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=120.0,
        help="seconds without a byte from the engine, waiting in its queue included",
    )
    p.add_argument("--engine-log", type=Path, help="file for the engine's output")
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("engine_args", nargs=argparse.REMAINDER, help="after --: extra arguments for the engine")


def run_serve(args) -> int:
    import uvicorn

    from .app import WorkerConfig, create_app
    from .serving import Limits

    engine_args = [a for a in args.engine_args if a != "--"]
    config = WorkerConfig(
        engine=args.engine,
        model=args.model,
        served_model_name=args.served_model_name,
        upstream=args.upstream,
        engine_port=args.engine_port,
        gpus=args.gpus,
        device=args.device,
        meter=args.meter,
        api_key=args.api_key,
        sampling_period_s=args.sampling_period,
        limits=Limits(
            max_tokens=args.max_tokens_limit, max_prompt_chars=args.max_prompt_chars, stall_timeout_s=args.stall_timeout
        ),
        engine_args=engine_args,
        continuous_batching=args.continuous_batching,
        engine_slots=args.engine_slots,
        engine_log=args.engine_log,
        ready_timeout_s=args.ready_timeout,
    )
    app = create_app(config)
    if args.fd is None:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5)
        return 0
    import socket

    listening = socket.socket(fileno=args.fd)  # family and type read from the descriptor
    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)).run(sockets=[listening])
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m inference_workers")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health probe otherwise
    return run_serve(args)


if __name__ == "__main__":
    sys.exit(main())
