"""Fixtures of the sync tests: a sandbox without rate limits and quick sync settings."""

from __future__ import annotations

import pytest

from mapping.sync import Journal, SyncSettings, Target


@pytest.fixture
def fast_sandbox(sandbox):
    """The function-scoped sandbox with its rate limits off, so tests need not wait."""
    sandbox.set_rate_limits(False)
    return sandbox


@pytest.fixture
def quick_settings():
    """Small batches, a high pace and near-instant backoff."""
    return SyncSettings(
        batch_size=4, rate=500, workers=3, max_attempts=4, backoff_base=0.001,
        backoff_cap=0.01, max_retry_after=0.05,
    )


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as opened:
        yield opened


@pytest.fixture
def target(fast_sandbox):
    return Target(fast_sandbox.api_key, base_url=fast_sandbox.base_url)
