"""Login throttling with a fake clock: free attempts, growing delay, window, per client."""

from __future__ import annotations

import pytest

from ui.throttle import LoginThrottle


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def throttle(clock):
    return LoginThrottle(clock=clock, base_delay=2.0, max_delay=60.0)


def fail(throttle, times, username="admin", client="10.0.0.1"):
    for _ in range(times):
        throttle.record_failure(username, client)


def test_five_failures_are_free(throttle):
    fail(throttle, 4)
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 0.0


def test_fifth_failure_starts_a_delay(throttle):
    fail(throttle, 5)
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 2.0


def test_delay_doubles_with_each_further_failure(throttle, clock):
    fail(throttle, 5)
    clock.now += 2.0
    fail(throttle, 1)
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 4.0
    clock.now += 4.0
    fail(throttle, 1)
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 8.0


def test_delay_is_capped(throttle):
    fail(throttle, 40)
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 60.0


def test_wait_shrinks_as_time_passes(throttle, clock):
    fail(throttle, 5)
    clock.now += 1.5
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 0.0


def test_failures_older_than_ten_minutes_are_forgotten(throttle, clock):
    fail(throttle, 5)
    clock.now += 601
    assert throttle.seconds_to_wait("admin", "10.0.0.1") == 0.0
    assert throttle.record_failure("admin", "10.0.0.1") == 1


def test_username_is_throttled_from_every_client(throttle):
    for number in range(5):
        throttle.record_failure("admin", f"10.0.0.{number}")
    assert throttle.seconds_to_wait("admin", "10.9.9.9") > 0


def test_client_is_throttled_for_every_username(throttle):
    for number in range(5):
        throttle.record_failure(f"user{number}", "10.0.0.1")
    assert throttle.seconds_to_wait("someone-else", "10.0.0.1") > 0
    assert throttle.seconds_to_wait("someone-else", "10.0.0.2") == 0.0


def test_usernames_are_compared_like_the_authenticator_does(throttle):
    fail(throttle, 5, username=" Admin ")
    assert throttle.seconds_to_wait("admin", "10.0.0.2") > 0


def test_success_clears_the_username_but_not_the_client(throttle):
    fail(throttle, 5)
    throttle.record_success("admin")
    assert throttle.seconds_to_wait("admin", "10.0.0.2") == 0.0
    assert throttle.seconds_to_wait("admin", "10.0.0.1") > 0
