"""Per-project rate limits for one sandbox instance.

Rate limits follow Iterable's published figures (per project, so per sandbox): each endpoint
keeps a sliding window of the requests it accepted, and a request that would go over gets 429
`RateLimitExceeded`. `rate_limits=False` turns the documented limits off and a number
multiplies them (tests that send fast use a large multiplier). The `lists/subscribe` limit is
not documented, so it is off unless `Faults.subscribe_rate_limit` sets one.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """At most `count` requests per `seconds`."""

    count: int
    seconds: float


# "METHOD route" -> documented limit (creating a list has none documented)
DOCUMENTED_LIMITS: dict[str, Limit] = {
    "GET /api/lists": Limit(100, 1.0),
    "GET /api/lists/{listId}/size": Limit(5, 60.0),
    "GET /api/users/getFields": Limit(3, 1.0),
    "POST /api/users/bulkUpdate": Limit(5, 1.0),
    "POST /api/users/update": Limit(500, 1.0),
    "GET /api/users/getByEmail": Limit(100, 1.0),
}
SUBSCRIBE_ROUTE = "POST /api/lists/subscribe"
_LIST_SIZE_PATH = re.compile(r"/api/lists/[^/]+/size")


def route_name(method: str, path: str) -> str:
    """`GET /api/lists/101/size` -> `GET /api/lists/{listId}/size`, for limits and the log."""
    if _LIST_SIZE_PATH.fullmatch(path):
        path = "/api/lists/{listId}/size"
    return f"{method} {path}"


class SlidingWindow:
    """Arrival times of accepted requests: no `limit.seconds` may contain over `limit.count`.

    Requests are checked in arrival order almost always (each waits the same injected latency
    before the check). One that is checked after a later arrival, because the latency changed
    meanwhile, is checked against every window it falls in, so the rule applies either way.
    """

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self.stamps: deque[float] = deque()

    def try_acquire(self, now: float) -> bool:
        seconds = self.limit.seconds
        newest = max(now, self.stamps[-1]) if self.stamps else now
        # Keep one extra window of history for requests that are checked late.
        while self.stamps and self.stamps[0] <= newest - 2 * seconds:
            self.stamps.popleft()
        if now >= newest:
            full = bisect.bisect_right(self.stamps, now - seconds)
            if len(self.stamps) - full >= self.limit.count:
                return False
            self.stamps.append(now)
            return True
        return self._accept_late(now)

    def _accept_late(self, now: float) -> bool:
        seconds, stamps = self.limit.seconds, sorted([*self.stamps, now])
        for end in stamps:
            if now <= end < now + seconds:  # a window ending at `end` that contains `now`
                first = bisect.bisect_right(stamps, end - seconds)
                inside = bisect.bisect_right(stamps, end) - first
                if inside > self.limit.count:
                    return False
        self.stamps = deque(stamps)
        return True


class RateLimiter:
    """The project's rate limits; thread-safe."""

    def __init__(self, rate_limits: bool | float = True) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, SlidingWindow] = {}
        self.configure(rate_limits)

    def configure(self, rate_limits: bool | float) -> None:
        """True = documented limits, False = none, a number = documented limits times it."""
        if rate_limits is True:
            factor: float | None = 1.0
        elif rate_limits is False or rate_limits is None:
            factor = None
        else:
            factor = float(rate_limits)
            if factor <= 0:
                raise ValueError(f"rate limit multiplier must be positive, got {rate_limits!r}")
        with self._lock:
            self.factor = factor
            self._windows = {
                route: SlidingWindow(Limit(max(1, math.floor(limit.count * factor)), limit.seconds))
                for route, limit in DOCUMENTED_LIMITS.items()
            } if factor is not None else {}

    def set_subscribe_limit(self, per_second: float | None) -> None:
        with self._lock:
            if per_second is None:
                self._windows.pop(SUBSCRIBE_ROUTE, None)
                return
            # A fractional rate such as 0.5/s becomes 1 request per 2 seconds.
            count, seconds = (int(per_second), 1.0) if per_second >= 1 else (1, 1 / per_second)
            current = self._windows.get(SUBSCRIBE_ROUTE)
            if current is None or current.limit != Limit(count, seconds):
                self._windows[SUBSCRIBE_ROUTE] = SlidingWindow(Limit(count, seconds))

    def allow(self, route: str, now: float | None = None) -> bool:
        """Count one request on `route` that arrived at `now` (monotonic seconds, default:
        this moment); return False when it is over the limit (respond 429)."""
        with self._lock:
            window = self._windows.get(route)
            return window is None or window.try_acquire(time.monotonic() if now is None else now)

    def describe(self) -> dict[str, str]:
        with self._lock:
            return {
                route: f"{window.limit.count}/{window.limit.seconds:g}s"
                for route, window in sorted(self._windows.items())
            }
