"""The meter: a sampler thread around a power source and the attribution ledger.

The thread reads the source every `period_s`; request events (start, first token,
finish) read it too, so that interval edges fall exactly on them. Tokens are only
counted between readings: the hot path of a stream never touches the source.
With metering off (`NullSource`) there is no thread and every event is a no-op.
Beside a GPU source, a host CPU source (RAPL) is read at the same instants into a
ledger of its own: the same split, for `cpu_j`.
`record` turns what the ledger charged a finished request into its `EnergyRecord`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from .attribution import EnergyLedger, RequestEnergy
from .power import NullSource, PowerSource, default_sampling_period_s
from .protocol import EnergyRecord


class Meter:
    def __init__(
        self,
        source: PowerSource,
        period_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        host_source: PowerSource | None = None,
    ):
        self.source = source
        self.host_source = host_source
        self.enabled = not isinstance(source, NullSource)
        self.period_s = default_sampling_period_s() if period_s is None else period_s
        self._clock = clock
        self._lock = threading.Lock()
        self._ledger = EnergyLedger(clock(), source.read_energy_j())
        self._host_ledger = EnergyLedger(clock(), host_source.read_energy_j()) if host_source else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_power_w: float | None = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="energy-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.source.close()
        if self.host_source is not None:
            self.host_source.close()

    def _run(self) -> None:
        last = None
        while not self._stop.wait(self.period_s):
            self.sample()
            now = self._clock()
            power = self.source.power_w()
            if power is None and last is not None:
                # Sources without an instantaneous reading: average over the last period.
                power = (self.total_j - last[1]) / max(now - last[0], 1e-9)
            self.last_power_w = power
            last = (now, self.total_j)

    # -- readings and events ------------------------------------------------------
    def _ledgers(self) -> list[tuple[EnergyLedger, PowerSource]]:
        pairs = [(self._ledger, self.source)]
        if self._host_ledger is not None:
            pairs.append((self._host_ledger, self.host_source))
        return pairs

    def sample(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            for ledger, source in self._ledgers():
                ledger.sample(now, source.read_energy_j())

    def begin(self, rid: str, prompt_tokens: float) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            for ledger, source in self._ledgers():
                ledger.begin(rid, now, source.read_energy_j(), prompt_tokens)

    def first_token(self, rid: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            for ledger, source in self._ledgers():
                ledger.first_token(rid, now, source.read_energy_j())

    def add_tokens(self, rid: str, count: int = 1) -> None:
        if not self.enabled:
            return
        with self._lock:
            for ledger, _ in self._ledgers():
                ledger.add_tokens(rid, count)

    def finish(
        self, rid: str, *, prompt_tokens: int | None = None, completion_tokens: int | None = None
    ) -> RequestEnergy:
        if not self.enabled:
            return RequestEnergy(energy_j=0.0, duration_s=0.0, avg_concurrency=0.0, counted_tokens=0)
        with self._lock:
            now = self._clock()
            used = [
                ledger.finish(
                    rid, now, source.read_energy_j(), prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
                )
                for ledger, source in self._ledgers()
            ]
        return dataclasses.replace(used[0], host_cpu_j=used[1].energy_j) if len(used) > 1 else used[0]

    # -- totals for /metrics --------------------------------------------------------
    @property
    def charged_j(self) -> float:
        return self._ledger.charged_j

    @property
    def idle_j(self) -> float:
        return self._ledger.idle_j

    @property
    def total_j(self) -> float:
        return self._ledger.total_j

    @property
    def pending_j(self) -> float:
        with self._lock:
            return self._ledger.pending_j

    @property
    def active(self) -> int:
        return self._ledger.active

    def record(
        self, usage: RequestEnergy, *, prompt_tokens: int, completion_tokens: int, queued_s: float | None = None
    ) -> EnergyRecord:
        """The energy record of DESIGN.md for one finished request."""
        queued_s = round(queued_s, 4) if queued_s is not None else None
        if not self.enabled:  # nothing was measured or estimated: no figure, not a zero
            return EnergyRecord(
                measured=False,
                method=self.source.method,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                queued_s=queued_s,
            )
        energy_j = round(usage.energy_j, 6)
        host_cpu_j = round(usage.host_cpu_j, 6) if usage.host_cpu_j is not None else None
        return EnergyRecord(
            measured=self.source.measured,
            method=self.source.method,
            energy_j=energy_j,
            gpu_j=energy_j if self.source.kind == "gpu" else None,
            cpu_j=energy_j if self.source.kind == "cpu" else host_cpu_j,
            duration_s=round(usage.duration_s, 4),
            devices=list(self.source.devices),
            avg_concurrency=round(usage.avg_concurrency, 3),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            sampling_period_s=self.period_s,
            queued_s=queued_s,
        )
