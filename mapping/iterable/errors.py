"""Errors raised by the Iterable client, grouped by what the caller does next.

The kind of error is decided from the HTTP status, never from the body's ``code``, because
Iterable responds to an unknown list with HTTP 400 and ``"code": "Success"``. Inside one status
the code and ``msg`` pick the most specific class. Bodies may be JSON, HTML, plain text, empty
or cut short, and every parser here copes with all of them.

    IterableError                    any failed call: .status, .code, .path, .body_excerpt
    ├── FatalError                   stop the run, because retrying cannot help
    │   ├── BadApiKeyError           401: unknown or revoked key, or a key of the other region
    │   ├── ForbiddenError           403: the key is not allowed to call this endpoint
    │   ├── WriteNotAllowedError     a key that can read but not write (read-only, JavaScript,
    │   │                            mobile): the run needs a server-side key
    │   ├── InvalidListError         400 error.lists.invalidListId(<id>): unknown or not Standard
    │   ├── RequestRejectedError     other 4xx: BadParams, 409 conflict, 413 or BatchTooLarge,
    │   │                            UniqueFieldsLimitExceeded, 404 wrong path, ...
    │   └── UnexpectedResponseError  a success status whose body cannot be read
    ├── RetryableError               try again later: .retry_after in seconds, or None
    │   ├── RateLimitError           429 RateLimitExceeded
    │   ├── ServerError              5xx, and 408 Request Timeout
    │   └── NetworkError             timeouts and dropped connections (no HTTP status)
    └── BatchRejectedError           the data of this batch was rejected: fix or drop rows
        └── FieldTypesMismatchError  400 RequestFieldsTypesMismatched: .validation_errors

The client passes the API key as a secret to `error_from_response`, which redacts it from the
body excerpt, ``msg``, ``params``, the parsed validation errors and a redirect's location, so
neither the message, ``str()``, ``repr()`` nor the attributes of these errors contain it. Messages
name the key only by its sha256 fingerprint.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "BadApiKeyError",
    "BatchRejectedError",
    "ErrorBody",
    "FatalError",
    "FieldTypeError",
    "FieldTypesMismatchError",
    "ForbiddenError",
    "InvalidListError",
    "IterableError",
    "NetworkError",
    "RateLimitError",
    "RequestContext",
    "RequestRejectedError",
    "RetryableError",
    "ServerError",
    "UnexpectedResponseError",
    "WriteNotAllowedError",
    "error_from_response",
    "network_error",
    "parse_error_body",
    "parse_retry_after",
    "parse_validation_errors",
    "redact",
    "redact_value",
]

BODY_EXCERPT_CHARS = 300
REDACTED = "[redacted]"

# Codes that, on a rejected write, mean the key may not write rather than that it is unknown.
_WRITE_REFUSAL_CODES = frozenset({"Forbidden", "Unauthorized"})
_INVALID_LIST_PATTERN = re.compile(r"error\.lists\.invalidListId\((?P<list_id>-?\d*)\)")
_HTML_TAG_PATTERN = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_WHITESPACE_PATTERN = re.compile(r"\s+")

# Iterable reports some nested field names with a "<project>:::" prefix in validationErrors.
_FIELD_PREFIX_SEPARATOR = ":::"


# ---------------------------------------------------------------------------------------------
# Error classes
# ---------------------------------------------------------------------------------------------


class IterableError(Exception):
    """A call to the Iterable API failed.

    `status` is the HTTP status, or None when no response arrived. `code`, `response_msg` and
    `params` are the ``code``, ``msg`` and ``params`` of a JSON error body, if there was one.
    `path` is the request path such as ``/api/lists/subscribe``. `body_excerpt` is the start of
    the response body with markup removed and any API key redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        path: str | None = None,
        body_excerpt: str = "",
        response_msg: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.path = path
        self.body_excerpt = body_excerpt
        self.response_msg = response_msg
        self.params = dict(params) if params else {}

    @property
    def body_text(self) -> str:
        """The body excerpt (name kept for callers that expect `body_text`)."""
        return self.body_excerpt

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"path={self.path!r}, message={self.message!r})"
        )


class FatalError(IterableError):
    """A failure that retrying cannot fix: the run stops and the message names what to change."""


class BadApiKeyError(FatalError):
    """HTTP 401: Iterable does not accept the key on this host."""


class ForbiddenError(FatalError):
    """HTTP 403: the key is valid but may not call this endpoint."""


class WriteNotAllowedError(FatalError):
    """A write was rejected for a key that can read: a read-only, JavaScript or mobile key."""


class InvalidListError(FatalError):
    """HTTP 400 ``error.lists.invalidListId``: the list does not exist or is not a Standard list.

    `list_id` is the id named in the response, or the id the request sent when the response
    names none. Iterable also responds this way for a few seconds after a list is created.
    """

    def __init__(self, message: str, *, list_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.list_id = list_id


class RequestRejectedError(FatalError):
    """Any other 4xx response: the request itself is wrong (bad parameters, too large, conflict)."""


class UnexpectedResponseError(FatalError):
    """A success status with a body that is not what the endpoint returns (HTML, bad JSON)."""


class RetryableError(IterableError):
    """A failure that may pass: wait `retry_after` seconds (or back off) and send again."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimitError(RetryableError):
    """HTTP 429: the project's rate limit for this endpoint was exceeded."""


class ServerError(RetryableError):
    """HTTP 5xx or 408: Iterable failed or timed out on its side."""


class NetworkError(RetryableError):
    """No usable response: the connection failed, timed out or closed before the response ended."""


class BatchRejectedError(IterableError):
    """Iterable rejected the data in this batch; the other batches can still be sent."""


@dataclass(frozen=True)
class FieldTypeError:
    """One entry of ``params.validationErrors``: a value whose type does not match its field.

    `expected_type` is the type the field already has in the project (for example ``date``),
    `value` the offending value, and `incoming_types` the types Iterable inferred for it.
    """

    field: str
    expected_type: str | None
    value: Any = None
    incoming_types: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return a short phrase such as: field 'signupDate' is date, got 'soon' (string)."""
        incoming = "/".join(self.incoming_types) or "another type"
        expected = self.expected_type or "another type"
        if self.value is None:
            return f"field {self.field!r} is {expected}, got {incoming}"
        return f"field {self.field!r} is {expected}, got {_short_repr(self.value)} ({incoming})"


class FieldTypesMismatchError(BatchRejectedError):
    """HTTP 400 ``RequestFieldsTypesMismatched``: values whose type differs from their field's.

    Iterable rejects the whole request. `validation_errors` lists each field, the type it has
    and the offending value, as far as the response names them.
    """

    def __init__(
        self,
        message: str,
        *,
        validation_errors: list[FieldTypeError] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.validation_errors = list(validation_errors or [])

    @property
    def fields(self) -> list[str]:
        """Names of the fields that had a value of the wrong type."""
        return [error.field for error in self.validation_errors]


# ---------------------------------------------------------------------------------------------
# Parsing helpers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorBody:
    """The parts of an error response body that could be read.

    `msg`, `code` and `params` come from a JSON envelope and are None or empty when the body is
    not one. `excerpt` is a short one-line text of the body for messages and logs.
    """

    msg: str | None
    code: str | None
    params: dict[str, Any]
    excerpt: str


@dataclass(frozen=True)
class RequestContext:
    """Facts about the failed request that the error message and class depend on.

    `is_write` marks the calls that change data. `read_succeeded` records whether an earlier GET
    with the same key worked, because that is how a key that can read but not write shows itself.
    """

    method: str
    path: str
    is_write: bool = False
    read_succeeded: bool = False
    region: str | None = None
    base_url: str | None = None
    key_fingerprint: str | None = None
    list_id: int | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header into seconds to wait.

    Accepts a number of seconds (integer or decimal) or an HTTP date. Returns None for a missing
    or unreadable value, and 0.0 for a date in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None

    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now=now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


def _seconds_until_http_date(text: str, *, now: float | None) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:  # pragma: no cover - older Pythons returned None on bad input
        return None
    if moment.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(moment.timestamp() - current, 0.0)


def parse_error_body(
    body: bytes | str | None, content_type: str = "", *, secrets: Iterable[str] = ()
) -> ErrorBody:
    """Read the ``msg`` / ``code`` / ``params`` envelope from a body of any kind.

    JSON is recognised by its content (an object), whatever the content type, so a JSON
    body sent as text still yields its code. HTML tags are dropped from the excerpt. Any of
    `secrets` found in the body, in any letter case, is replaced by ``[redacted]`` before the
    body is parsed or cut, so no part of a secret survives in the excerpt, `msg` or `params`.
    """
    secrets = tuple(secrets)
    text = redact(_decode(body), secrets)
    envelope = _json_object(text)
    excerpt = _excerpt(text, is_html="html" in content_type.lower() or _looks_like_html(text))

    if envelope is None:
        return ErrorBody(msg=None, code=None, params={}, excerpt=excerpt)

    envelope = redact_value(envelope, secrets)
    msg = envelope.get("msg")
    code = envelope.get("code")
    params = envelope.get("params")
    return ErrorBody(
        msg=msg if isinstance(msg, str) else None,
        code=code if isinstance(code, str) else None,
        params=params if isinstance(params, dict) else {},
        excerpt=excerpt,
    )


def parse_validation_errors(params: Mapping[str, Any] | None) -> list[FieldTypeError]:
    """Read ``params.validationErrors`` into a list of `FieldTypeError`.

    Iterable sends a mapping from field name to an object with ``expectedType``,
    ``offendingValue`` and ``incomingTypes``. A list of such objects with a ``field`` key is
    accepted too. Entries that are not objects are kept with only the field name. Anything else
    gives an empty list.
    """
    if not isinstance(params, Mapping):
        return []
    raw = params.get("validationErrors")

    if isinstance(raw, Mapping):
        return [_field_type_error(str(name), details) for name, details in raw.items()]
    if isinstance(raw, list):
        errors = []
        for details in raw:
            if isinstance(details, Mapping):
                name = details.get("field") or details.get("fieldName") or details.get("name")
                errors.append(_field_type_error(str(name or "?"), details))
        return errors
    return []


def _field_type_error(name: str, details: Any) -> FieldTypeError:
    field = name.rsplit(_FIELD_PREFIX_SEPARATOR, 1)[-1]
    if not isinstance(details, Mapping):
        return FieldTypeError(field=field, expected_type=None)

    expected = details.get("expectedType") or details.get("expected_type")
    value = details.get("offendingValue", details.get("value"))
    incoming = details.get("incomingTypes") or details.get("incomingType") or ()
    if isinstance(incoming, str):
        incoming = (incoming,)
    return FieldTypeError(
        field=field,
        expected_type=str(expected) if expected is not None else None,
        value=value,
        incoming_types=tuple(str(item) for item in incoming if item is not None),
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace each non-empty secret in `text` with ``[redacted]``.

    The secret is matched in any letter case and also in its base64 forms, which is how a key
    shows up when a server echoes an encoded header.
    """
    for secret in secrets:
        for form in _secret_forms(secret):
            text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
    return text


def _secret_forms(secret: str) -> tuple[str, ...]:
    if not secret:
        return ()
    raw = secret.encode("utf-8")
    encoded = {base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")}
    return (secret, *sorted(form.rstrip("=") for form in encoded))


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """Return a copy of decoded JSON with `redact` applied to every string, keys included."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(str(key), secrets): redact_value(item, secrets)
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item, secrets) for item in value]
    return value


def _decode(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    return body.decode("utf-8", errors="replace")


def _json_object(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _looks_like_html(text: str) -> bool:
    start = text.lstrip()[:100].lower()
    return start.startswith("<!doctype html") or start.startswith("<html")


def _excerpt(text: str, *, is_html: bool) -> str:
    if is_html:
        text = _HTML_TAG_PATTERN.sub(" ", text)
    text = _WHITESPACE_PATTERN.sub(" ", text).strip()
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[: BODY_EXCERPT_CHARS - 3].rstrip() + "..."
    return text


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# From a response to an error
# ---------------------------------------------------------------------------------------------


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | str | None,
    context: RequestContext,
    *,
    secrets: Iterable[str] = (),
) -> IterableError:
    """Build the error for a response whose status is not a success.

    The class comes from `status` first; within a status, the body's ``code`` and ``msg`` pick
    the specific case. `secrets` are removed from everything the error carries.
    """
    secrets = tuple(secrets)
    content_type = headers.get("content-type", "") if headers else ""
    parsed = parse_error_body(body, content_type, secrets=secrets)
    common = {
        "status": status,
        "code": parsed.code,
        "path": context.path,
        "body_excerpt": parsed.excerpt,
        "response_msg": parsed.msg,
        "params": parsed.params,
    }
    summary = _describe_response(status, parsed)

    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after") if headers else None)
        return RateLimitError(_rate_limit_message(context, summary, retry_after),
                              retry_after=retry_after, **common)
    if status >= 500 or status == 408:
        retry_after = parse_retry_after(headers.get("retry-after") if headers else None)
        message = _server_error_message(context, summary)
        return ServerError(message, retry_after=retry_after, **common)
    if status in (401, 403) and _is_write_refusal(status, parsed.code, context):
        return WriteNotAllowedError(_write_not_allowed_message(context, summary), **common)
    if status == 401:
        return BadApiKeyError(_bad_key_message(context, summary), **common)
    if status == 403:
        return ForbiddenError(_forbidden_message(context, summary), **common)
    if status == 400:
        return _bad_request_error(parsed, context, summary, common)
    if 400 <= status < 500:
        return RequestRejectedError(_rejected_message(status, parsed, context, summary), **common)
    message = _unexpected_status_message(status, headers, context, secrets)
    return UnexpectedResponseError(message, **common)


def network_error(exc: httpx.HTTPError, context: RequestContext) -> NetworkError:
    """Wrap an httpx timeout or transport failure in a `NetworkError`.

    The message names only the kind of failure, the request path and the base URL. It is built
    without the exception's request headers, so the key cannot leak through it.
    """
    if isinstance(exc, httpx.TimeoutException):
        kind = _TIMEOUT_KINDS.get(type(exc), "timed out")
    elif isinstance(exc, httpx.ConnectError):
        kind = "could not connect"
    elif isinstance(exc, httpx.RemoteProtocolError):
        kind = "lost the connection (the server closed it without a complete response)"
    else:
        kind = f"failed ({type(exc).__name__})"
    host = context.base_url or "the server"
    message = (
        f"{context.method} {context.path} {kind} on {host}. This is usually temporary: send the "
        f"request again after a short wait; if it keeps happening, check the network and the "
        f"base URL."
    )
    return NetworkError(message, path=context.path)


_TIMEOUT_KINDS: dict[type, str] = {
    httpx.ConnectTimeout: "timed out while connecting",
    httpx.ReadTimeout: "timed out waiting for the response",
    httpx.WriteTimeout: "timed out while sending the body",
    httpx.PoolTimeout: "timed out waiting for a free connection",
}


def _is_write_refusal(status: int, code: str | None, context: RequestContext) -> bool:
    if not context.is_write:
        return False
    if context.read_succeeded:
        return True
    return status == 403 or code in _WRITE_REFUSAL_CODES


def _bad_request_error(
    parsed: ErrorBody, context: RequestContext, summary: str, common: dict[str, Any]
) -> IterableError:
    if parsed.code == "RequestFieldsTypesMismatched":
        validation_errors = parse_validation_errors(parsed.params)
        message = _types_mismatch_message(context, validation_errors, parsed)
        return FieldTypesMismatchError(message, validation_errors=validation_errors, **common)

    match = _INVALID_LIST_PATTERN.search(parsed.msg or parsed.excerpt)
    if match:
        list_id = _list_id_from_match(match) or context.list_id
        return InvalidListError(_invalid_list_message(list_id, summary), list_id=list_id, **common)

    return RequestRejectedError(_rejected_message(400, parsed, context, summary), **common)


def _list_id_from_match(match: re.Match[str]) -> int | None:
    text = match.group("list_id")
    try:
        return int(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Messages: what failed, where, and what to do
# ---------------------------------------------------------------------------------------------


def _describe_response(status: int, parsed: ErrorBody) -> str:
    parts = [f"HTTP {status}"]
    if parsed.code:
        parts.append(parsed.code)
    detail = parsed.msg or parsed.excerpt
    if detail:
        parts.append(repr(_truncate(detail, 160)))
    return ", ".join(parts)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _request(context: RequestContext) -> str:
    return f"{context.method} {context.path}"


def _key_label(context: RequestContext) -> str:
    if context.key_fingerprint:
        return f"the API key with fingerprint {context.key_fingerprint}"
    return "the API key"


def _bad_key_message(context: RequestContext, summary: str) -> str:
    region = (context.region or "us").upper()
    other = "EU" if region == "US" else "US"
    host = context.base_url or "the Iterable host"
    message = (
        f"Iterable rejected {_key_label(context)} on {_request(context)} ({summary}). Check that "
        f"the key is a server-side key of this project and was copied completely, and that the "
        f"region matches the project's data center. This client uses region {region} ({host}), "
        f"and a key from the {other} data center fails there like a bad key."
    )
    if context.is_write:
        message += (
            " If the same key can load the lists, it is a read-only, JavaScript or mobile key, "
            "which cannot write: use a server-side key."
        )
    return message


def _forbidden_message(context: RequestContext, summary: str) -> str:
    return (
        f"Iterable does not allow {_key_label(context)} to call {_request(context)} ({summary}). "
        f"The key type may not use this endpoint: create a server-side key in Iterable "
        f"(Integrations > API keys) and use that one."
    )


def _write_not_allowed_message(context: RequestContext, summary: str) -> str:
    reason = (
        "Reading with this key worked, so the key is valid but its type cannot write"
        if context.read_succeeded
        else "The response says the key may not make this call"
    )
    return (
        f"Iterable rejected the write {_request(context)} for {_key_label(context)} ({summary}). "
        f"{reason}: read-only, JavaScript and mobile keys can list but not subscribe or update "
        f"users. Create a server-side key in Iterable (Integrations > API keys) and use it."
    )


def _invalid_list_message(list_id: int | None, summary: str) -> str:
    name = f"List {list_id}" if list_id is not None else "The list"
    return (
        f"{name} does not exist in this project or is not a Standard list ({summary}). Pick a "
        f"Standard list that exists; Dynamic and Suppression lists take no subscribers. A list "
        f"created a few seconds ago can briefly be reported this way, so wait and try again if "
        f"you just created it."
    )


def _types_mismatch_message(
    context: RequestContext, errors: list[FieldTypeError], parsed: ErrorBody
) -> str:
    if errors:
        details = "; ".join(error.describe() for error in errors[:5])
        if len(errors) > 5:
            details += f"; and {len(errors) - 5} more"
    else:
        details = _truncate(parsed.msg or parsed.excerpt or "no details in the response", 200)
    return (
        f"Iterable rejected the whole request {_request(context)} because values do not match "
        f"the types of existing user fields (HTTP 400 RequestFieldsTypesMismatched): {details}. "
        f"A field's type is fixed by its first value: convert the values to that type, map them "
        f"to another field, or drop them."
    )


def _rejected_message(
    status: int, parsed: ErrorBody, context: RequestContext, summary: str
) -> str:
    advice = _REJECTION_ADVICE.get(parsed.code or "") or _STATUS_ADVICE.get(status)
    advice = advice or "Check the request against Iterable's API documentation."
    return f"Iterable rejected {_request(context)} ({summary}). {advice}"


_REJECTION_ADVICE: dict[str, str] = {
    "BatchTooLarge": (
        "The request body is too large: send smaller batches (fewer users, at most 4 MB)."
    ),
    "UniqueFieldsLimitExceeded": (
        "The project has reached its limit of about 1,000 user fields: map the data to "
        "existing fields or ask Iterable to raise the limit."
    ),
    "BadParams": "A parameter is missing or invalid: check the list id and each user item.",
    "BadJsonBody": "The body is not valid JSON for this endpoint.",
    "InvalidEmailAddressError": "An email address is missing or invalid: fix or drop it.",
    "InvalidUserIdError": "A userId is missing or invalid: fix or drop it.",
    "ForgottenUserError": "The user was forgotten (GDPR) and cannot be updated: drop the row.",
    "EmailAlreadyExists": "Another user already has this email: resolve the conflict first.",
    "UserIdAlreadyExists": "Another user already has this userId: resolve the conflict first.",
}

_STATUS_ADVICE: dict[int, str] = {
    404: "The path was not found: check the base URL (it should end at the host, without /api).",
    405: "The endpoint does not accept this method: check the base URL.",
    409: (
        "The update conflicts with an existing user (same email or userId) or with a forgotten "
        "user: resolve the conflict in Iterable or drop the row."
    ),
    413: "The request body is too large: send smaller batches (fewer users, at most 4 MB).",
}


def _rate_limit_message(context: RequestContext, summary: str, retry_after: float | None) -> str:
    wait = f"wait {retry_after:g} s as asked" if retry_after is not None else "back off"
    return (
        f"Iterable's rate limit was exceeded on {_request(context)} ({summary}): {wait} and send "
        f"again, and pace requests below the project's limit for this endpoint."
    )


def _server_error_message(context: RequestContext, summary: str) -> str:
    return (
        f"Iterable failed to process {_request(context)} ({summary}). This is usually temporary: "
        f"send the request again after a short wait."
    )


def _unexpected_status_message(
    status: int, headers: Mapping[str, str], context: RequestContext, secrets: tuple[str, ...]
) -> str:
    location = headers.get("location") if headers else None
    if 300 <= status < 400:
        target = f" to {_truncate(redact(location, secrets), 160)}" if location else ""
        return (
            f"{_request(context)} was redirected{target} (HTTP {status}). Set the base URL to "
            f"the final address (for Iterable: https://api.iterable.com or "
            f"https://api.eu.iterable.com)."
        )
    return f"{_request(context)} returned an unexpected HTTP {status}."
