"""The error the client raises for each status and body the sandbox cannot produce on demand.

Each row of the table is one response (or transport failure) for one client call. The mock
transport sits inside `ContractTransport`, so the request the client builds is checked against
Iterable's published definitions in every row, and well-formed responses are checked too. Rows
whose body is deliberately malformed JSON skip the response check but still check the request.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Callable

import httpx
import pytest

from mapping.iterable import (
    BadApiKeyError,
    BulkUpdateResult,
    FieldTypeError,
    FieldTypesMismatchError,
    ForbiddenError,
    InvalidListError,
    IterableClient,
    IterableError,
    NetworkError,
    RateLimitError,
    RequestRejectedError,
    ServerError,
    UnexpectedResponseError,
    WriteNotAllowedError,
    forget_readable_keys,
)
from tests.contract import ContractTransport, validate_request

API_KEY = "test-key-5f2c9a7e1b3d4c6e8f0a2b4c6d8e0f1a"
BASE_URL = "http://127.0.0.1:9"

REQUEST_DEFINITIONS = {
    ("POST", "/api/lists/subscribe"): "SubscribeRequest",
    ("POST", "/api/users/bulkUpdate"): "BulkUpdateUsersRequest",
    ("POST", "/api/users/update"): "ApiUserUpdateRequest",
    ("POST", "/api/lists"): "CreateListRequest",
}

CALLS: dict[str, Callable[[IterableClient], Any]] = {
    "subscribe": lambda client: client.subscribe(
        101, [{"email": "Ada@Example.com", "dataFields": {"firstName": "Ada"}}]
    ),
    "bulk_update": lambda client: client.bulk_update(
        [{"email": "ada@example.com", "dataFields": {"signupDate": "soon"}}]
    ),
    "post_raw": lambda client: client.post_raw(
        "lists/subscribe", b'{"listId":101,"subscribers":[{"email":"ada@example.com"}]}'
    ),
    "update_user": lambda client: client.update_user(
        email="ada@example.com", data_fields={"city": "Berlin"}
    ),
    "create_list": lambda client: client.create_list("Spring"),
    "get_lists": lambda client: client.get_lists(),
    "get_fields": lambda client: client.get_fields(),
    "list_size": lambda client: client.list_size(101),
}


@pytest.fixture(autouse=True)
def fresh_key_memory():
    """Start each test with no remembered successful reads, since several tests share a key."""
    forget_readable_keys()
    yield
    forget_readable_keys()



def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _envelope(status: int, code: str, msg: str = "", params: dict | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"msg": msg, "code": code}
    if params is not None:
        body["params"] = params
    return _json(status, body, headers)


def _text(status: int, text: str, content_type: str = "text/plain",
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=text.encode(), headers={"content-type": content_type, **(headers or {})}
    )


def _http_date(seconds_from_now: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
    return format_datetime(moment, usegmt=True)


HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)

MISMATCH_PARAMS = {
    "validationErrors": {
        "signupDate": {
            "incomingTypes": ["string", "keyword"],
            "expectedType": "date",
            "_type": "UnexpectedType",
            "offendingValue": "soon",
            "category": "user",
        }
    }
}


@dataclass
class Case:
    """One row of the fault table: a call, what the server does, and what the client raises."""

    call: str
    respond: Callable[[httpx.Request], httpx.Response]
    error: type[IterableError] | None
    attributes: dict[str, Any] = field(default_factory=dict)
    message_has: tuple[str, ...] = ()
    check_response: bool = True


def _raise(exc_class: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc_class("simulated failure", request=request)

    return respond


PARTIAL_FAILURE = {
    "successCount": 1,
    "failCount": 2,
    "failedUpdates": {
        "invalidEmails": ["bad@@example.com"],
        "invalidDataEmails": ["ada@example.com"],
    },
    "createdFields": ["firstName"],
    "filteredOutFields": [],
    "invalidEmails": ["bad@@example.com"],
}

CASES: dict[str, Case] = {
    "200 partial failures": Case(
        "subscribe", lambda r: _json(200, PARTIAL_FAILURE), None,
        {"success_count": 1, "fail_count": 2, "created_fields": ["firstName"]},
    ),
    "400 invalid list with code Success": Case(
        "subscribe", lambda r: _envelope(400, "Success", "error.lists.invalidListId(101)"),
        InvalidListError, {"status": 400, "code": "Success", "list_id": 101},
        ("List 101", "Standard list"),
    ),
    "400 invalid list via post_raw": Case(
        "post_raw", lambda r: _envelope(400, "Success", "error.lists.invalidListId()"),
        InvalidListError, {"list_id": 101},
    ),
    "400 field types mismatched": Case(
        "bulk_update",
        lambda r: _envelope(400, "RequestFieldsTypesMismatched", "types differ", MISMATCH_PARAMS),
        FieldTypesMismatchError,
        {
            "status": 400,
            "code": "RequestFieldsTypesMismatched",
            "validation_errors": [
                FieldTypeError("signupDate", "date", "soon", ("string", "keyword"))
            ],
        },
        ("signupDate", "date", "'soon'"),
    ),
    "400 bad params": Case(
        "subscribe", lambda r: _envelope(400, "BadParams", "subscribers is required"),
        RequestRejectedError, {"status": 400, "code": "BadParams"},
        ("subscribers is required",),
    ),
    "400 batch too large": Case(
        "bulk_update", lambda r: _envelope(400, "BatchTooLarge", "Batch too large"),
        RequestRejectedError, {"code": "BatchTooLarge"}, ("smaller batches",),
    ),
    "400 unique fields limit": Case(
        "bulk_update", lambda r: _envelope(400, "UniqueFieldsLimitExceeded", "limit"),
        RequestRejectedError, {"code": "UniqueFieldsLimitExceeded"}, ("1,000 user fields",),
    ),
    "400 truncated json": Case(
        "subscribe", lambda r: _text(400, '{"msg": "error.li', "application/json"),
        RequestRejectedError, {"status": 400, "code": None}, check_response=False,
    ),
    "400 empty body": Case(
        "update_user", lambda r: httpx.Response(400), RequestRejectedError,
        {"status": 400, "code": None, "body_excerpt": ""},
    ),
    "401 bad key on read": Case(
        "get_lists", lambda r: _envelope(401, "BadApiKey", "Invalid API key"),
        BadApiKeyError, {"status": 401, "code": "BadApiKey"}, ("region US", "server-side"),
    ),
    "401 bad key on first write": Case(
        "subscribe", lambda r: _envelope(401, "BadApiKey", "Invalid API key"),
        BadApiKeyError, {"status": 401},
    ),
    "401 forbidden code on write": Case(
        "bulk_update", lambda r: _envelope(401, "Forbidden", "Key not allowed"),
        WriteNotAllowedError, {"status": 401, "code": "Forbidden"}, ("server-side key",),
    ),
    "403 on read": Case(
        "get_fields", lambda r: _envelope(403, "Forbidden", "not allowed"),
        ForbiddenError, {"status": 403}, ("server-side key",),
    ),
    "403 on write": Case(
        "create_list", lambda r: _envelope(403, "Forbidden", "not allowed"),
        WriteNotAllowedError, {"status": 403},
    ),
    "409 conflict": Case(
        "update_user", lambda r: _envelope(409, "EmailAlreadyExists", "email exists"),
        RequestRejectedError, {"status": 409, "code": "EmailAlreadyExists"},
    ),
    "409 forgotten user": Case(
        "update_user", lambda r: _envelope(409, "ForgottenUserError", "forgotten"),
        RequestRejectedError, {"status": 409, "code": "ForgottenUserError"}, ("GDPR",),
    ),
    "413 payload too large": Case(
        "bulk_update", lambda r: _text(413, "Request Entity Too Large"),
        RequestRejectedError, {"status": 413, "body_excerpt": "Request Entity Too Large"},
        ("smaller batches",),
    ),
    "429 without retry-after": Case(
        "subscribe", lambda r: _envelope(429, "RateLimitExceeded", "Rate limit exceeded"),
        RateLimitError, {"status": 429, "code": "RateLimitExceeded", "retry_after": None},
        ("back off",),
    ),
    "429 retry-after seconds": Case(
        "bulk_update",
        lambda r: _envelope(429, "RateLimitExceeded", "slow", headers={"Retry-After": "60"}),
        RateLimitError, {"retry_after": 60.0}, ("wait 60 s",),
    ),
    "429 retry-after http date": Case(
        "get_lists",
        lambda r: _envelope(429, "RateLimitExceeded", "slow",
                            headers={"Retry-After": _http_date(3600)}),
        RateLimitError,
    ),
    "429 retry-after date in past": Case(
        "get_lists",
        lambda r: _envelope(429, "RateLimitExceeded", "slow",
                            headers={"Retry-After": _http_date(-3600)}),
        RateLimitError, {"retry_after": 0.0},
    ),
    "500 json": Case(
        "subscribe", lambda r: _envelope(500, "GenericError", "Internal error"),
        ServerError, {"status": 500, "code": "GenericError", "retry_after": None},
    ),
    "503 text body": Case(
        "list_size", lambda r: _text(503, "Request timeout.  Try again later."),
        ServerError, {"status": 503, "code": None,
                      "body_excerpt": "Request timeout. Try again later."},
    ),
    "503 retry-after": Case(
        "bulk_update", lambda r: _text(503, "busy", headers={"Retry-After": "5"}),
        ServerError, {"retry_after": 5.0},
    ),
    "502 html page": Case(
        "subscribe", lambda r: _text(502, HTML_PAGE, "text/html"),
        ServerError, {"status": 502, "code": None}, ("502 Bad Gateway",),
    ),
    "200 html page": Case(
        "get_lists", lambda r: _text(200, HTML_PAGE, "text/html"),
        UnexpectedResponseError, {"status": 200}, ("not JSON",),
    ),
    "200 list size not a number": Case(
        "list_size", lambda r: _text(200, "lots"), UnexpectedResponseError,
        check_response=False,
    ),
    "dropped connection": Case(
        "subscribe", _raise(httpx.RemoteProtocolError), NetworkError,
        {"status": None, "retry_after": None}, ("lost the connection",),
    ),
    "read timeout": Case(
        "bulk_update", _raise(httpx.ReadTimeout), NetworkError, {"status": None},
        ("timed out",),
    ),
    "connect failure": Case(
        "get_lists", _raise(httpx.ConnectError), NetworkError, {}, ("could not connect",),
    ),
}


def _check_request(request: httpx.Request) -> None:
    definition = REQUEST_DEFINITIONS.get((request.method, request.url.path))
    if definition is not None:
        validate_request(definition, json.loads(request.content))


def _client_for(case: Case) -> tuple[IterableClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        _check_request(request)
        return case.respond(request)

    mock = httpx.MockTransport(handler)
    transport = ContractTransport(mock) if case.check_response else mock
    return IterableClient(API_KEY, base_url=BASE_URL, transport=transport), sent


@pytest.mark.parametrize("name", list(CASES))
def test_fault_table(name, caplog):
    case = CASES[name]
    client, sent = _client_for(case)
    caplog.set_level(logging.DEBUG)

    with client:
        if case.error is None:
            result = CALLS[case.call](client)
            error = None
        else:
            with pytest.raises(case.error) as raised:
                CALLS[case.call](client)
            error = raised.value

    assert len(sent) == 1
    assert sent[0].headers["Api-Key"] == API_KEY
    if error is None:
        for attribute, expected in case.attributes.items():
            assert getattr(result, attribute) == expected, attribute
        return

    assert type(error) is case.error
    assert error.path == sent[0].url.path
    for attribute, expected in case.attributes.items():
        assert getattr(error, attribute) == expected, attribute
    for phrase in case.message_has:
        assert phrase in error.message
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error)
    assert API_KEY not in caplog.text


def test_partial_failure_identifiers():
    client, _ = _client_for(CASES["200 partial failures"])

    with client:
        result = CALLS["subscribe"](client)

    assert isinstance(result, BulkUpdateResult)
    assert result.failed_updates.invalid_data_emails == ["ada@example.com"]
    assert result.failed_identifiers() == {
        "bad@@example.com": "invalid_email",
        "ada@example.com": "invalid_data",
    }


def test_http_date_retry_after_is_positive():
    client, _ = _client_for(CASES["429 retry-after http date"])

    with client, pytest.raises(RateLimitError) as raised:
        client.get_lists()

    assert 0 < raised.value.retry_after <= 3600


def test_network_error_keeps_cause():
    client, _ = _client_for(CASES["read timeout"])

    with client, pytest.raises(NetworkError) as raised:
        client.get_lists()

    assert isinstance(raised.value.__cause__, httpx.ReadTimeout)


def test_server_echoing_key_is_redacted(caplog):
    def handler(request: httpx.Request) -> httpx.Response:
        return _envelope(401, "BadApiKey", f"Invalid API key {request.headers['Api-Key']}")

    caplog.set_level(logging.DEBUG)
    with IterableClient(API_KEY, base_url=BASE_URL,
                        transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BadApiKeyError) as raised:
            client.get_lists()

    error = raised.value
    for text in (str(error), repr(error), error.body_excerpt, error.response_msg, caplog.text):
        assert API_KEY not in text


# -- a key that can read but not write -------------------------------------------------------


def _read_only_server() -> httpx.MockTransport:
    """Serve reads normally and reject every write with 401 BadApiKey, as for a read-only key."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return _json(200, {"lists": [
                {"id": 101, "name": "Newsletter", "createdAt": 1_700_000_000_000,
                 "listType": "Standard"}
            ]})
        _check_request(request)
        return _envelope(401, "BadApiKey", "Invalid API key")

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("call", ["subscribe", "bulk_update", "update_user", "create_list",
                                  "post_raw"])
def test_write_after_read_not_allowed(call):
    transport = ContractTransport(_read_only_server())

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        client.get_lists()
        with pytest.raises(WriteNotAllowedError) as raised:
            CALLS[call](client)

    assert raised.value.status == 401
    assert "server-side key" in raised.value.message
    assert "Reading with this key worked" in raised.value.message
    assert API_KEY not in str(raised.value)


def test_write_without_read_is_bad_key():
    with IterableClient(API_KEY, base_url=BASE_URL, transport=_read_only_server()) as client:
        with pytest.raises(BadApiKeyError):
            client.subscribe(101, [{"email": "ada@example.com"}])

    assert not client.read_succeeded


def test_failed_read_does_not_count():
    def handler(request: httpx.Request) -> httpx.Response:
        return _envelope(401, "BadApiKey", "Invalid API key")

    with IterableClient(API_KEY, base_url=BASE_URL,
                        transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(BadApiKeyError):
            client.get_lists()
        with pytest.raises(BadApiKeyError):
            client.subscribe(101, [{"email": "ada@example.com"}])


ECHOES: dict[str, Callable[[str], httpx.Response]] = {
    "params": lambda key: _envelope(401, "BadApiKey", "Invalid API key",
                                    {"apiKey": key, "headers": {"Api-Key": [key]}}),
    "validation errors": lambda key: _envelope(
        400, "RequestFieldsTypesMismatched", "mismatch",
        {"validationErrors": {key: {"expectedType": "string", "offendingValue": key}}},
    ),
    "across the excerpt cut": lambda key: _text(500, "p" * 280 + key),
    "upper case": lambda key: _text(503, f"key {key.upper()} is busy"),
    "base64": lambda key: _text(400, "auth " + base64.b64encode(key.encode()).decode()),
    "redirect location": lambda key: httpx.Response(302, headers={"Location": f"/login?k={key}"}),
}


@pytest.mark.parametrize("where", list(ECHOES))
def test_echoed_key_redacted(where, caplog):
    caplog.set_level(logging.DEBUG)
    transport = httpx.MockTransport(lambda request: ECHOES[where](API_KEY))

    with IterableClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(IterableError) as raised:
            client.bulk_update([{"email": "ada@example.com"}])

    error = raised.value
    texts = [str(error), repr(error), error.body_excerpt, error.response_msg or "",
             json.dumps(error.params), repr(getattr(error, "validation_errors", [])),
             caplog.text]
    for text in texts:
        assert API_KEY[-20:].lower() not in text.lower()


def test_read_remembered_across_clients():
    server = _read_only_server()
    with IterableClient(API_KEY, base_url=BASE_URL, transport=server) as reader:
        reader.get_lists()

    with IterableClient(API_KEY, base_url=BASE_URL, transport=server) as writer:
        assert writer.read_succeeded
        with pytest.raises(WriteNotAllowedError):
            writer.create_list("Spring")


def test_read_memory_per_base_url():
    server = _read_only_server()
    with IterableClient(API_KEY, base_url=BASE_URL, transport=server) as reader:
        reader.get_lists()

    with IterableClient(API_KEY, base_url="http://127.0.0.1:10", transport=server) as writer:
        assert not writer.read_succeeded
        with pytest.raises(BadApiKeyError):
            writer.create_list("Spring")


def test_forget_readable_keys():
    server = _read_only_server()
    with IterableClient(API_KEY, base_url=BASE_URL, transport=server) as client:
        client.get_lists()
        forget_readable_keys()

        assert not client.read_succeeded
