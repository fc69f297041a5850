"""Login throttling: a growing delay after repeated failed logins, per username and per client.

Pure logic without streamlit so it can be tested with a fake clock. The app keeps one
``LoginThrottle`` per server process (see ``ui.auth``), shared by every browser session.

Policy: failures older than ``window_seconds`` (10 minutes) are forgotten. Once a username or
a client has ``free_failures`` (5) failures in the window, each further attempt must wait
``base_delay * 2 ** (failures - free_failures)`` seconds after the latest failure, capped at
``max_delay``. A successful login clears the username's failures (not the client's, so one
known account cannot be used to reset the counter while guessing others).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FREE_FAILURES = 5
WINDOW_SECONDS = 600.0
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 300.0


@dataclass
class _FailureHistory:
    """Times of recent failed logins for one username or one client."""

    times: deque[float] = field(default_factory=deque)

    def forget_before(self, oldest_kept: float) -> None:
        while self.times and self.times[0] < oldest_kept:
            self.times.popleft()


class LoginThrottle:
    """Decide whether a login attempt may be checked now, and record its outcome.

    Thread-safe: Streamlit runs each browser session's script in its own thread.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        free_failures: int = FREE_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        base_delay: float = BASE_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        self._clock = clock
        self._free_failures = free_failures
        self._window = window_seconds
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._lock = threading.Lock()
        self._by_username: dict[str, _FailureHistory] = {}
        self._by_client: dict[str, _FailureHistory] = {}

    def seconds_to_wait(self, username: str, client: str) -> float:
        """Return how long the caller must wait before trying this username from this client.

        0.0 means the attempt may be checked now.
        """
        with self._lock:
            now = self._clock()
            waits = [
                self._wait_for(self._by_username, _username_key(username), now),
                self._wait_for(self._by_client, client, now),
            ]
        return max(waits)

    def record_failure(self, username: str, client: str) -> int:
        """Record a failed login; return the failures of this username in the window."""
        with self._lock:
            now = self._clock()
            user_history = self._history(self._by_username, _username_key(username), now)
            client_history = self._history(self._by_client, client, now)
            user_history.times.append(now)
            client_history.times.append(now)
            return len(user_history.times)

    def record_success(self, username: str) -> None:
        """Forget the failures of a username after it logged in."""
        with self._lock:
            self._by_username.pop(_username_key(username), None)

    def delay_after(self, failures: int) -> float:
        """Return the wait that ``failures`` failures in the window impose after the latest one."""
        if failures < self._free_failures:
            return 0.0
        exponent = min(failures - self._free_failures, 30)
        return min(self._base_delay * 2**exponent, self._max_delay)

    def _history(self, table: dict[str, _FailureHistory], key: str, now: float
                 ) -> _FailureHistory:
        history = table.setdefault(key, _FailureHistory())
        history.forget_before(now - self._window)
        return history

    def _wait_for(self, table: dict[str, _FailureHistory], key: str, now: float) -> float:
        history = table.get(key)
        if history is None:
            return 0.0
        history.forget_before(now - self._window)
        if not history.times:
            del table[key]
            return 0.0
        allowed_at = history.times[-1] + self.delay_after(len(history.times))
        return max(0.0, allowed_at - now)


def _username_key(username: str) -> str:
    # streamlit-authenticator compares usernames lower-cased and stripped; throttle the same way.
    return username.strip().lower()
