"""HTTP client for the Iterable endpoints the workbench uses.

One `IterableClient` owns one `httpx.Client` (one connection pool) with every timeout set and the
``Api-Key`` header. It talks to Iterable's US or EU data center, or to any ``http(s)`` base URL
such as the local sandbox. Every request is logged once at INFO with its method, path, status,
elapsed time and the key's sha256 fingerprint. The key itself is kept out of log lines, error
messages and the repr.

Success is decided from the HTTP status only. Failures raise the errors of
`mapping.iterable.errors`. A write rejected with 401 or 403 after a read with the same key and
base URL has worked in this process raises `WriteNotAllowedError`, because that is how a
read-only, JavaScript or mobile key shows itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from mapping.iterable.errors import (
    IterableError,
    RequestContext,
    UnexpectedResponseError,
    error_from_response,
    network_error,
    parse_error_body,
)
from mapping.iterable.models import ApiResponse, BulkUpdateResult, IterableList

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_USER_AGENT",
    "EU_BASE_URL",
    "IterableClient",
    "REGION_BASE_URLS",
    "US_BASE_URL",
    "forget_readable_keys",
    "key_fingerprint",
]

logger = logging.getLogger(__name__)

US_BASE_URL = "https://api.iterable.com"
EU_BASE_URL = "https://api.eu.iterable.com"
REGION_BASE_URLS: dict[str, str] = {"us": US_BASE_URL, "eu": EU_BASE_URL}

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_USER_AGENT = "iterable-mapping-workbench/0.1"

Region = Literal["us", "eu"]

# Batch endpoints that `post_raw` accepts, by their path without the "/api/" prefix.
RAW_ENDPOINTS: dict[str, str] = {
    "lists/subscribe": "/api/lists/subscribe",
    "users/bulkUpdate": "/api/users/bulkUpdate",
}

_JSON_CONTENT_TYPE = "application/json"
_LIST_ID_IN_BODY = re.compile(rb'"listId"\s*:\s*(-?\d+)')
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def key_fingerprint(api_key: str) -> str:
    """Return the first 8 hex digits of the key's sha256, safe to log and show."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:8]


class _Secret:
    """A string that shows as ``<secret>`` in repr, str and ``vars()`` dumps."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a secret cannot be pickled")


class _ReadableKeys:
    """Keys that have had a successful GET in this process, by base URL and full sha256.

    The app opens a new client for each action, so a write may come from another client than
    the read that proved the key valid. Remembering the read process-wide lets that write
    still be diagnosed as a key that can read but not write. Only hashes are kept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: set[tuple[str, str]] = set()

    def add(self, base_url: str, key_hash: str) -> None:
        with self._lock:
            self._entries.add((base_url, key_hash))

    def __contains__(self, entry: tuple[str, str]) -> bool:
        with self._lock:
            return entry in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_readable_keys = _ReadableKeys()


def forget_readable_keys() -> None:
    """Forget which keys have read successfully in this process (for tests and key changes)."""
    _readable_keys.clear()


class IterableClient:
    """A connection to one Iterable project (or the sandbox) with one API key.

    `region` picks the data center ("us" or "eu"); `base_url` overrides it, for example with the
    sandbox's ``http://127.0.0.1:PORT``. `timeout` is seconds for each of connect, read, write
    and pool (connect at most 10 s), or an `httpx.Timeout`. `transport` replaces the default
    httpx transport (tests pass a checking or mock transport). Use it as a context manager or
    call `close()`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        region: Region = "us",
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        key = _check_api_key(api_key)
        self._api_key = _Secret(key)
        self._region: Region = _check_region(region)
        self._base_url = _check_base_url(base_url) if base_url else REGION_BASE_URLS[self._region]
        self._fingerprint = key_fingerprint(key)
        self._key_entry = (self._base_url, hashlib.sha256(key.encode("utf-8")).hexdigest())
        self._http = httpx.Client(
            base_url=self._base_url,
            headers={
                "Api-Key": key,
                "Accept": _JSON_CONTENT_TYPE,
                "User-Agent": user_agent,
            },
            timeout=_make_timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        _warn_if_unencrypted(self._base_url)

    # -- connection -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Scheme and host the requests go to, without a trailing slash."""
        return self._base_url

    @property
    def region(self) -> Region:
        """The data center this client was set up for ("us" or "eu")."""
        return self._region

    @property
    def key_fingerprint(self) -> str:
        """First 8 hex digits of the API key's sha256."""
        return self._fingerprint

    @property
    def read_succeeded(self) -> bool:
        """Whether a GET with this key and base URL has worked in this process, by any client.

        A write rejected with 401 or 403 after such a read raises `WriteNotAllowedError`.
        """
        return self._key_entry in _readable_keys

    def close(self) -> None:
        """Close the connection pool. The client cannot send requests afterwards."""
        self._http.close()

    def __enter__(self) -> IterableClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"IterableClient(base_url={self._base_url!r}, region={self._region!r}, "
            f"key_fingerprint={self._fingerprint!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("IterableClient cannot be pickled, because it contains an API key")

    # -- lists ------------------------------------------------------------------------------

    def get_lists(self) -> list[IterableList]:
        """Return every list of the project (``GET /api/lists``)."""
        path = "/api/lists"
        body = self._get_json(path)
        items = body.get("lists") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self._unreadable(path, "GET", "the response has no 'lists' array")
        try:
            return [IterableList.model_validate(item) for item in items]
        except ValidationError as exc:
            raise self._unreadable(path, "GET", f"a list entry is malformed ({_first(exc)})")

    def create_list(self, name: str, description: str | None = None) -> int:
        """Create a Standard (static) list and return its id (``POST /api/lists``)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("The list name is empty: give the new list a name.")
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = str(description)

        path = "/api/lists"
        response_body = self._post_json(path, body)
        list_id = response_body.get("listId") if isinstance(response_body, dict) else None
        if not isinstance(list_id, int) or isinstance(list_id, bool):
            raise self._unreadable(path, "POST", "the response has no integer 'listId'")
        return list_id

    def list_size(self, list_id: int) -> int:
        """Return the number of users in a list (``GET /api/lists/{id}/size``).

        Iterable returns a plain-text number, not JSON.
        """
        list_id = _check_list_id(list_id)
        path = f"/api/lists/{list_id}/size"
        response = self._send("GET", path, list_id=list_id)
        size = _parse_size(response.text)
        if size is None:
            raise self._unreadable(path, "GET", "the response body is not a number", response)
        return size

    # -- user fields ------------------------------------------------------------------------

    def get_fields(self) -> dict[str, str]:
        """Return the project's user fields as {name: type} (``GET /api/users/getFields``).

        Nested fields are named with dots (``address.city``); types are lower-case.
        """
        path = "/api/users/getFields"
        body = self._get_json(path)
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise self._unreadable(path, "GET", "the response has no 'fields' object")
        return {str(name): str(kind) for name, kind in fields.items()}

    # -- bulk writes ------------------------------------------------------------------------

    def subscribe(
        self,
        list_id: int,
        subscribers: Sequence[Mapping[str, Any]],
        *,
        update_existing_users_only: bool | None = None,
    ) -> BulkUpdateResult:
        """Add users to a Standard list and update their data fields (``lists/subscribe``).

        Each subscriber is ``{"email": ...}`` or ``{"userId": ...}`` with optional
        ``dataFields``. Partial failures come back in the result, not as an error.
        """
        list_id = _check_list_id(list_id)
        body: dict[str, Any] = {"listId": list_id, "subscribers": _check_users(subscribers)}
        if update_existing_users_only is not None:
            body["updateExistingUsersOnly"] = bool(update_existing_users_only)
        return self._post_bulk(RAW_ENDPOINTS["lists/subscribe"], _to_json(body), list_id)

    def bulk_update(
        self,
        users: Sequence[Mapping[str, Any]],
        *,
        create_new_fields: bool | None = None,
    ) -> BulkUpdateResult:
        """Update many user profiles in one request (``users/bulkUpdate``, at most 4 MB)."""
        body: dict[str, Any] = {"users": _check_users(users)}
        if create_new_fields is not None:
            body["createNewFields"] = bool(create_new_fields)
        return self._post_bulk(RAW_ENDPOINTS["users/bulkUpdate"], _to_json(body), None)

    def post_raw(self, path: str, body: bytes) -> BulkUpdateResult:
        """Send a pre-serialized batch body to ``lists/subscribe`` or ``users/bulkUpdate``.

        `path` may be written with or without the leading ``/api/``. The body is sent byte for
        byte, so what the journal recorded is exactly what Iterable receives.
        """
        endpoint = _raw_endpoint(path)
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"post_raw needs the body as bytes, got {type(body).__name__}")
        content = bytes(body)
        match = _LIST_ID_IN_BODY.search(content[:256])
        list_id = int(match.group(1)) if match else None
        return self._post_bulk(endpoint, content, list_id)

    # -- single users -----------------------------------------------------------------------

    def update_user(
        self,
        email: str | None = None,
        user_id: str | None = None,
        data_fields: Mapping[str, Any] | None = None,
        *,
        prefer_user_id: bool | None = None,
        merge_nested_objects: bool | None = None,
        create_new_fields: bool | None = None,
    ) -> ApiResponse:
        """Create or update one user profile (``POST /api/users/update``).

        Give exactly one of `email` and `user_id`.
        """
        body = _identifier_body(email, user_id)
        body["dataFields"] = dict(data_fields or {})
        for key, value in (
            ("preferUserId", prefer_user_id),
            ("mergeNestedObjects", merge_nested_objects),
            ("createNewFields", create_new_fields),
        ):
            if value is not None:
                body[key] = bool(value)

        response_body = self._post_json("/api/users/update", body)
        return ApiResponse.from_body(response_body)

    def get_user_by_email(self, email: str) -> dict[str, Any] | None:
        """Return the user's profile, or None when no user has this email.

        Iterable responds to an unknown email with HTTP 200 and ``{}``. The returned dict is the
        ``user`` object of the response (``email``, ``userId``, ``dataFields``, ...).
        """
        if not isinstance(email, str) or not email.strip():
            raise ValueError("The email to look up is empty.")
        body = self._get_json("/api/users/getByEmail", params={"email": email})
        if not isinstance(body, dict) or not body:
            return None
        user = body.get("user")
        if isinstance(user, dict):
            return user or None
        return body

    # -- sending ----------------------------------------------------------------------------

    def _get_json(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        response = self._send("GET", path, params=params)
        return self._decode_json(response, path, "GET")

    def _post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        response = self._send("POST", path, content=_to_json(body), is_write=True)
        return self._decode_json(response, path, "POST")

    def _post_bulk(self, path: str, content: bytes, list_id: int | None) -> BulkUpdateResult:
        response = self._send("POST", path, content=content, is_write=True, list_id=list_id)
        body = self._decode_json(response, path, "POST")
        if not isinstance(body, dict):
            raise self._unreadable(path, "POST", "the response is not a JSON object", response)
        try:
            return BulkUpdateResult.model_validate(body)
        except ValidationError as exc:
            raise self._unreadable(path, "POST", f"the response is malformed ({_first(exc)})",
                                   response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        is_write: bool = False,
        list_id: int | None = None,
    ) -> httpx.Response:
        """Send one request, log it, and raise the matching error unless the status is 2xx."""
        context = self._context(method, path, is_write=is_write, list_id=list_id)
        headers = {"Content-Type": _JSON_CONTENT_TYPE} if content is not None else None
        started = time.perf_counter()
        try:
            response = self._http.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            self._log(method, path, f"failed ({type(exc).__name__})", started)
            raise network_error(exc, context) from exc

        self._log(method, path, str(response.status_code), started)
        if not response.is_success:
            raise self._error(response, context)
        if method == "GET":
            _readable_keys.add(*self._key_entry)
        return response

    def _context(
        self, method: str, path: str, *, is_write: bool, list_id: int | None
    ) -> RequestContext:
        return RequestContext(
            method=method,
            path=path,
            is_write=is_write,
            read_succeeded=self.read_succeeded,
            region=self._region,
            base_url=self._base_url,
            key_fingerprint=self._fingerprint,
            list_id=list_id,
        )

    def _error(self, response: httpx.Response, context: RequestContext) -> IterableError:
        return error_from_response(
            response.status_code,
            response.headers,
            response.content,
            context,
            secrets=(self._api_key.value,),
        )

    def _log(self, method: str, path: str, outcome: str, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s %s in %.0f ms (key %s)", method, path, outcome, elapsed_ms, self._fingerprint
        )

    def _decode_json(self, response: httpx.Response, path: str, method: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise self._unreadable(path, method, "the response is not JSON", response) from None

    def _unreadable(
        self, path: str, method: str, problem: str, response: httpx.Response | None = None
    ) -> UnexpectedResponseError:
        excerpt = ""
        status = None
        if response is not None:
            status = response.status_code
            content_type = response.headers.get("content-type", "")
            excerpt = parse_error_body(
                response.content, content_type, secrets=(self._api_key.value,)
            ).excerpt
        detail = f": {excerpt[:120]!r}" if excerpt else ""
        message = (
            f"{method} {path} on {self._base_url} succeeded but {problem}{detail}. Check that the "
            f"base URL points at Iterable or the sandbox and not at a proxy or login page."
        )
        return UnexpectedResponseError(message, status=status, path=path, body_excerpt=excerpt)


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def _check_api_key(api_key: str) -> str:
    if not isinstance(api_key, str):
        raise TypeError(f"The API key must be a string, got {type(api_key).__name__}.")
    key = api_key.strip()
    if not key:
        raise ValueError("The API key is empty: paste the project's server-side API key.")
    if not _PRINTABLE_ASCII.fullmatch(key):
        raise ValueError(
            "The API key contains spaces or characters that are not printable ASCII: copy it "
            "again from Iterable (Integrations > API keys)."
        )
    return key


def _check_region(region: str) -> Region:
    normalized = str(region).strip().lower()
    if normalized not in REGION_BASE_URLS:
        raise ValueError(
            f"Unknown region {region!r}: use 'us' (api.iterable.com) or 'eu' (api.eu.iterable.com)."
        )
    return normalized  # type: ignore[return-value]


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(str(base_url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"Invalid base URL {base_url!r}: give an http:// or https:// address with a host, "
            f"for example https://api.iterable.com or the sandbox's http://127.0.0.1:PORT."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            "Invalid base URL: it must not contain credentials, a query or a fragment; give "
            "only the scheme, host and port."
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _warn_if_unencrypted(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme == "https" or _is_loopback(parts.hostname or ""):
        return
    logger.warning(
        "Base URL %s is plain http on a host that is not loopback: the API key travels "
        "unencrypted. Use https unless this is a local test server.",
        base_url,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _make_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"Invalid timeout {timeout!r}: give a positive number of seconds.")
    seconds = float(timeout)
    return httpx.Timeout(seconds, connect=min(seconds, MAX_CONNECT_TIMEOUT_SECONDS))


def _check_list_id(list_id: int) -> int:
    if isinstance(list_id, bool) or not isinstance(list_id, int) or list_id <= 0:
        raise ValueError(f"Invalid list id {list_id!r}: give the positive integer id of a list.")
    return list_id


def _check_users(users: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(users, (str, bytes, Mapping)) or not isinstance(users, Sequence):
        raise TypeError(f"Users must be a list of dicts, got {type(users).__name__}.")
    checked = []
    for position, user in enumerate(users):
        if not isinstance(user, Mapping):
            raise TypeError(
                f"User item {position} must be a dict with 'email' or 'userId', "
                f"got {type(user).__name__}."
            )
        checked.append(dict(user))
    return checked


def _identifier_body(email: str | None, user_id: str | None) -> dict[str, Any]:
    if (email is None) == (user_id is None):
        raise ValueError("Give exactly one of email and user_id to identify the user.")
    if email is not None:
        if not isinstance(email, str) or not email:
            raise ValueError("The email is empty: give the user's email address.")
        return {"email": email}
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("The userId is empty: give the user's userId.")
    return {"userId": user_id}


def _raw_endpoint(path: str) -> str:
    name = str(path).strip().lstrip("/")
    if name.startswith("api/"):
        name = name[len("api/"):]
    if name not in RAW_ENDPOINTS:
        known = ", ".join(sorted(RAW_ENDPOINTS))
        raise ValueError(f"post_raw cannot send to {path!r}: use one of {known}.")
    return RAW_ENDPOINTS[name]


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


def _to_json(body: Mapping[str, Any]) -> bytes:
    """Serialize a request body as compact UTF-8 JSON; NaN and infinity are rejected."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(
            f"The request body contains a value JSON cannot carry ({exc}): replace NaN and "
            f"infinite numbers with null or drop them."
        ) from None
    except TypeError as exc:
        raise TypeError(
            f"The request body contains a value that is not JSON ({exc}): convert it to a "
            f"string, number, boolean, list or dict first."
        ) from None
    return text.encode("utf-8")


def _parse_size(text: str) -> int | None:
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, dict):
        value = value.get("size", value.get("count"))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "<root>"
    return f"{where}: {error.get('msg', 'invalid')}"
