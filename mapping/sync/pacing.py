"""Pacing and retry timing shared by the sync workers.

`RateLimiter` hands out request slots at a steady rate to every worker thread of a run, so the
run as a whole stays below the endpoint's per-project rate limit however many requests are in
flight. A 429 response with a Retry-After header pauses the limiter for every worker.

`RetryPolicy` decides how long to wait before the next attempt: the server's `Retry-After` when it
sent one, else exponential backoff with jitter, capped; and when to give up.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MARGIN_STEP_SECONDS = 0.02
MAX_MARGIN_SECONDS = 0.25
QUIET_GRANTS = 25


class RateLimiter:
    """Request slots for all threads of a run: evenly spaced, and never too many in a window.

    Two rules apply at once, on the times slots are granted: consecutive slots are at least
    1/`rate` seconds apart, and no `window_seconds` (plus `margin_seconds`) contains more than
    `window_count` slots (default: the rate rounded up, so 4.9/s allows 5 per second). The
    second rule is what the server counts, so a slot granted late never lets the next ones
    bunch up into a window that the server would reject with a 429. The margin grows after
    each 429 and shrinks again while none come.
    """

    def __init__(
        self,
        rate: float,
        *,
        window_count: int | None = None,
        window_seconds: float = 1.0,
        margin_seconds: float = 0.03,
        clock=time.monotonic,
    ):
        if rate <= 0:
            raise ValueError(f"the request rate must be above 0 per second, got {rate}")
        self.rate = rate
        self.window_count = window_count or max(1, math.ceil(rate))
        self.window_seconds = window_seconds
        self.base_margin = margin_seconds
        self.margin = margin_seconds
        self._grants_since_widened = 0
        self._interval = 1.0 / rate
        self._clock = clock
        self._next_slot = 0.0
        self._granted: deque[float] = deque(maxlen=self.window_count)
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take a slot now and return 0, or return the seconds to wait before trying again."""
        with self._lock:
            now = self._clock()
            wait = self._next_slot - now
            if len(self._granted) == self.window_count:
                wait = max(wait, self._granted[0] + self.window_seconds + self.margin - now)
            if wait > 0:
                return wait
            self._granted.append(now)
            self._next_slot = now + self._interval
            self._narrow_after_quiet_stretch()
            return 0.0

    def widen_margin(self) -> None:
        """Leave more room in each window after the server counted one request too many.

        Requests leave the process a little after their slot (thread scheduling, a busy
        core), so the server can see them closer together than they were granted. Each 429
        adds 20 ms to the margin, up to 250 ms, and 25 slots without one take 10 ms off again.
        """
        with self._lock:
            self.margin = min(MAX_MARGIN_SECONDS, self.margin + MARGIN_STEP_SECONDS)
            self._grants_since_widened = 0
        logger.info("rate limit margin widened to %.0f ms", self.margin * 1000)

    def _narrow_after_quiet_stretch(self) -> None:
        self._grants_since_widened += 1
        if self._grants_since_widened >= QUIET_GRANTS and self.margin > self.base_margin:
            self.margin = max(self.base_margin, self.margin - MARGIN_STEP_SECONDS / 2)
            self._grants_since_widened = 0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a slot; False when `stop` was set while waiting."""
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.try_acquire()
            if wait <= 0:
                return True
            if stop is None:
                time.sleep(wait)
            elif stop.wait(wait):
                return False

    def pause(self, seconds: float) -> None:
        """Grant no slot to any thread for the next `seconds` (after a 429)."""
        with self._lock:
            resume_at = self._clock() + seconds
            if resume_at > self._next_slot:
                self._next_slot = resume_at
                logger.info("pacing paused for %.2f s after a rate limit response", seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a retryable failure and how long to wait first.

    Attempt n (1-based) that failed waits `min(cap, base * 2**(n-1))`, of which the second half
    is random (jitter), unless the server asked for a wait with `Retry-After`: that is honoured,
    up to `max_retry_after`. After `max_attempts` attempts the failure is final.
    """

    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    max_retry_after: float = 300.0

    def should_retry(self, attempt: int) -> bool:
        return attempt < self.max_attempts

    def delay(self, attempt: int, retry_after: float | None = None, *, rng=random) -> float:
        """Seconds to wait after failed attempt number `attempt`."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
