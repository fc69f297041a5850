"""Running the sandbox: uvicorn in a background thread on a loopback port.

`start_sandbox(data_dir)` returns a started `SandboxServer`; port 0 (the default) takes a free
port, so tests can start many. `stop()` ends the server and joins its thread; the server is
also a context manager. The server binds its socket itself before uvicorn starts, so
`base_url` is known at once and a busy port fails in the caller's thread with a clear message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

from mapping.iterable.sandbox.app import SandboxState, create_app
from mapping.iterable.sandbox.faults import FaultDice, Faults
from mapping.iterable.sandbox.limits import RateLimiter
from mapping.iterable.sandbox.store import REGIONS, SANDBOX_API_KEY, SandboxStore

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 10.0
KeySpec = str | tuple[str, str]


class SandboxError(RuntimeError):
    """The sandbox could not start or stop."""


class _PromptServer(uvicorn.Server):
    """uvicorn's server with a prompt stop: tests start and stop hundreds of sandboxes.

    The stock server polls for the exit flag every 0.1 s and sleeps 0.1 s while shutting
    down. This one wakes on an event set from the stopping thread, and then waits only as long
    as open requests need (up to the graceful-shutdown timeout).
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _exit_event: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._exit_event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        while not self.should_exit:
            try:
                await asyncio.wait_for(self._exit_event.wait(), timeout=1.0)
            except TimeoutError:
                pass
            await self.on_tick(0)  # refreshes the Date header

    def request_exit(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._exit_event is not None:
            self._loop.call_soon_threadsafe(self._exit_event.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + self.config.timeout_graceful_shutdown
        while self.server_state.connections or self.server_state.tasks:
            if time.monotonic() > deadline or self.force_exit:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)


class SandboxServer:
    """One sandbox project served over HTTP on loopback from a background thread."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        reset: bool = False,
        keys: Mapping[str, KeySpec] | None = None,
        region: str = "us",
        rate_limits: bool | float = True,
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"region must be 'us' or 'eu', got {region!r}")
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.api_key = SANDBOX_API_KEY
        self.store = SandboxStore(self.data_dir, reset=reset)
        self.state = SandboxState(
            store=self.store, region=region, limiter=RateLimiter(rate_limits),
            dice=FaultDice(faults or Faults()),
        )
        self.state.set_faults(self.state.faults)
        for key, spec in (keys or {}).items():
            key_type, key_region = (spec, "us") if isinstance(spec, str) else spec
            self.add_key(key, key_type, key_region)
        self._server: _PromptServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._stopped = False

    # --- properties and settings ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._socket is None:
            raise SandboxError("the sandbox is not running; call start() first")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def region(self) -> str:
        return self.state.region

    @region.setter
    def region(self, value: str) -> None:
        if value not in REGIONS:
            raise ValueError(f"region must be 'us' or 'eu', got {value!r}")
        self.state.region = value

    def set_faults(self, faults: Faults) -> None:
        """Replace the injected faults (the random generator restarts from faults.seed)."""
        self.state.set_faults(faults)

    def set_rate_limits(self, rate_limits: bool | float) -> None:
        """True = Iterable's documented limits, False = none, a number = limits times it."""
        self.state.limiter.configure(rate_limits)
        self.state.limiter.set_subscribe_limit(self.faults.subscribe_rate_limit)

    def add_key(self, key: str, key_type: str = "server_side", region: str = "us") -> None:
        """Accept another API key of a type ("server_side", "read_only", "mobile",
        "javascript") that belongs to a region ("us" or "eu")."""
        self.store.add_key(key, key_type, region)

    def set_drop_unknown_fields(self, drop: bool) -> None:
        """Set the project option that drops unknown fields instead of creating them."""
        self.store.set_setting("drop_unknown_fields", bool(drop))

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Serve from a background thread; return self. A stopped server cannot start again."""
        if self._thread is not None:
            return self
        if self._stopped:
            raise SandboxError("this sandbox was stopped; start a new SandboxServer instead")
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state), http="h11", lifespan="off", log_level="warning",
            access_log=False, timeout_graceful_shutdown=2, timeout_keep_alive=5,
        )
        self._server = _PromptServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]},
            name=f"sandbox-{self.port}", daemon=True,
        )
        self._thread.start()
        self._wait_started()
        logger.info("sandbox serving %s from %s", self.base_url, self.data_dir)
        return self

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto must be TCP because asyncio turns Nagle's algorithm off only for such sockets.
        # With it on, a response written in two parts waited about 40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as problem:
            sock.close()
            raise SandboxError(
                f"cannot listen on {self.host}:{self.port} ({problem.strerror}); "
                "choose another --port or stop the program using it"
            ) from problem
        sock.listen(128)
        return sock

    def _wait_started(self) -> None:
        assert self._server is not None and self._thread is not None
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                self._cleanup()
                raise SandboxError("the sandbox server stopped while starting; see the log")
            self._thread.join(0.01)
            waited += 0.01
            if waited > STARTUP_TIMEOUT_SECONDS:
                self.stop()
                raise SandboxError("the sandbox server did not start within 10 seconds")

    def stop(self) -> None:
        """Stop serving, join the server thread and close the database."""
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT_SECONDS)
            if self._thread.is_alive():
                logger.warning("sandbox thread did not stop in time; forcing exit")
                if self._server is not None:
                    self._server.force_exit = True
                self._thread.join(STARTUP_TIMEOUT_SECONDS)
        self._cleanup()
        self.store.close()
        self._stopped = True

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._socket is not None and self.running else "stopped"
        return f"SandboxServer({where}, data_dir={str(self.data_dir)!r})"


def start_sandbox(
    data_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    reset: bool = False,
    keys: Mapping[str, KeySpec] | None = None,
    **options: Any,
) -> SandboxServer:
    """Start a sandbox on loopback and return it; options: region, rate_limits."""
    return SandboxServer(
        data_dir, host=host, port=port, faults=faults, reset=reset, keys=keys, **options
    ).start()
