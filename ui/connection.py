"""Connecting to a project: the in-process sandbox, where the key comes from, and the client.

No streamlit import. The pages call these functions and show what they return or raise.
The API key is only kept in memory, in the ``Connection`` record. This module never writes it to
a file or a log line: log lines name the key by its short fingerprint.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from mapping.iterable import IterableClient
from ui.credentials import workbench_home
from ui.records import Connection

logger = logging.getLogger(__name__)

KEY_ENVIRONMENT_VARIABLE = "ITERABLE_API_KEY"
# Test hook: send "Iterable" connections to this base URL (a sandbox on loopback) instead of
# Iterable's US or EU host, so tests and the e2e run never reach the real API.
BASE_URL_OVERRIDE_VARIABLE = "WORKBENCH_ITERABLE_BASE_URL"
REGIONS = ("us", "eu")
CLIENT_TIMEOUT_SECONDS = 20.0

_sandboxes: dict[Path, Any] = {}
_sandboxes_lock = threading.Lock()


def sandbox_data_dir() -> Path:
    """Return the folder of the app's own sandbox (``$WORKBENCH_HOME/sandbox``)."""
    return workbench_home() / "sandbox"


def local_sandbox() -> Any:
    """Return the app's sandbox server, starting it on a free loopback port on first use.

    One sandbox runs per server process and data folder, shared by all browser sessions, and
    its state (SQLite) survives restarts of the app.
    """
    data_dir = sandbox_data_dir()
    with _sandboxes_lock:
        server = _sandboxes.get(data_dir)
        if server is None:
            from mapping.iterable.sandbox import start_sandbox

            data_dir.mkdir(parents=True, exist_ok=True)
            server = start_sandbox(data_dir, host="127.0.0.1", port=0)
            _sandboxes[data_dir] = server
            logger.info("started the local sandbox at %s (data in %s)", server.base_url, data_dir)
        return server


def stop_local_sandboxes() -> None:
    """Stop every sandbox this process started (tests call it between cases)."""
    with _sandboxes_lock:
        servers = list(_sandboxes.values())
        _sandboxes.clear()
    for server in servers:
        server.stop()


def configured_key(secrets: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """Return ``(key, source)`` from ``ITERABLE_API_KEY`` or ``.streamlit/secrets.toml``, if set."""
    key = os.environ.get(KEY_ENVIRONMENT_VARIABLE, "").strip()
    if key:
        return key, f"the environment variable {KEY_ENVIRONMENT_VARIABLE}"
    try:
        key = str((secrets or {}).get(KEY_ENVIRONMENT_VARIABLE, "") or "").strip()
    except Exception:  # st.secrets raises when no secrets.toml exists
        key = ""
    if key:
        return key, ".streamlit/secrets.toml"
    return None


def connect(target: str, *, region: str = "us", api_key: str = "", key_source: str = "entered"
            ) -> Connection:
    """Validate a key with ``GET /api/lists`` and return the connection.

    For the sandbox the key is the sandbox's demo key and ``region`` is ignored. Raises the
    client's errors (``BadApiKeyError``, ``NetworkError``, ...) and ValueError for an empty key
    or an unknown region.
    """
    if target == "sandbox":
        server = local_sandbox()
        api_key, key_source = server.api_key, "sandbox demo key"
        base_url, region = server.base_url, "us"
    else:
        api_key = api_key.strip()
        if not api_key:
            raise ValueError("Enter the project's server-side API key, then press Connect.")
        if region not in REGIONS:
            raise ValueError(f"Region {region!r} is unknown; choose US or EU.")
        base_url = os.environ.get(BASE_URL_OVERRIDE_VARIABLE) or None
    with IterableClient(api_key, region=region, base_url=base_url,
                        timeout=CLIENT_TIMEOUT_SECONDS) as client:
        lists = client.get_lists()
        fingerprint = client.key_fingerprint
    logger.info("connected to %s (key %s): %d lists", base_url or region, fingerprint, len(lists))
    return Connection(
        target="sandbox" if target == "sandbox" else "iterable",
        region=region,
        base_url=base_url,
        api_key=api_key,
        key_source=key_source,
        key_fingerprint=fingerprint,
        lists_count=len(lists),
    )


def open_client(connection: Connection) -> IterableClient:
    """Return a new client for the connection; close it (or use ``with``) when done."""
    return IterableClient(
        connection.api_key,
        region=connection.region,  # type: ignore[arg-type]
        base_url=connection.base_url,
        timeout=CLIENT_TIMEOUT_SECONDS,
    )


def sandbox_overview(connection: Connection) -> dict[str, Any]:
    """Return the sandbox's inspection view: lists with sizes, fields with types, user count.

    Reads ``GET /_sandbox/state`` (a sandbox extension, not an Iterable endpoint), which is not
    rate-limited like ``GET /api/lists/{id}/size``.
    """
    if connection.target != "sandbox" or not connection.base_url:
        raise ValueError("The inspection view needs a connection to the sandbox (Connect page).")
    response = httpx.get(f"{connection.base_url}/_sandbox/state",
                         headers={"Api-Key": connection.api_key}, timeout=CLIENT_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.json()


def find_user(connection: Connection, email: str) -> dict[str, Any] | None:
    """Return the user profile with this email (``GET /api/users/getByEmail``), or None."""
    with open_client(connection) as client:
        return client.get_user_by_email(email.strip())
