"""Helpers for the security tests: a memory bound and a "clear error or result" check.

The memory bound uses ``tracemalloc``, which traces allocations made through Python's allocator
and NumPy's buffers, so pandas frames count. It measures the peak growth inside the block.
Buffers that C code takes with plain malloc (pandas' CSV tokenizer, zlib, expat) are not
traced. So on Linux the block also reads the process's peak resident size. When that peak rose
inside the block, its rise above the resident size at the start must stay under the same bound.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import TypeVar

MiB = 1024 * 1024
DEFAULT_MEMORY_LIMIT = 512 * MiB
MAX_MESSAGE_LENGTH = 5_000

T = TypeVar("T")


@contextlib.contextmanager
def memory_bound(limit_bytes: int = DEFAULT_MEMORY_LIMIT) -> Iterator[None]:
    """Fail when the peak memory growth inside the block reaches ``limit_bytes``."""
    resident_before, peak_resident_before = resident_bytes(), peak_resident_bytes()
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        if started_here:
            tracemalloc.stop()
    growth = peak - baseline
    assert growth < limit_bytes, (
        f"traced peak memory growth {growth / MiB:.0f} MiB reached the bound of "
        f"{limit_bytes / MiB:.0f} MiB"
    )
    peak_resident_after = peak_resident_bytes()
    if None in (resident_before, peak_resident_before, peak_resident_after):
        return
    if peak_resident_after > peak_resident_before:
        rise = peak_resident_after - resident_before
        assert rise < limit_bytes, (
            f"peak resident size rose {rise / MiB:.0f} MiB, reaching the bound of "
            f"{limit_bytes / MiB:.0f} MiB"
        )


def resident_bytes() -> int | None:
    """The process's current resident size, or None where /proc is missing."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int | None:
    """The process's peak resident size so far (Linux reports ru_maxrss in KiB)."""
    if not sys.platform.startswith("linux"):
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def clear_error_or_result(
    call: Callable[[], T], allowed: type[BaseException] | tuple[type[BaseException], ...]
) -> T | BaseException:
    """Run ``call``; return its result or the ``allowed`` error it raised.

    Any other exception type fails the test with the input's exception chain visible. An
    allowed error must carry a readable message: not empty, not a traceback, not huge.
    """
    try:
        return call()
    except allowed as error:
        check_message(error)
        return error


def check_message(error: BaseException) -> str:
    """Assert the message of ``error`` is a short sentence an analyst can read."""
    message = str(error)
    assert message.strip(), f"{type(error).__name__} has an empty message"
    assert "Traceback (most recent call last)" not in message, message[:500]
    assert len(message) <= MAX_MESSAGE_LENGTH, (
        f"{type(error).__name__} message is {len(message)} characters long: {message[:300]}..."
    )
    return message
