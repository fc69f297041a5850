"""Contract checks against Iterable's published Swagger file (tests/data/api-docs.json).

`validate_request` and `validate_response` check one body against a named definition.
`ContractTransport` wraps a real httpx transport. It checks every request the client sends and
every response that comes back against the definition for its method and path. Any test that
builds its client with this transport therefore runs the contract checks as a side effect.

The file has known mistakes, handled here explicitly rather than by loosening the checks:
`ListDetails.createdAt` is declared int32 but real values are epoch milliseconds, so the int32
format is replaced by a check that the value is a plausible epoch-millisecond integer;
`GET /api/lists/{listId}/size` returns a plain-text number, which is checked as such; and
`IterableApiResponse.params` may be null, as Iterable sends it on a successful users/update.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import httpx
import jsonschema

SPEC_PATH = Path(__file__).parent / "data" / "api-docs.json"

# (method, path pattern) -> request definition
REQUEST_DEFINITIONS: dict[tuple[str, str], str] = {
    ("POST", r"/api/lists/subscribe"): "SubscribeRequest",
    ("POST", r"/api/users/bulkUpdate"): "BulkUpdateUsersRequest",
    ("POST", r"/api/users/update"): "ApiUserUpdateRequest",
    ("POST", r"/api/lists"): "CreateListRequest",
}

# (method, path pattern) -> definition of a successful (2xx) JSON response
RESPONSE_DEFINITIONS: dict[tuple[str, str], str] = {
    ("GET", r"/api/lists"): "GetListsResponse",
    ("POST", r"/api/lists"): "CreateListResponse",
    ("GET", r"/api/users/getFields"): "GetUserFieldsResponse",
    ("POST", r"/api/lists/subscribe"): "UserBulkUpdateListResponse",
    ("POST", r"/api/users/bulkUpdate"): "UserBulkUpdateListResponse",
    ("POST", r"/api/users/update"): "IterableApiResponse",
}

LIST_SIZE_PATH = re.compile(r"/api/lists/\d+/size")

# Epoch milliseconds between 2001 and 2286: far outside int32, which is the point.
_EPOCH_MS_RANGE = (1_000_000_000_000, 9_999_999_999_999)


class ContractViolation(AssertionError):
    """A request or response that does not match Iterable's published definitions."""


@cache
def _spec() -> dict:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    created_at = spec["definitions"]["ListDetails"]["properties"]["createdAt"]
    # NOTE: the published file declares int32, but Iterable sends epoch milliseconds (int64).
    created_at["format"] = "int64"
    params = spec["definitions"]["IterableApiResponse"]["properties"]["params"]
    # NOTE: the file declares `params` an object, but Iterable returns, for a successful
    # users/update, `"params": null` (recorded responses in Iterable/api-client's tests).
    params["type"] = ["object", "null"]
    return spec


def _validator(definition: str) -> jsonschema.Draft4Validator:
    spec = _spec()
    if definition not in spec["definitions"]:
        raise KeyError(f"no definition named {definition!r} in {SPEC_PATH.name}")
    schema = {"$ref": f"#/definitions/{definition}", "definitions": spec["definitions"]}
    return jsonschema.Draft4Validator(schema)


def _check(definition: str, body: object, subject: str) -> None:
    errors = sorted(_validator(definition).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(
            f"{'/'.join(str(p) for p in error.path) or '<root>'}: {error.message}"
            for error in errors[:5]
        )
        raise ContractViolation(f"{subject} does not match {definition}: {details}")
    if definition == "GetListsResponse":
        for item in body["lists"]:  # type: ignore[index]
            low, high = _EPOCH_MS_RANGE
            if not low <= item["createdAt"] <= high:
                raise ContractViolation(
                    f"{subject}: list {item['id']} createdAt {item['createdAt']} is not epoch ms"
                )


def validate_request(definition: str, body: object) -> None:
    """Raise ContractViolation unless `body` matches the request definition."""
    _check(definition, body, "request body")


def validate_response(definition: str, body: object) -> None:
    """Raise ContractViolation unless `body` matches the response definition."""
    _check(definition, body, "response body")


def _lookup(table: dict[tuple[str, str], str], method: str, path: str) -> str | None:
    for (table_method, pattern), definition in table.items():
        if table_method == method and re.fullmatch(pattern, path):
            return definition
    return None


def check_exchange(request: httpx.Request, response: httpx.Response) -> None:
    """Check one request and its response against the definitions for their path."""
    path = request.url.path
    method = request.method

    request_definition = _lookup(REQUEST_DEFINITIONS, method, path)
    if request_definition is not None:
        validate_request(request_definition, json.loads(request.content or b"null"))

    if LIST_SIZE_PATH.fullmatch(path) and response.status_code == 200:
        text = response.text.strip()
        if not text.isdigit():
            raise ContractViolation(f"list size body is not a plain number: {text[:80]!r}")
        return

    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        return  # HTML and plain-text error pages are legal; the client must cope with them
    body = json.loads(response.content)
    if response.is_success:
        response_definition = _lookup(RESPONSE_DEFINITIONS, method, path)
        if response_definition is not None:
            validate_response(response_definition, body)
    else:
        validate_response("IterableApiResponse", body)


class ContractTransport(httpx.BaseTransport):
    """An httpx transport that checks every exchange against the published definitions.

    Violations are raised to the caller and also kept in `violations`, so a fixture can fail
    the test at teardown even if the code under test swallowed the exception.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.violations: list[ContractViolation] = []
        self.exchanges = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self.inner.handle_request(request)
        response.read()
        try:
            check_exchange(request, response)
        except ContractViolation as violation:
            self.violations.append(violation)
            raise
        self.exchanges += 1
        return response

    def close(self) -> None:
        self.inner.close()
