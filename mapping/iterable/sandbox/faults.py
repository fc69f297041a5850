"""Injected faults: what they are (`Faults`), who draws them (`FaultDice`), who applies them.

`Faults` describe deliberate misbehaviour: added latency, a share of 429 and 5xx responses,
dropped connections, and lists that stay unknown for their first seconds. One seeded random
generator decides, so a test that sends the same requests sees the same faults.

`FaultLayer` is the outermost ASGI layer: it applies the faults to `/api/` requests and
keeps the request log.

It sits outside Starlette so that it holds the server's own `send` callable. That is what lets
it drop a connection the way a broken proxy does: with uvicorn's h11 protocol the `send`
callable belongs to the request cycle, whose transport can be closed before any byte of the
response is written; the client then sees the connection end without an answer (httpx raises
`RemoteProtocolError`). When the transport is out of reach (another server), the layer starts
a response and breaks off inside the body instead, which clients also see as a dropped
connection.

Every `/api/` request is counted per endpoint and status (0 for a dropped connection) before
the last part of its response is sent, so a client that has received the response finds the
request in the log. The identifiers of users a request wrote are counted per endpoint by the write
itself, in the same transaction, so tests can assert that no user was sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Callable

from starlette.concurrency import run_in_threadpool

from mapping.iterable.sandbox.limits import route_name

if TYPE_CHECKING:
    from mapping.iterable.sandbox.app import SandboxState
    from mapping.iterable.sandbox.store import SandboxStore

logger = logging.getLogger(__name__)

DROPPED = 0
ARRIVED = "sandbox_arrived"  # Key in the ASGI scope's state for the monotonic arrival time.
_HTML_ERRORS = {
    502: "Bad Gateway",
    504: "Gateway Time-out",
}


@dataclass
class Faults:
    """Faults one sandbox injects into `/api/` requests (never into `/_sandbox/`)."""

    latency_ms: float = 0
    error_429_rate: float = 0.0
    error_5xx_rate: float = 0.0
    drop_rate: float = 0.0
    slow_list_seconds: float = 0.0
    subscribe_rate_limit: float | None = None  # requests per second; None = no limit
    seed: int | None = None
    retry_after_seconds: float | None = None  # sent with injected 429s when set
    drop_after_processing: bool = False  # drop only after the request was applied

    def __post_init__(self) -> None:
        for name in ("error_429_rate", "error_5xx_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        for name in ("latency_ms", "slow_list_seconds"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")
        if self.subscribe_rate_limit is not None and self.subscribe_rate_limit <= 0:
            raise ValueError("subscribe_rate_limit must be positive or None (no limit)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        """Build from JSON; unknown keys are an error naming the key and the known ones."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)


class FaultDice:
    """The seeded random choices behind the injected faults; thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.faults = faults
        self._random = random.Random(faults.seed)

    def replace(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._random = random.Random(faults.seed)

    def roll(self) -> str | None:
        """Draw the fault for one request: "drop", "5xx", "429" or None, checked in that order."""
        with self._lock:
            faults = self.faults
            for kind, rate in (("drop", faults.drop_rate), ("5xx", faults.error_5xx_rate),
                               ("429", faults.error_429_rate)):
                if rate > 0 and self._random.random() < rate:
                    return kind
            return None

    def choice(self, options: list[Any]) -> Any:
        with self._lock:
            return self._random.choice(options)


class FaultLayer:
    """ASGI middleware: latency, drops, 5xx, 429 for `/api/` paths; logs every `/api/` call."""

    def __init__(self, app: Callable, state: "SandboxState") -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[ARRIVED] = time.monotonic()
        counted = CountedSend(send, self.state.store, route_name(scope["method"], scope["path"]))
        await self.handle(scope, receive, counted)
        if not counted.counted:  # the application ended without finishing a response
            await counted.count(counted.status or 500)

    async def handle(self, scope: dict, receive: Callable, send: CountedSend) -> None:
        faults = self.state.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        fault = self.state.dice.roll()
        if fault == "drop":
            if faults.drop_after_processing:
                await self.app(scope, receive, _discard)
            await send.count(DROPPED)
            await drop_connection(send.send)  # needs the server's own callable
        elif fault == "5xx":
            await self.send_server_error(send)
        elif fault == "429":
            await self.send_rate_limited(send, faults.retry_after_seconds)
        else:
            await self.app(scope, receive, send)

    async def send_server_error(self, send: Callable) -> None:
        kind = self.state.dice.choice(["text", "html", "json", "gateway"])
        if kind == "text":
            status, body, content_type = 503, b"Request timeout.  Try again later.", "text/plain"
        elif kind == "json":
            status, content_type = 500, "application/json"
            body = json.dumps({"msg": "Internal error (injected by the sandbox)",
                               "code": "GenericError", "params": {}}).encode()
        else:
            status = 502 if kind == "html" else 504
            title = f"{status} {_HTML_ERRORS[status]}"
            body = (f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
                    "</center></body></html>").encode()
            content_type = "text/html"
        await send_simple(send, status, body, f"{content_type}; charset=utf-8")

    async def send_rate_limited(self, send: Callable, retry_after: float | None) -> None:
        body = json.dumps({"msg": "Exceeded rate limit.", "code": "RateLimitExceeded"}).encode()
        extra = [(b"retry-after", f"{retry_after:g}".encode())] if retry_after is not None else []
        await send_simple(send, 429, body, "application/json", extra)


class CountedSend:
    """A wrapper of the server's `send` that logs the request before the response ends.

    The count is a short SQLite write; it runs in a worker thread so that the event loop
    never waits behind a bulk write that holds the database.
    """

    def __init__(self, send: Callable, store: "SandboxStore", route: str) -> None:
        self.send = send
        self.store = store
        self.route = route
        self.status: int | None = None
        self.counted = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif (message["type"] == "http.response.body" and not message.get("more_body")
              and not self.counted):
            await self.count(self.status or 500)
        await self.send(message)

    async def count(self, status: int) -> None:
        self.counted = True
        await run_in_threadpool(self.store.log_request, self.route, status)


async def send_simple(
    send: Callable, status: int, body: bytes, content_type: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type.encode()),
               (b"content-length", str(len(body)).encode())] + (extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _discard(message: dict[str, Any]) -> None:
    """Discard a response message (the client never gets it)."""


async def drop_connection(send: Callable) -> None:
    """Close the client's connection without a response."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
        # Let the protocol notice the closed connection, so the server does not send its
        # own 500 page.
        for _ in range(3):
            await asyncio.sleep(0)
        if hasattr(cycle, "disconnected"):
            cycle.disconnected = True
        return
    logger.debug("no transport reachable; breaking off a response to drop the connection")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("sandbox dropped the connection (injected fault)")
