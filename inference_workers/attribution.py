"""Split a power source's energy among the requests that used it.

Pure bookkeeping, no I/O: the caller feeds readings of a cumulative energy counter
(time in seconds, energy in joules) together with request events, and gets back each
request's share. The rule, as DESIGN.md states it:

* The timeline is cut into intervals at every periodic sample and at every request
  event (start, first token, finish), so within one interval the set of active
  requests and each one's phase (prefill or decode) are constant.
* An interval's energy is split among its active requests in proportion to the tokens
  each processed in it: generated tokens counted as they stream during decode; during
  prefill, the request's prompt tokens spread evenly over its prefill time. If no
  active request processed a token in the interval, they share it equally.
* An interval with no active request is idle energy: reported, never charged.

A prefill weight is only known once the prefill is over (its duration is needed), so
intervals wait, unsettled, until every request in them has left prefill; a request that
finishes forces the settlement of its own intervals with what is known then. Every
interval is settled exactly once and wholly, hence the invariant

    charged_j + idle_j == last reading - first reading   (once no request is active)
"""

from __future__ import annotations

from dataclasses import dataclass, field


class AttributionError(ValueError):
    """An event that breaks the ledger's rules (unknown request, time going back)."""


@dataclass
class _Request:
    prompt_tokens: float
    started_s: float
    first_token_s: float | None = None
    tokens_in_interval: int = 0
    counted_tokens: int = 0
    energy_j: float = 0.0
    busy_s: float = 0.0
    concurrency_weighted_s: float = 0.0
    open_intervals: int = 0

    def prefill_s(self, now_s: float) -> float:
        end = self.first_token_s if self.first_token_s is not None else now_s
        return max(end - self.started_s, 0.0)


@dataclass
class _Interval:
    start_s: float
    end_s: float
    energy_j: float
    # request id -> ("prefill", seconds) or ("decode", tokens)
    members: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class RequestEnergy:
    """What one request was charged, from its start to its finish."""

    energy_j: float
    duration_s: float
    avg_concurrency: float
    counted_tokens: int
    host_cpu_j: float | None = None  # set by the meter: the host CPU's share, read beside the GPUs


class EnergyLedger:
    def __init__(self, start_s: float, energy_j: float):
        self._last_s = start_s
        self._last_raw_j = energy_j
        self._total_j = 0.0
        self._requests: dict[str, _Request] = {}
        self._pending: list[_Interval] = []
        self.charged_j = 0.0
        self.idle_j = 0.0

    # -- readings -------------------------------------------------------------
    def sample(self, now_s: float, energy_j: float) -> None:
        """Close the current interval at a new reading of the counter."""
        if now_s < self._last_s:
            raise AttributionError(f"time went back: {now_s} < {self._last_s}")
        # A counter that goes back (driver reset, a new process to read) restarts from its
        # new value: no negative energy, and what it counts next is not lost.
        delta_j = max(energy_j - self._last_raw_j, 0.0)
        self._last_raw_j = energy_j
        interval = _Interval(self._last_s, now_s, delta_j)
        for rid, req in self._requests.items():
            if req.first_token_s is None:
                interval.members[rid] = ("prefill", now_s - self._last_s)
            else:
                interval.members[rid] = ("decode", float(req.tokens_in_interval))
            req.tokens_in_interval = 0
            req.open_intervals += 1
            req.busy_s += interval.duration_s
            req.concurrency_weighted_s += interval.duration_s * len(self._requests)
        self._last_s = now_s
        self._total_j += delta_j
        if not interval.members:
            self.idle_j += delta_j
        else:
            self._pending.append(interval)
            self._settle(force_for=None)

    # -- request events -------------------------------------------------------
    def begin(self, rid: str, now_s: float, energy_j: float, prompt_tokens: float) -> None:
        if rid in self._requests:
            raise AttributionError(f"request {rid!r} already active")
        self.sample(now_s, energy_j)
        self._requests[rid] = _Request(prompt_tokens=max(prompt_tokens, 0.0), started_s=now_s)

    def first_token(self, rid: str, now_s: float, energy_j: float) -> None:
        req = self._get(rid)
        if req.first_token_s is not None:
            return
        self.sample(now_s, energy_j)
        req.first_token_s = now_s

    def add_tokens(self, rid: str, count: int = 1) -> None:
        req = self._get(rid)
        req.tokens_in_interval += count
        req.counted_tokens += count

    def finish(
        self,
        rid: str,
        now_s: float,
        energy_j: float,
        *,
        prompt_tokens: float | None = None,
        completion_tokens: int | None = None,
    ) -> RequestEnergy:
        """Close the request; the engine's final usage, when given, corrects the weights
        of its intervals not yet settled (prompt size, and chunk counts that were not one
        token each)."""
        req = self._get(rid)
        self.sample(now_s, energy_j)
        if prompt_tokens is not None:
            req.prompt_tokens = float(prompt_tokens)
        if completion_tokens is not None and req.counted_tokens > 0 and completion_tokens != req.counted_tokens:
            scale = completion_tokens / req.counted_tokens
            for interval in self._pending:
                phase, weight = interval.members.get(rid, ("", 0.0))
                if phase == "decode":
                    interval.members[rid] = ("decode", weight * scale)
        if req.first_token_s is None:
            req.first_token_s = now_s  # its prefill ends here, whatever happened
        self._settle(force_for=rid)
        del self._requests[rid]
        return RequestEnergy(
            energy_j=req.energy_j,
            duration_s=now_s - req.started_s,
            avg_concurrency=(req.concurrency_weighted_s / req.busy_s) if req.busy_s > 0 else 1.0,
            counted_tokens=req.counted_tokens,
        )

    # -- state ------------------------------------------------------------------
    @property
    def active(self) -> int:
        return len(self._requests)

    @property
    def total_j(self) -> float:
        """Energy read from the source since the ledger started."""
        return self._total_j

    @property
    def pending_j(self) -> float:
        return sum(interval.energy_j for interval in self._pending)

    # -- internals ----------------------------------------------------------------
    def _get(self, rid: str) -> _Request:
        try:
            return self._requests[rid]
        except KeyError:
            raise AttributionError(f"unknown request {rid!r}") from None

    def _settle(self, force_for: str | None) -> None:
        still_pending = []
        for interval in self._pending:
            ready = all(
                phase == "decode" or self._requests[rid].first_token_s is not None
                for rid, (phase, _) in interval.members.items()
            )
            if ready or (force_for is not None and force_for in interval.members):
                self._split(interval)
            else:
                still_pending.append(interval)
        self._pending = still_pending

    def _split(self, interval: _Interval) -> None:
        weights = {}
        for rid, (phase, amount) in interval.members.items():
            req = self._requests[rid]
            if phase == "decode":
                weights[rid] = amount
            else:
                prefill_s = req.prefill_s(self._last_s)
                weights[rid] = req.prompt_tokens * (amount / prefill_s) if prefill_s > 0 else req.prompt_tokens
        total = sum(weights.values())
        for rid, weight in weights.items():
            share = weight / total if total > 0 else 1.0 / len(weights)
            req = self._requests[rid]
            req.energy_j += interval.energy_j * share
            req.open_intervals -= 1
        self.charged_j += interval.energy_j
