"""Unit tests of mapping.iterable.errors: body parsing, Retry-After and the status table."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from mapping.iterable import errors
from mapping.iterable.errors import (
    BadApiKeyError,
    BatchRejectedError,
    FatalError,
    FieldTypeError,
    FieldTypesMismatchError,
    ForbiddenError,
    InvalidListError,
    IterableError,
    NetworkError,
    RateLimitError,
    RequestContext,
    RequestRejectedError,
    RetryableError,
    ServerError,
    UnexpectedResponseError,
    WriteNotAllowedError,
    error_from_response,
    parse_error_body,
    parse_retry_after,
    parse_validation_errors,
)

SECRET = "0123456789abcdef0123456789abcdef"
JSON = {"content-type": "application/json"}
NOW = 1_700_000_000.0


def _context(**overrides) -> RequestContext:
    values = {
        "method": "POST",
        "path": "/api/lists/subscribe",
        "is_write": True,
        "region": "us",
        "base_url": "https://api.iterable.com",
        "key_fingerprint": "abcd1234",
    }
    values.update(overrides)
    return RequestContext(**values)


# -- hierarchy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_class", "parent"),
    [
        (FatalError, IterableError),
        (BadApiKeyError, FatalError),
        (ForbiddenError, FatalError),
        (WriteNotAllowedError, FatalError),
        (InvalidListError, FatalError),
        (RequestRejectedError, FatalError),
        (UnexpectedResponseError, FatalError),
        (RetryableError, IterableError),
        (RateLimitError, RetryableError),
        (ServerError, RetryableError),
        (NetworkError, RetryableError),
        (BatchRejectedError, IterableError),
        (FieldTypesMismatchError, BatchRejectedError),
    ],
)
def test_hierarchy_parent(error_class, parent):
    assert issubclass(error_class, parent)


def test_groups_are_disjoint():
    assert not issubclass(BatchRejectedError, FatalError)
    assert not issubclass(BatchRejectedError, RetryableError)
    assert not issubclass(RetryableError, FatalError)


def test_module_docstring_draws_tree():
    for name in ("FatalError", "RetryableError", "BatchRejectedError", "FieldTypesMismatchError"):
        assert name in errors.__doc__


def test_error_attributes_and_repr():
    error = RequestRejectedError(
        "rejected", status=409, code="EmailAlreadyExists", path="/api/users/update",
        body_excerpt="conflict",
    )

    assert error.status == 409
    assert error.code == "EmailAlreadyExists"
    assert error.path == "/api/users/update"
    assert error.body_text == "conflict"
    assert str(error) == "rejected"
    assert repr(error).startswith("RequestRejectedError(status=409")


# -- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("7", 7.0),
        (" 60 ", 60.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after_seconds(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_http_date_future():
    moment = datetime.fromtimestamp(NOW, tz=timezone.utc) + timedelta(seconds=90)
    header = format_datetime(moment, usegmt=True)

    assert parse_retry_after(header, now=NOW) == 90.0


def test_retry_after_http_date_past():
    moment = datetime.fromtimestamp(NOW, tz=timezone.utc) - timedelta(hours=1)
    header = format_datetime(moment, usegmt=True)

    assert parse_retry_after(header, now=NOW) == 0.0


def test_retry_after_date_without_zone():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00", now=NOW) is None


# -- bodies ------------------------------------------------------------------------------------


def test_body_json_envelope():
    body = b'{"msg": "Invalid API key", "code": "BadApiKey", "params": {"a": 1}}'

    parsed = parse_error_body(body, "application/json")

    assert parsed.msg == "Invalid API key"
    assert parsed.code == "BadApiKey"
    assert parsed.params == {"a": 1}


def test_body_json_with_text_content_type():
    parsed = parse_error_body(b'{"msg": "x", "code": "BadParams"}', "text/plain")

    assert parsed.code == "BadParams"


@pytest.mark.parametrize(
    "body",
    [b"", None, b"{", b'{"msg": "cut', b"[1, 2]", b'"text"', b"\xff\xfe\x00garbage", b"null"],
)
def test_body_not_an_envelope(body):
    parsed = parse_error_body(body, "application/json")

    assert parsed.code is None
    assert parsed.msg is None
    assert parsed.params == {}


def test_body_params_null():
    parsed = parse_error_body(b'{"msg": "", "code": "Success", "params": null}')

    assert parsed.params == {}
    assert parsed.code == "Success"


def test_body_mistyped_members():
    parsed = parse_error_body(b'{"msg": 5, "code": ["x"], "params": "p"}')

    assert parsed.msg is None
    assert parsed.code is None
    assert parsed.params == {}


def test_html_excerpt_drops_markup():
    page = (
        b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title>"
        b"<style>body { color: red }</style><script>var x = 1;</script></head>"
        b"<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    )

    parsed = parse_error_body(page, "text/html; charset=utf-8")

    assert "<" not in parsed.excerpt
    assert "color" not in parsed.excerpt
    assert "var x" not in parsed.excerpt
    assert "502 Bad Gateway" in parsed.excerpt


def test_excerpt_is_short():
    parsed = parse_error_body(b"x" * 10_000, "text/plain")

    assert len(parsed.excerpt) <= errors.BODY_EXCERPT_CHARS
    assert parsed.excerpt.endswith("...")


def test_excerpt_redacts_secret():
    body = f'{{"msg": "key {SECRET} is wrong", "code": "BadApiKey"}}'.encode()

    parsed = parse_error_body(body, "application/json", secrets=[SECRET])

    assert SECRET not in parsed.excerpt
    assert SECRET not in parsed.msg
    assert errors.REDACTED in parsed.msg


# -- validationErrors --------------------------------------------------------------------------


def test_validation_errors_dict_shape():
    params = {
        "validationErrors": {
            "signupDate": {
                "incomingTypes": ["string", "keyword"],
                "expectedType": "date",
                "_type": "UnexpectedType",
                "offendingValue": "GGG",
                "category": "user",
            }
        }
    }

    assert parse_validation_errors(params) == [
        FieldTypeError("signupDate", "date", "GGG", ("string", "keyword"))
    ]


def test_validation_errors_project_prefix():
    params = {"validationErrors": {"my_project:::signupDate": {"expectedType": "date"}}}

    assert parse_validation_errors(params)[0].field == "signupDate"


def test_validation_errors_list_shape():
    params = {
        "validationErrors": [
            {"field": "age", "expectedType": "long", "offendingValue": "ten"},
            {"fieldName": "consent", "expected_type": "boolean", "value": "maybe",
             "incomingType": "string"},
            "not an object",
        ]
    }

    assert parse_validation_errors(params) == [
        FieldTypeError("age", "long", "ten"),
        FieldTypeError("consent", "boolean", "maybe", ("string",)),
    ]


@pytest.mark.parametrize(
    "params",
    [None, {}, {"validationErrors": None}, {"validationErrors": "text"}, "params", []],
)
def test_validation_errors_missing(params):
    assert parse_validation_errors(params) == []


def test_validation_errors_entry_not_object():
    params = {"validationErrors": {"city": "wrong"}}

    assert parse_validation_errors(params) == [FieldTypeError("city", None)]


def test_field_type_error_describe():
    error = FieldTypeError("signupDate", "date", "soon", ("string",))

    assert error.describe() == "field 'signupDate' is date, got 'soon' (string)"


# -- status table ------------------------------------------------------------------------------


def _envelope(code: str, msg: str = "", params: dict | None = None) -> bytes:
    body: dict = {"msg": msg, "code": code}
    if params is not None:
        body["params"] = params
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("status", "headers", "body", "context", "expected"),
    [
        (400, JSON, _envelope("Success", "error.lists.invalidListId(42)"), _context(),
         InvalidListError),
        (400, JSON, _envelope("RequestFieldsTypesMismatched", "types"), _context(),
         FieldTypesMismatchError),
        (400, JSON, _envelope("BadParams", "bad"), _context(), RequestRejectedError),
        (400, JSON, _envelope("BatchTooLarge", "too big"), _context(), RequestRejectedError),
        (400, {}, b"", _context(), RequestRejectedError),
        (401, JSON, _envelope("BadApiKey", "Invalid API key"), _context(is_write=False),
         BadApiKeyError),
        (401, JSON, _envelope("BadApiKey", "Invalid API key"), _context(), BadApiKeyError),
        (401, JSON, _envelope("BadApiKey", "Invalid API key"), _context(read_succeeded=True),
         WriteNotAllowedError),
        (401, JSON, _envelope("Forbidden", "no"), _context(), WriteNotAllowedError),
        (401, JSON, _envelope("Unauthorized", "no"), _context(), WriteNotAllowedError),
        (403, JSON, _envelope("Forbidden", "no"), _context(is_write=False), ForbiddenError),
        (403, JSON, _envelope("Forbidden", "no"), _context(), WriteNotAllowedError),
        (404, {}, b"Not Found", _context(), RequestRejectedError),
        (408, {}, b"", _context(), ServerError),
        (409, JSON, _envelope("EmailAlreadyExists", "taken"), _context(), RequestRejectedError),
        (413, {}, b"Request Entity Too Large", _context(), RequestRejectedError),
        (429, JSON, _envelope("RateLimitExceeded", "slow down"), _context(), RateLimitError),
        (500, JSON, _envelope("GenericError", "oops"), _context(), ServerError),
        (503, {"content-type": "text/plain"}, b"Request timeout. Try again later.", _context(),
         ServerError),
        (302, {"location": "https://example.com/login"}, b"", _context(),
         UnexpectedResponseError),
    ],
)
def test_status_table(status, headers, body, context, expected):
    error = error_from_response(status, headers, body, context, secrets=[SECRET])

    assert type(error) is expected
    assert error.status == status
    assert error.path == context.path


def test_invalid_list_id_from_message():
    body = _envelope("Success", "error.lists.invalidListId(42)")

    error = error_from_response(400, JSON, body, _context(list_id=7))

    assert error.list_id == 42
    assert error.code == "Success"
    assert "List 42" in error.message
    assert "Standard list" in error.message


def test_invalid_list_id_falls_back_to_request():
    body = _envelope("Success", "error.lists.invalidListId()")

    error = error_from_response(400, JSON, body, _context(list_id=7))

    assert error.list_id == 7


def test_invalid_list_in_text_body():
    error = error_from_response(400, {}, b"error.lists.invalidListId(5)", _context())

    assert isinstance(error, InvalidListError)
    assert error.list_id == 5


def test_types_mismatch_message_names_field():
    params = {"validationErrors": {"signupDate": {"expectedType": "date", "offendingValue": "x"}}}
    body = _envelope("RequestFieldsTypesMismatched", "mismatch", params)

    error = error_from_response(400, JSON, body, _context(path="/api/users/bulkUpdate"))

    assert error.fields == ["signupDate"]
    assert "signupDate" in error.message
    assert "date" in error.message


def test_types_mismatch_without_params():
    body = _envelope("RequestFieldsTypesMismatched", "types differ")

    error = error_from_response(400, JSON, body, _context())

    assert error.validation_errors == []
    assert "types differ" in error.message


def test_bad_key_message_suggests_region():
    body = _envelope("BadApiKey", "Invalid API key")

    error = error_from_response(401, JSON, body, _context(is_write=False, region="eu"))

    assert "region EU" in error.message
    assert "US data center" in error.message
    assert "abcd1234" in error.message


def test_write_not_allowed_message_names_key_types():
    body = _envelope("BadApiKey", "Invalid API key")

    error = error_from_response(401, JSON, body, _context(read_succeeded=True))

    assert "server-side key" in error.message
    assert "read-only" in error.message


def test_rate_limit_retry_after_header():
    body = _envelope("RateLimitExceeded", "slow down")

    error = error_from_response(429, {**JSON, "retry-after": "12"}, body, _context())

    assert error.retry_after == 12.0
    assert "12 s" in error.message


def test_server_error_retry_after_header():
    error = error_from_response(503, {"retry-after": "30"}, b"busy", _context())

    assert error.retry_after == 30.0


@pytest.mark.parametrize(
    ("code", "phrase"),
    [
        ("BatchTooLarge", "smaller batches"),
        ("UniqueFieldsLimitExceeded", "1,000 user fields"),
        ("BadParams", "parameter"),
    ],
)
def test_rejection_advice(code, phrase):
    error = error_from_response(400, JSON, _envelope(code, "x"), _context())

    assert phrase in error.message


def test_redirect_message_names_target():
    error = error_from_response(301, {"location": "https://x.test/api"}, b"", _context())

    assert "https://x.test/api" in error.message


def test_secret_never_in_error():
    body = f'{{"msg": "bad key {SECRET}", "code": "BadApiKey"}}'.encode()

    error = error_from_response(401, JSON, body, _context(), secrets=[SECRET])

    for text in (str(error), repr(error), error.body_excerpt, error.response_msg):
        assert SECRET not in text
