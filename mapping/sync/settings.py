"""Settings of a sync run, the target it writes to, and the endpoint rules they follow."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mapping.sync.source import SyncConfigError

BULK_UPDATE = "users/bulkUpdate"
SUBSCRIBE = "lists/subscribe"

# Iterable's documented per-project limits (requests per second). lists/subscribe has none
# documented; it is treated like bulkUpdate.
DOCUMENTED_RATE_LIMITS = {BULK_UPDATE: 5.0}
# Default pace: a little below the limit. The limiter also keeps any one second (plus a small
# margin for network jitter) at 5 requests, so the pace lands near 4.85 per second.
DEFAULT_RATES = {BULK_UPDATE: 4.9, SUBSCRIBE: 4.9}
# Iterable refuses bulkUpdate bodies over 4 MB; batches stay well below.
MAX_BODY_BYTES_LIMIT = 4_000_000
DEFAULT_MAX_BODY_BYTES = 3_500_000


def endpoint_for(list_id: int | None) -> str:
    """lists/subscribe when the mapping names a list, else users/bulkUpdate."""
    return SUBSCRIBE if list_id else BULK_UPDATE


@dataclass
class SyncSettings:
    """Batching, pacing and retry settings of a run, stored with it and reused on resume."""

    batch_size: int = 1000
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate: float | None = None
    workers: int = 4
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 300.0
    chunksize: int = 10_000
    timeout: float = 30.0
    rejected_batches_before_stop: int = 3

    def check(self) -> "SyncSettings":
        """Raise SyncConfigError naming the first setting out of range."""
        _at_least("batch size", self.batch_size, 1)
        _at_least("workers", self.workers, 1)
        _at_least("max attempts", self.max_attempts, 1)
        _at_least("chunk size", self.chunksize, 1)
        if not 1_000 <= self.max_body_bytes <= MAX_BODY_BYTES_LIMIT:
            raise SyncConfigError(
                f"max body bytes must be between 1000 and {MAX_BODY_BYTES_LIMIT} (Iterable "
                f"refuses bodies over 4 MB), got {self.max_body_bytes}"
            )
        if self.rate is not None and not 0 < self.rate <= 1000:
            raise SyncConfigError(
                f"the rate must be above 0 and at most 1000 requests per second, got {self.rate}"
            )
        if self.timeout <= 0:
            raise SyncConfigError(f"the timeout must be above 0 seconds, got {self.timeout}")
        return self

    def rate_for(self, endpoint: str) -> float:
        """Requests per second for this endpoint: the setting, else the endpoint's default."""
        return self.rate if self.rate is not None else DEFAULT_RATES.get(endpoint, 4.9)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "SyncSettings":
        """Settings from a stored dict; unknown names (from other versions) are ignored."""
        known = {item.name for item in fields(cls)}
        return cls(**{name: value for name, value in (values or {}).items() if name in known})

    def merged(self, overrides: dict[str, Any]) -> "SyncSettings":
        """Return a copy with the given (not None) values replaced."""
        values = self.to_dict()
        values.update({name: value for name, value in overrides.items() if value is not None})
        return SyncSettings.from_dict(values)


@dataclass
class Target:
    """Destination of a run: the key (kept in memory only), and the region or base URL."""

    api_key: str = field(repr=False)
    base_url: str | None = None
    region: str = "us"
    transport: Any = field(default=None, repr=False)

    def client(self, timeout: float = 30.0):
        """Create an IterableClient for this target."""
        from mapping.iterable import IterableClient

        try:
            return IterableClient(
                self.api_key,
                region=self.region,
                base_url=self.base_url,
                timeout=timeout,
                transport=self.transport,
            )
        except ValueError as error:
            raise SyncConfigError(str(error)) from None


def _at_least(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or value < minimum:
        raise SyncConfigError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
