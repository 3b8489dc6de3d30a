"""The worker's HTTP application: routes, and startup/shutdown in one place.

`lifespan` starts the engine (or attaches to one), waits until it answers, opens the
power source and starts the sampler; on exit it stops all of them, so stopping the
worker stops the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .engines import EngineError, EngineProcess, EngineSpec, free_port, probe_health
from .meter import Meter
from .metrics import WorkerMetrics
from .power import open_power_source
from .protocol import APIError, parse_chat_request
from .serving import ChatServing, Limits, request_id
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
    sampling_period_s: float = 0.05
    limits: Limits = field(default_factory=Limits)
    engine_args: list[str] = field(default_factory=list)
    engine_log: Path | None = None
    ready_timeout_s: float = 300.0
    health_period_s: float = 0.5

    @property
    def public_name(self) -> str:
        return self.served_model_name or self.model


def create_app(config: WorkerConfig) -> FastAPI:
    state: dict = {}

    def engine_alive() -> bool:
        engine: EngineProcess | None = state.get("engine")
        if engine is not None:
            return engine.alive() and state.get("engine_ready", True)
        return state.get("upstream_up", False)

    async def restart_engine(engine: EngineProcess, metrics: WorkerMetrics, meter: Meter) -> None:
        """Start a launched engine again after it died, backing off if it keeps dying."""
        now = asyncio.get_running_loop().time()
        recent = now - state.get("last_restart", float("-inf")) < 60
        state["restart_delay"] = min(state.get("restart_delay", 0.5) * 2, 60.0) if recent else 1.0
        state["last_restart"] = now
        state["engine_ready"] = False
        await asyncio.sleep(state["restart_delay"])
        log.warning("restarting the inference engine (waited %.0f s)", state["restart_delay"])
        try:
            engine.start()
            await asyncio.to_thread(engine.wait_ready, config.ready_timeout_s)
        except EngineError as exc:
            log.error("the inference engine did not come back: %s", exc)
            return
        follow = getattr(meter.source, "follow", None)
        if follow is not None:  # a CPU-time model reads the engine's own processes
            follow(engine.pid)
        metrics.engine_restarts.inc()
        state["engine_ready"] = True

    async def watch_engine(serving: ChatServing) -> None:
        """Notice an engine that died, so that requests in flight end now, not at a timeout,
        and start a launched engine again."""
        was_up = True
        while True:
            await asyncio.sleep(config.health_period_s)
            engine = state.get("engine")
            if engine is None:
                state["upstream_up"] = await asyncio.to_thread(probe_health, config.upstream)
            up = engine_alive()
            if was_up and not up:
                log.error("the inference engine went down; ending %d request(s) in flight", len(serving._inflight))
                await serving.abort_all()
            if engine is not None and not engine.alive():
                await restart_engine(engine, serving.metrics, serving.meter)
            was_up = engine_alive()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = None
        if config.upstream:
            upstream_url = config.upstream.rstrip("/")
            state["upstream_up"] = await asyncio.to_thread(probe_health, upstream_url)
            spec = EngineSpec(config.engine, config.model, port=0, gpus=config.gpus,
                              served_model_name=config.served_model_name, device=config.device)
        else:
            spec = EngineSpec(config.engine, config.model, port=config.engine_port or free_port(), gpus=config.gpus,
                              served_model_name=config.served_model_name, device=config.device,
                              extra_args=config.engine_args)
            engine = EngineProcess(spec, log_path=config.engine_log)
            engine.start()
            state["engine"] = engine
            upstream_url = spec.base_url
        try:
            if engine is not None:
                await asyncio.to_thread(engine.wait_ready, config.ready_timeout_s)
            source = open_power_source(config.meter, gpus=config.gpus, engine_pid=engine.pid if engine else None)
            meter = Meter(source, period_s=config.sampling_period_s)
            meter.start()
            metrics = WorkerMetrics(meter)
            serving = ChatServing(
                upstream_url=upstream_url, upstream_model=spec.upstream_model,
                served_names={config.public_name, config.model}, public_name=config.public_name,
                meter=meter, metrics=metrics, limits=config.limits, engine_alive=engine_alive,
            )
            state.update(meter=meter, metrics=metrics, serving=serving)
            watcher = asyncio.create_task(watch_engine(serving))
            try:
                yield
            finally:
                watcher.cancel()
                await serving.close()
                meter.stop()
        finally:
            if engine is not None:
                await asyncio.to_thread(engine.stop)

    app = FastAPI(title="Arena inference worker", lifespan=lifespan)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        serving: ChatServing = state["serving"]
        req = parse_chat_request(await request.body())
        serving.check(req)
        rid = request_id(request.headers.get("x-request-id"))
        if req.stream:
            return DisconnectAwareStreamingResponse(
                serving.stream(req, rid), media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Request-ID": rid},
            )
        return JSONResponse(await serving.complete(req, rid), headers={"X-Request-ID": rid})

    @app.get("/v1/requests/{rid}")
    async def finished_request(rid: str):
        """The energy of a finished request, aborted ones included, by its X-Request-ID."""
        record = state["serving"].finished.get(rid)
        if record is None:
            raise APIError(404, f"no finished request {rid!r} on this worker (still running, or too old)",
                           code="request_not_found")
        return record

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": config.public_name, "object": "model", "owned_by": "arena-worker"}]}

    @app.get("/health")
    async def health():
        meter: Meter = state["meter"]
        engine = state.get("engine")
        up = engine_alive()
        body = {
            "status": "ok" if up else "down",
            "engine": {"name": config.engine, "up": up, "pid": engine.pid if engine else None,
                       "upstream": config.upstream},
            "model": config.public_name,
            "meter": {"method": meter.source.method, "measured": meter.source.measured,
                      "devices": meter.source.devices, "sampling_period_s": meter.period_s},
            "active_requests": meter.active,
        }
        return JSONResponse(body, status_code=200 if up else 503)

    @app.get("/metrics")
    async def metrics():
        return Response(state["metrics"].render(), media_type="text/plain; version=0.0.4")

    return app
