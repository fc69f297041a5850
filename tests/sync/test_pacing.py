"""The shared rate limiter and the retry policy, on a fake clock (no timing assertions)."""

from __future__ import annotations

import random
import threading

import pytest

from mapping.sync.pacing import RateLimiter, RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _grant_times(limiter, clock, count):
    """Request `count` slots as eager workers would: wait the returned time, then request again."""
    granted = []
    while len(granted) < count:
        wait = limiter.try_acquire()
        if wait > 0:
            clock.now += wait
        else:
            granted.append(clock.now)
    return granted


def test_limiter_spaces_slots_by_rate():
    clock = FakeClock()
    limiter = RateLimiter(5.0, window_count=100, clock=clock)
    starts = _grant_times(limiter, clock, 6)
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:])] == [0.2] * 5


def test_limiter_window_never_over_limit():
    clock = FakeClock()
    limiter = RateLimiter(4.9, clock=clock)
    starts = _grant_times(limiter, clock, 60)
    for first in starts:
        assert len([s for s in starts if first <= s < first + 1.0]) <= 5
    # and the pace stays close to the rate: 60 slots in about 12 seconds
    assert starts[-1] - starts[0] < 60 / 4.7


def test_limiter_late_request_no_bunching():
    clock = FakeClock()
    limiter = RateLimiter(4.9, clock=clock)
    starts = _grant_times(limiter, clock, 3)
    clock.now += 0.5  # a worker came late for its slot
    starts += _grant_times(limiter, clock, 10)
    for first in starts:
        assert len([s for s in starts if first <= s < first + 1.0]) <= 5


def test_limiter_idle_banks_no_slots():
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock)
    assert limiter.try_acquire() == 0.0
    clock.now += 10
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.5)


def test_limiter_pause_delays_every_worker():
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock)
    limiter.pause(3.0)
    assert limiter.try_acquire() == pytest.approx(3.0)
    clock.now += 3.0
    assert limiter.try_acquire() == 0.0


def test_limiter_stop_event_ends_wait():
    limiter = RateLimiter(0.01)
    assert limiter.acquire() is True
    stop = threading.Event()
    stop.set()
    assert limiter.acquire(stop) is False


def test_limiter_zero_rate_rejected():
    with pytest.raises(ValueError, match="got 0"):
        RateLimiter(0)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "low", "high"),
    [
        (1, None, 0.25, 0.5),
        (2, None, 0.5, 1.0),
        (3, None, 1.0, 2.0),
        (10, None, 15.0, 30.0),  # capped
        (1, 7.0, 7.0, 7.0),  # Retry-After honoured
        (4, 0.0, 0.0, 0.0),
        (1, 9999.0, 300.0, 300.0),  # but not beyond max_retry_after
    ],
)
def test_retry_delays(attempt, retry_after, low, high):
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=30.0, max_retry_after=300.0)
    rng = random.Random(1)
    for _ in range(20):
        assert low <= policy.delay(attempt, retry_after, rng=rng) <= high


def test_retries_stop_at_max_attempts():
    policy = RetryPolicy(max_attempts=3)
    assert [policy.should_retry(n) for n in (1, 2, 3)] == [True, True, False]


def test_limiter_margin_widens_after_429_then_narrows():
    clock = FakeClock()
    limiter = RateLimiter(5.0, margin_seconds=0.03, clock=clock)
    limiter.widen_margin()
    limiter.widen_margin()
    assert limiter.margin == pytest.approx(0.07)
    _grant_times(limiter, clock, 25)
    assert limiter.margin == pytest.approx(0.06)
    for _ in range(100):
        limiter.widen_margin()
    assert limiter.margin == pytest.approx(0.25)
