"""The worker's HTTP application: routes, its typed state, and startup/shutdown in one place.

`running_worker` starts the engine (or attaches to one), waits until it answers, opens
the power source and starts the sampler; on exit it stops all of them, so stopping the
worker stops the engine. What it built is one `WorkerState`, on `app.state.worker`,
which also watches the engine and starts a launched one again when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from .engines import EngineError, EngineProcess, EngineSpec, free_port, probe_health
from .meter import Meter
from .metrics import WorkerMetrics
from .power import PowerSource, default_sampling_period_s, open_host_cpu_source, open_power_source
from .protocol import APIError, FinishedRequest, check_body_size, parse_chat_request
from .serving import REQUEST_ID, ChatServing, Limits, request_id
from .streaming import DisconnectAwareStreamingResponse

log = logging.getLogger("inference_workers")


@dataclass
class WorkerConfig:
    engine: str
    model: str
    served_model_name: str | None = None
    upstream: str | None = None  # attach to a running engine instead of launching one
    engine_port: int | None = None
    gpus: list[int] = field(default_factory=list)
    device: str | None = None
    meter: str = "auto"
    sampling_period_s: float = field(default_factory=default_sampling_period_s)
    limits: Limits = field(default_factory=Limits)
    engine_args: list[str] = field(default_factory=list)
    continuous_batching: bool = False  # transformers serve --continuous-batching
    engine_slots: int | None = None  # requests the engine runs at once (0: no limit); None: from the engine
    engine_log: Path | None = None
    # A shared secret every request must bear (`Authorization: Bearer ...`), as `vllm serve
    # --api-key` asks; /health and /metrics stay open for probes and Prometheus.
    api_key: str | None = None
    ready_timeout_s: float = 300.0
    health_period_s: float = 0.5

    @property
    def public_name(self) -> str:
        return self.served_model_name or self.model

    @property
    def slots(self) -> int:
        """How many requests go to the engine at once (0: all). An engine that runs one at a
        time gets one, so the others wait where the meter sees them waiting."""
        if self.engine_slots is not None:
            return self.engine_slots
        spec = EngineSpec(self.engine, self.model, port=0, continuous_batching=self.continuous_batching)
        return 1 if spec.runs_one_at_a_time else 0


@dataclass
class WorkerState:
    """The running worker: its engine, meter and serving, and what it knows of the engine's health.

    Built by `running_worker`; routes reach it through `_worker(request)`."""

    config: WorkerConfig
    engine: EngineProcess | None  # None: attached to an engine already running (--upstream)
    meter: Meter
    metrics: WorkerMetrics
    serving: ChatServing = field(init=False)  # needs `engine_alive`: built in __post_init__
    upstream_url: str = ""
    upstream_model: str = ""
    engine_ready: bool = True  # false while a launched engine is being started again
    upstream_up: bool = False  # the last health probe of an attached engine
    restart_delay_s: float = 0.5
    last_restart_s: float = float("-inf")  # event-loop time of the last restart

    def __post_init__(self) -> None:
        self.serving = ChatServing(
            upstream_url=self.upstream_url,
            upstream_model=self.upstream_model,
            served_names={self.config.public_name, self.config.model},
            public_name=self.config.public_name,
            meter=self.meter,
            metrics=self.metrics,
            limits=self.config.limits,
            engine_alive=self.engine_alive,
            vocab_size=model_vocab_size(self.config.model),
            engine_slots=self.config.slots,
            shared_sampling=self.config.engine == "transformers" and self.config.continuous_batching,
        )

    def engine_alive(self) -> bool:
        if self.engine is not None:
            return self.engine.alive() and self.engine_ready
        return self.upstream_up

    async def watch_engine(self) -> None:
        """Notice an engine that died, so that requests in flight end now, not at a timeout,
        and start a launched engine again."""
        was_up = True
        while True:
            await asyncio.sleep(self.config.health_period_s)
            if self.engine is None:
                self.upstream_up = await asyncio.to_thread(probe_health, self.upstream_url)
            up = self.engine_alive()
            if was_up and not up:
                log.error("the inference engine went down; ending %d request(s) in flight", self.serving.in_flight)
                await self.serving.abort_all()
            if self.engine is not None and not self.engine.alive():
                await self.restart_engine()
            was_up = self.engine_alive()

    async def restart_engine(self) -> None:
        """Start a launched engine again after it died, backing off if it keeps dying."""
        engine = self.engine
        assert engine is not None, "an attached engine is not ours to restart"
        now_s = asyncio.get_running_loop().time()
        recent = now_s - self.last_restart_s < 60
        self.restart_delay_s = min(self.restart_delay_s * 2, 60.0) if recent else 1.0
        self.last_restart_s = now_s
        self.engine_ready = False
        await asyncio.sleep(self.restart_delay_s)
        log.warning("restarting the inference engine (waited %.0f s)", self.restart_delay_s)
        try:
            engine.start()
            await asyncio.to_thread(engine.wait_ready, self.config.ready_timeout_s)
        except EngineError as exc:
            log.error("the inference engine did not come back: %s", exc)
            return
        follow = getattr(self.meter.source, "follow", None)
        if follow is not None:  # a CPU-time model reads the engine's own processes
            follow(engine.pid)
        self.metrics.engine_restarts.inc()
        self.engine_ready = True


def model_vocab_size(model: str) -> int | None:
    """The vocabulary size in a local model's config.json; None for a hub id or an odd config
    (logit_bias's token ids then go unchecked to the engine)."""
    try:
        config = json.loads((Path(model) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    size = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return size if isinstance(size, int) and size > 0 else None


def engine_spec(config: WorkerConfig) -> EngineSpec:
    """The engine to launch, or (port 0) the one `--upstream` names, which is only asked
    for what it calls the model."""
    if config.upstream:
        return EngineSpec(
            config.engine,
            config.model,
            port=0,
            gpus=config.gpus,
            served_model_name=config.served_model_name,
            device=config.device,
            continuous_batching=config.continuous_batching,
        )
    return EngineSpec(
        config.engine,
        config.model,
        port=config.engine_port or free_port(),
        gpus=config.gpus,
        served_model_name=config.served_model_name,
        device=config.device,
        extra_args=config.engine_args,
        continuous_batching=config.continuous_batching,
    )


def meter_source(config: WorkerConfig, engine_pid: int | None = None) -> PowerSource:
    """The power source `--meter` asks for, given where the engine computes: NVML only for
    GPUs named with --gpus or an engine on CUDA (`EngineSpec.runs_on_gpu`); the engine's
    process tree for the CPU-time model, or the whole host where the engine is attached."""
    placement = EngineSpec(config.engine, config.model, port=0, gpus=config.gpus, device=config.device)
    return open_power_source(config.meter, gpus=config.gpus, engine_pid=engine_pid, engine_on_gpu=placement.runs_on_gpu)


@contextlib.asynccontextmanager
async def running_worker(config: WorkerConfig) -> AsyncIterator[WorkerState]:
    """The worker, started: engine answering, meter sampling, engine watched. On exit
    everything stops, the launched engine last."""
    spec = engine_spec(config)
    engine = None
    upstream_up = False
    if config.upstream:
        upstream_url = config.upstream.rstrip("/")
        upstream_up = await asyncio.to_thread(probe_health, upstream_url)
    else:
        engine = EngineProcess(spec, log_path=config.engine_log)
        engine.start()
        upstream_url = spec.base_url
    try:
        if engine is not None:
            await asyncio.to_thread(engine.wait_ready, config.ready_timeout_s)
        source = meter_source(config, engine_pid=engine.pid if engine else None)
        meter = Meter(source, period_s=config.sampling_period_s, host_source=open_host_cpu_source(source))
        meter.start()
        worker = WorkerState(
            config,
            engine=engine,
            meter=meter,
            metrics=WorkerMetrics(meter),
            upstream_url=upstream_url,
            upstream_model=spec.upstream_model,
            upstream_up=upstream_up,
        )
        watcher = asyncio.create_task(worker.watch_engine())
        try:
            yield worker
        finally:
            watcher.cancel()
            await worker.serving.close()
            meter.stop()
    finally:
        if engine is not None:
            await asyncio.to_thread(engine.stop)


# -- routes ---------------------------------------------------------------------------
router = APIRouter()


def _worker(request: Request) -> WorkerState:
    return request.app.state.worker


async def _api_error(request: Request, exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """FastAPI's own 404s and 405s in OpenAI's error shape, like the worker's errors."""
    error = APIError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None)
    return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(APIError(400, "invalid request", code="invalid_parameter").body(), status_code=400)


async def _read_body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY_BYTES: a declared size over it is refused
    before a byte is read, and a chunked body that turns out over it as soon as it does."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        check_body_size(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        check_body_size(size)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request):
    serving = _worker(request).serving
    req = parse_chat_request(await _read_body(request))
    serving.check(req)
    rid = request_id(request.headers.get("x-request-id"))
    if req.stream:
        return DisconnectAwareStreamingResponse(
            serving.stream(req, rid),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Request-ID": rid},
        )
    return JSONResponse(await serving.complete(req, rid), headers={"X-Request-ID": rid})


@router.get("/v1/requests/{rid}")
async def finished_request(request: Request, rid: str) -> FinishedRequest:
    """The energy of a finished request, aborted ones included, by its X-Request-ID."""
    if not REQUEST_ID.fullmatch(rid):  # never a kept id (see request_id): not echoed back either
        raise APIError(404, "no finished request with this id on this worker", code="request_not_found")
    finished = _worker(request).serving.finished.get(rid)
    if finished is None:
        raise APIError(
            404, f"no finished request {rid!r} on this worker (still running, or too old)", code="request_not_found"
        )
    return finished


@router.get("/v1/models")
async def models(request: Request):
    name = _worker(request).config.public_name
    return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "arena-worker"}]}


@router.get("/health")
async def health(request: Request):
    worker = _worker(request)
    source = worker.meter.source
    up = worker.engine_alive()
    body = {
        "status": "ok" if up else "down",
        "engine": {
            "name": worker.config.engine,
            "up": up,
            "pid": worker.engine.pid if worker.engine else None,
            "upstream": worker.config.upstream,
            "continuous_batching": worker.config.continuous_batching,
            "slots": worker.config.slots,
        },
        "model": worker.config.public_name,
        "meter": {
            "method": source.method,
            "measured": source.measured,
            "devices": source.devices,
            "sampling_period_s": worker.meter.period_s,
            "host_cpu": worker.meter.host_source.method if worker.meter.host_source else None,
        },
        "active_requests": worker.meter.active,
        "queued_requests": worker.serving.queued,
    }
    return JSONResponse(body, status_code=200 if up else 503)


@router.get("/metrics")
async def metrics(request: Request):
    return Response(_worker(request).metrics.render(), media_type="text/plain; version=0.0.4")


def create_app(config: WorkerConfig) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with running_worker(config) as worker:
            app.state.worker = worker
            yield

    # No redirect for a trailing slash: an OpenAI-style API answers the path it was given.
    app = FastAPI(title="Arena inference worker", lifespan=lifespan, redirect_slashes=False)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(router)
    if config.api_key:
        app.middleware("http")(_bearer_check(config.api_key))
    return app


OPEN_PATHS = ("/health", "/metrics")


def _bearer_check(api_key: str):
    expected = f"Bearer {api_key}".encode()

    async def check(request: Request, call_next):
        if request.url.path not in OPEN_PATHS:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                error = APIError(401, "missing or wrong API key", code="invalid_api_key")
                return JSONResponse(error.body(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    return check
