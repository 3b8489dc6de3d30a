"""Rate limits slide: a burst at the end of one minute still counts at the start of the next, so a
boundary never lets twice the limit through (the clock is set by the test, the cache is real)."""

from __future__ import annotations

import pytest

from arena import limits


class Clock:
    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(60 * 1_000_000 + 59.0)  # one second before a window ends
    monkeypatch.setattr(limits, "time", clock)
    return clock


def test_a_burst_across_a_window_boundary_is_still_limited(clock, clear_cache):
    assert all(limits._hit("t:boundary", 3) for _ in range(3))
    clock.now += 2  # one second into the next window
    assert not limits._hit("t:boundary", 3)


def test_the_previous_window_weighs_less_as_the_window_slides(clock, clear_cache):
    assert all(limits._hit("t:slide", 4) for _ in range(4))
    clock.now += 1 + 45  # three quarters into the next window: the 4 earlier hits weigh 1
    assert all(limits._hit("t:slide", 4) for _ in range(3))
    assert not limits._hit("t:slide", 4)


def test_a_quiet_minute_resets_everything(clock, clear_cache):
    assert all(limits._hit("t:quiet", 2) for _ in range(2))
    assert not limits._hit("t:quiet", 2)
    clock.now += 121
    assert limits._hit("t:quiet", 2) and limits._hit("t:quiet", 2)
