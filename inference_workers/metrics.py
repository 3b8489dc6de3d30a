"""Prometheus metrics of one worker: requests, tokens, energy charged and idle, power."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class WorkerMetrics:
    def __init__(self, meter):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "arena_worker_requests", "Chat completion requests by outcome", ["outcome"], registry=self.registry
        )
        self.prompt_tokens = Counter("arena_worker_prompt_tokens", "Prompt tokens processed", registry=self.registry)
        self.completion_tokens = Counter(
            "arena_worker_completion_tokens", "Completion tokens generated", registry=self.registry
        )
        self.engine_restarts = Counter(
            "arena_worker_engine_restarts",
            "Times the launched engine was started again after dying",
            registry=self.registry,
        )
        self.inflight = Gauge(
            "arena_worker_inflight_requests", "Requests streaming from the engine now", registry=self.registry
        )
        self.queued = Gauge(
            "arena_worker_queued_requests",
            "Requests waiting for the engine to take them (charged nothing while they wait)",
            registry=self.registry,
        )
        Gauge(
            "arena_worker_energy_charged_joules", "Energy charged to requests since start", registry=self.registry
        ).set_function(lambda: meter.charged_j)
        Gauge(
            "arena_worker_energy_idle_joules", "Energy of intervals with no request since start", registry=self.registry
        ).set_function(lambda: meter.idle_j)
        Gauge(
            "arena_worker_energy_read_joules", "Energy read from the power source since start", registry=self.registry
        ).set_function(lambda: meter.total_j)
        Gauge("arena_worker_power_watts", "Power over the last sampling period", registry=self.registry).set_function(
            lambda: meter.last_power_w or 0.0
        )
        Gauge(
            "arena_worker_energy_measured",
            "1 if energy is measured (NVML, RAPL), 0 if estimated",
            registry=self.registry,
        ).set_function(lambda: 1.0 if meter.source.measured else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
