"""Energy attribution against a deterministic simulated power trace.

The trace is the one test double of the meter: a counter whose cumulative energy is a
known function of time, so every expected share can be written down exactly.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_workers.attribution import AttributionError, EnergyLedger


def trace_energy_j(t: float) -> float:
    """Integral of P(t) = 80 + 40 sin^2(t) watts from 0 to t."""
    return 80 * t + 20 * t - 10 * math.sin(2 * t)


def run_schedule(requests, period_s=0.05, end_s=None):
    """Drive a ledger through request schedules and periodic samples, in time order.

    `requests` maps id -> dict(start, first, tokens=[times], end, prompt).
    """
    events = []
    for rid, r in requests.items():
        events.append((r["start"], 0, "begin", rid))
        events.append((r["first"], 1, "first", rid))
        for t in r["tokens"]:
            events.append((t, 2, "token", rid))
        events.append((r["end"], 3, "finish", rid))
    end_s = end_s if end_s is not None else max(r["end"] for r in requests.values()) + 0.2
    t = period_s
    while t < end_s:
        events.append((t, 4, "sample", None))
        t += period_s
    events.sort(key=lambda e: (e[0], e[1]))
    ledger = EnergyLedger(0.0, trace_energy_j(0.0))
    results = {}
    for t, _, kind, rid in events:
        e = trace_energy_j(t)
        if kind == "begin":
            ledger.begin(rid, t, e, requests[rid]["prompt"])
        elif kind == "first":
            ledger.first_token(rid, t, e)
            ledger.add_tokens(rid)
        elif kind == "token":
            ledger.add_tokens(rid)
        elif kind == "finish":
            results[rid] = ledger.finish(rid, t, e)
        else:
            ledger.sample(t, e)
    ledger.sample(end_s, trace_energy_j(end_s))
    return ledger, results, end_s


def request(start, first, end, n_tokens, prompt=50):
    step = (end - first) / (n_tokens + 1)
    return {
        "start": start,
        "first": first,
        "end": end,
        "prompt": prompt,
        "tokens": [first + step * (i + 1) for i in range(n_tokens)],
    }


schedules = st.lists(
    st.tuples(
        st.floats(0.0, 5.0),  # start
        st.floats(0.001, 1.0),  # prefill time
        st.floats(0.001, 3.0),  # decode time
        st.integers(0, 40),  # tokens
        st.integers(1, 2000),  # prompt tokens
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(schedules, st.sampled_from([0.02, 0.05, 0.1, 0.5]))
def test_it_conserves_energy_over_random_schedules(schedule, period_s):
    reqs = {
        f"r{i}": request(start, start + prefill, start + prefill + decode, n, prompt)
        for i, (start, prefill, decode, n, prompt) in enumerate(schedule)
    }
    ledger, results, end_s = run_schedule(reqs, period_s=period_s)
    delta_j = trace_energy_j(end_s) - trace_energy_j(0.0)
    charged_j = sum(r.energy_j for r in results.values())
    assert charged_j == pytest.approx(ledger.charged_j, rel=1e-9)
    assert charged_j + ledger.idle_j == pytest.approx(delta_j, rel=1e-3)
    assert all(r.energy_j >= 0 for r in results.values())
    assert ledger.active == 0 and ledger.pending_j == 0


def test_it_gives_identical_concurrent_requests_equal_shares():
    reqs = {"a": request(1.0, 1.2, 3.0, 30), "b": request(1.0, 1.2, 3.0, 30)}
    _, results, _ = run_schedule(reqs)
    assert results["a"].energy_j == pytest.approx(results["b"].energy_j, rel=0.05)
    busy_j = trace_energy_j(3.0) - trace_energy_j(1.0)
    assert results["a"].energy_j + results["b"].energy_j == pytest.approx(busy_j, rel=1e-9)
    assert results["a"].avg_concurrency == pytest.approx(2.0)


def test_it_gives_a_lone_request_all_the_busy_energy():
    reqs = {"solo": request(1.0, 1.3, 2.7, 25)}
    ledger, results, end_s = run_schedule(reqs, end_s=4.0)
    busy_j = trace_energy_j(2.7) - trace_energy_j(1.0)
    assert results["solo"].energy_j == pytest.approx(busy_j, rel=1e-9)
    assert ledger.idle_j == pytest.approx(trace_energy_j(4.0) - busy_j, rel=1e-9)
    assert results["solo"].avg_concurrency == pytest.approx(1.0)


def test_it_shares_nothing_between_requests_that_do_not_overlap():
    reqs = {"first": request(0.5, 0.6, 1.5, 10), "second": request(2.0, 2.1, 3.0, 10)}
    _, results, _ = run_schedule(reqs)
    assert results["first"].energy_j == pytest.approx(trace_energy_j(1.5) - trace_energy_j(0.5), rel=1e-9)
    assert results["second"].energy_j == pytest.approx(trace_energy_j(3.0) - trace_energy_j(2.0), rel=1e-9)


def test_it_charges_a_busier_decoder_more():
    # Same life, one streams three times as many tokens: it did more work.
    reqs = {"fast": request(1.0, 1.1, 3.0, 60), "slow": request(1.0, 1.1, 3.0, 20)}
    _, results, _ = run_schedule(reqs)
    ratio = results["fast"].energy_j / results["slow"].energy_j
    assert 2.0 < ratio < 3.5


def test_it_weighs_prefill_by_prompt_tokens():
    # Two requests in prefill over the same interval: the longer prompt pays more.
    ledger = EnergyLedger(0.0, 0.0)
    ledger.begin("long", 0.0, 0.0, prompt_tokens=300)
    ledger.begin("short", 0.0, 0.0, prompt_tokens=100)
    ledger.first_token("long", 1.0, 100.0)
    ledger.first_token("short", 1.0, 100.0)
    long_ = ledger.finish("long", 1.0, 100.0)
    short = ledger.finish("short", 1.0, 100.0)
    assert long_.energy_j == pytest.approx(75.0)
    assert short.energy_j == pytest.approx(25.0)


def test_it_uses_the_engine_usage_for_unsettled_prefill():
    # The estimate said 100 prompt tokens each; the engine's usage corrects one to 300.
    ledger = EnergyLedger(0.0, 0.0)
    ledger.begin("a", 0.0, 0.0, prompt_tokens=100)
    ledger.begin("b", 0.0, 0.0, prompt_tokens=100)
    a = ledger.finish("a", 1.0, 40.0, prompt_tokens=300, completion_tokens=0)
    assert a.energy_j == pytest.approx(30.0)
    b = ledger.finish("b", 1.0, 40.0)
    assert a.energy_j + b.energy_j == pytest.approx(40.0)


def test_it_accounts_a_request_that_never_produced_a_token():
    ledger = EnergyLedger(0.0, 0.0)
    ledger.begin("aborted", 0.0, 0.0, prompt_tokens=10)
    result = ledger.finish("aborted", 0.5, 12.0)
    assert result.energy_j == pytest.approx(12.0)


def test_it_restarts_from_a_counter_that_goes_back():
    ledger = EnergyLedger(0.0, 100.0)
    ledger.sample(1.0, 150.0)
    ledger.sample(2.0, 20.0)  # driver reset: no negative energy
    assert ledger.idle_j == pytest.approx(50.0)
    ledger.sample(3.0, 35.0)  # counted from the new value on
    assert ledger.idle_j == pytest.approx(65.0) and ledger.total_j == pytest.approx(65.0)


def test_it_rejects_unknown_requests_and_time_going_back():
    ledger = EnergyLedger(5.0, 0.0)
    with pytest.raises(AttributionError):
        ledger.finish("ghost", 6.0, 1.0)
    with pytest.raises(AttributionError):
        ledger.sample(4.0, 1.0)
    ledger.begin("x", 6.0, 1.0, 10)
    with pytest.raises(AttributionError):
        ledger.begin("x", 6.5, 1.0, 10)
