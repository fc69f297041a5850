"""The sandbox's Starlette application: Iterable's endpoints plus `/_sandbox/` inspection.

Every `/api/` request passes, in order: injected faults (latency, dropped connection, 5xx,
429), authentication by `Api-Key` header or `api_key` query parameter, the key type's
permissions, the project's rate limit, then the endpoint. `/_sandbox/` endpoints need a
server-side key and never see faults or rate limits.

The rate limit counts a request at the time it arrived, before the injected latency: the
latency models time spent on the network and in Iterable, so it must not move requests
closer together than the client sent them. Bulk writes run in a worker thread, so the event loop
keeps reading and stamping new requests while a batch is written.

A key that exists but may not call an endpoint (a read-only key writing, a mobile key
subscribing) gets the same 401 `BadApiKey` body as an unknown key, with the endpoint named
in `params`. NOTE: Iterable's docs list only "401 Invalid API key" for every endpoint and its
own tests record `{"msg": "Invalid API key", "code": "BadApiKey", "params": {"ip", "endpoint"}}`
for a key used on an endpoint outside its scope; no public source shows a 403 for a key type,
so the sandbox answers 401 and a client must tell "bad key" from "key cannot write" by whether
reads with the same key worked.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mapping.iterable.sandbox import errors
from mapping.iterable.sandbox.errors import ApiError, bad_params
from mapping.iterable.sandbox.faults import ARRIVED, FaultDice, FaultLayer, Faults
from mapping.iterable.sandbox.limits import RateLimiter, route_name
from mapping.iterable.sandbox.store import KeyInfo, SandboxStore, now_ms, record_received
from mapping.iterable.sandbox.users import (
    BulkOptions, BulkOutcome, BulkWriter, update_single_user,
)
from mapping.iterable.sandbox.values import format_date

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
CLIENT_CLOSED = 499  # logged when the client went away before its body was read
READ_ROUTES = {
    "GET /api/lists", "GET /api/users/getFields", "GET /api/users/getByEmail",
    "GET /api/lists/{listId}/size",
}
CLIENT_SIDE_ROUTES = {"POST /api/users/update"}


@dataclass
class SandboxState:
    """The application's shared state: store, region, rate limiter and fault dice.

    The `SandboxServer` that owns it changes faults, limits and region while it runs.
    """

    store: SandboxStore
    region: str = "us"
    limiter: RateLimiter = field(default_factory=RateLimiter)
    dice: FaultDice = field(default_factory=lambda: FaultDice(Faults()))

    @property
    def faults(self) -> Faults:
        return self.dice.faults

    def set_faults(self, faults: Faults) -> None:
        self.dice.replace(faults)
        self.limiter.set_subscribe_limit(faults.subscribe_rate_limit)

    @property
    def project_id(self) -> int:
        return int(self.store.setting("project_id", 10001))


def allowed(key: KeyInfo, route: str) -> bool:
    """Return whether a key of this type may call `route` (Iterable's API key types)."""
    if key.key_type == "server_side":
        return True
    if key.key_type == "read_only":
        return route in READ_ROUTES
    return route in CLIENT_SIDE_ROUTES  # mobile and JavaScript keys


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


# --- request helpers -------------------------------------------------------------------------


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


def arrival_time(request: Request) -> float | None:
    """The monotonic time the request reached the server, stamped by the fault layer."""
    return request.scope.get("state", {}).get(ARRIVED)


def authenticate(request: Request, state: SandboxState, *, admin: bool = False) -> KeyInfo:
    """Return the caller's key after checking it exists, fits the region and may call the
    endpoint; raise ApiError 401 BadApiKey otherwise."""
    route = route_name(request.method, request.url.path)
    key = request.headers.get("api-key") or request.query_params.get("api_key")
    info = state.store.key_info(key) if key else None
    if info is None or not info.matches_region(state.region):
        raise errors.bad_api_key(request.url.path, client_ip(request))
    if (admin and info.key_type != "server_side") or (not admin and not allowed(info, route)):
        logger.info("rejected a %s key on %s: not allowed for this key type", info.key_type, route)
        raise errors.bad_api_key(request.url.path, client_ip(request))
    return info


async def read_body(request: Request) -> bytes:
    """Read the request body; raise ApiError 413 BatchTooLarge past MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int) -> ApiError:
    return ApiError(
        413, "BatchTooLarge",
        f"Request body of at least {size} bytes is over the limit of {MAX_BODY_BYTES} bytes "
        "(4 MB). Send fewer users per request.",
        {"maxBytes": MAX_BODY_BYTES, "receivedBytes": size},
    )


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await read_body(request)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "BadJsonBody", "The request body is not valid JSON.", {}) from None
    if not isinstance(data, dict):
        raise ApiError(400, "BadJsonBody", "The request body must be a JSON object.", {})
    return data


def optional_bool(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad_params(f"{name} must be true or false, got {value!r}.", field=name)
    return value


def required_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_params(f"{name} must be an integer, got {value!r}.", field=name)
    return value


def required_list(data: dict[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    if not isinstance(value, list):
        raise bad_params(f"{name} must be an array of users.", field=name)
    return value


# --- Iterable endpoints ----------------------------------------------------------------------


def list_json(row) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row.id, "name": row.name, "createdAt": row.created_at, "listType": row.list_type,
    }
    if row.description:
        item["description"] = row.description
    if row.list_type == "Suppression":
        item["isGlobalSuppressionEnabled"] = False
    return item


async def get_lists(request: Request, state: SandboxState) -> Response:
    return JSONResponse({"lists": [list_json(row) for row in state.store.lists()]})


async def create_list(request: Request, state: SandboxState) -> Response:
    data = await read_json_object(request)
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not name.strip():
        raise bad_params("name is required: a non-empty string.", field="name")
    if description is not None and not isinstance(description, str):
        raise bad_params("description must be a string.", field="description")
    row = state.store.create_list(name, description)
    logger.info("created list %d", row.id)
    return JSONResponse({"listId": row.id})


def usable_list(state: SandboxState, raw_id: Any, *, standard_only: bool):
    """Return the list, or raise invalidListId if it is unknown, not Standard when
    `standard_only`, or still inside its injected slow period."""
    row = state.store.get_list(raw_id) if isinstance(raw_id, int) else None
    slow_ms = state.faults.slow_list_seconds * 1000
    if (
        row is None
        or (standard_only and row.list_type != "Standard")
        or (slow_ms and now_ms() - row.created_at < slow_ms)
    ):
        raise errors.invalid_list(raw_id, state.project_id)
    return row


async def list_size(request: Request, state: SandboxState) -> Response:
    raw = request.path_params["list_id"]
    list_id = int(raw) if raw.isdigit() else raw
    row = usable_list(state, list_id, standard_only=False)
    return PlainTextResponse(str(state.store.list_size(row.id)))


async def get_fields(request: Request, state: SandboxState) -> Response:
    return JSONResponse({"fields": state.store.fields()})


async def subscribe(request: Request, state: SandboxState) -> Response:
    data = await read_json_object(request)
    list_id = required_int(data.get("listId"), "listId")
    subscribers = required_list(data, "subscribers")
    only_existing = optional_bool(data, "updateExistingUsersOnly")
    usable_list(state, list_id, standard_only=True)
    options = BulkOptions(
        "subscribe", drop_unknown_fields=state.store.drop_unknown_fields,
        update_existing_only=bool(only_existing), list_id=list_id, project_id=state.project_id,
    )
    return await write_bulk(request, state, subscribers, options)


async def bulk_update(request: Request, state: SandboxState) -> Response:
    data = await read_json_object(request)
    users = required_list(data, "users")
    options = BulkOptions(
        "bulkUpdate", create_new_fields=optional_bool(data, "createNewFields"),
        drop_unknown_fields=state.store.drop_unknown_fields, project_id=state.project_id,
    )
    return await write_bulk(request, state, users, options)


def apply_bulk(
    store: SandboxStore, route: str, items: list[Any], options: BulkOptions
) -> BulkOutcome:
    """Write one bulk request and count its accepted users as received, in one transaction."""
    with store.transaction() as conn:
        outcome = BulkWriter(conn, options).write_all(items)
        record_received(conn, route, outcome.accepted_identifiers)
    return outcome


def apply_single(
    store: SandboxStore, route: str, data: dict[str, Any], options: BulkOptions
) -> str:
    """Write one users/update request and count its user as received, in one transaction."""
    with store.transaction() as conn:
        label = update_single_user(conn, data, options)
        record_received(conn, route, [label])
    return label


async def write_bulk(
    request: Request, state: SandboxState, items: list[Any], options: BulkOptions
) -> Response:
    # The write runs in a worker thread: meanwhile the event loop keeps accepting requests
    # and stamps their arrival for the rate limiter on time.
    route = route_name(request.method, request.url.path)
    outcome = await run_in_threadpool(apply_bulk, state.store, route, items, options)
    body = outcome.body()
    logger.info(
        "%s: %d users accepted, %d failed", options.mode, body["successCount"], body["failCount"]
    )
    return JSONResponse(body)


async def update_user(request: Request, state: SandboxState) -> Response:
    data = await read_json_object(request)
    if "dataFields" in data and not isinstance(data["dataFields"], (dict, type(None))):
        raise bad_params("dataFields must be an object.", field="dataFields")
    options = BulkOptions(
        "update", create_new_fields=optional_bool(data, "createNewFields"),
        drop_unknown_fields=state.store.drop_unknown_fields, project_id=state.project_id,
    )
    optional_bool(data, "preferUserId")
    optional_bool(data, "mergeNestedObjects")
    route = route_name(request.method, request.url.path)
    await run_in_threadpool(apply_single, state.store, route, data, options)
    # Iterable answers a successful update with an empty message and null params.
    return JSONResponse({"msg": "", "code": "Success", "params": None})


async def get_by_email(request: Request, state: SandboxState) -> Response:
    email = request.query_params.get("email")
    if not email:
        raise bad_params("The email query parameter is required.", field="email")
    profile = state.store.find_user(email=email)
    if profile is None:
        return JSONResponse({})
    return JSONResponse({"user": iterable_user(profile)})


def iterable_user(profile: dict[str, Any]) -> dict[str, Any]:
    """Convert a stored profile to the shape of Iterable's `UserResponse.user`."""
    data = dict(profile["dataFields"])
    data["emailListIds"] = profile["listIds"]
    data["profileUpdatedAt"] = format_date_ms(profile["updatedAt"])
    user: dict[str, Any] = {"email": profile["email"], "dataFields": data}
    if "userId" in profile:
        user["userId"] = profile["userId"]
    return user


def format_date_ms(stamp_ms: int) -> str:
    """Format epoch milliseconds the way Iterable shows dates."""
    return format_date(datetime.fromtimestamp(stamp_ms / 1000, tz=timezone.utc))


# --- /_sandbox/ inspection and control --------------------------------------------------------


async def sandbox_state(request: Request, state: SandboxState) -> Response:
    store = state.store
    lists = [
        {**list_json(row), "size": store.list_size(row.id)} for row in store.lists()
    ]
    return JSONResponse({
        "project": {
            "id": state.project_id, "region": state.region,
            "dropUnknownFields": store.drop_unknown_fields,
        },
        "lists": lists,
        "fields": store.fields(),
        "userCount": store.user_count(),
        "faults": state.faults.to_dict(),
        "rateLimits": state.limiter.describe(),
    })


def int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise bad_params(f"{name} must be an integer, got {raw!r}.", field=name)
    return int(raw)


async def sandbox_users(request: Request, state: SandboxState) -> Response:
    list_id = int_param(request, "listId", None)
    if list_id is not None and state.store.get_list(list_id) is None:
        raise errors.invalid_list(list_id, state.project_id)
    limit = int_param(request, "limit", 1000) or 1000
    offset = int_param(request, "offset", 0) or 0
    return JSONResponse(state.store.users(list_id, limit=limit, offset=offset))


async def sandbox_user(request: Request, state: SandboxState) -> Response:
    email, user_id = request.query_params.get("email"), request.query_params.get("userId")
    if not email and not user_id:
        raise bad_params("Give ?email= or ?userId=.")
    profile = state.store.find_user(email=email or None, user_id=user_id)
    if profile is None:
        raise ApiError(404, "NotFound", f"No user {email or user_id} in the sandbox.", {})
    return JSONResponse({"user": profile})


async def sandbox_forget(request: Request, state: SandboxState) -> Response:
    data = await read_json_object(request)
    email, user_id = data.get("email"), data.get("userId")
    if not isinstance(email, str) and not isinstance(user_id, str):
        raise bad_params("Send {\"email\": ...} or {\"userId\": ...} to forget a user.")
    existed = state.store.forget(
        email=email if isinstance(email, str) else None,
        user_id=user_id if isinstance(user_id, str) else None,
    )
    return JSONResponse({"msg": "forgotten", "code": "Success", "params": {"existed": existed}})


async def sandbox_project(request: Request, state: SandboxState) -> Response:
    if request.method == "POST":
        data = await read_json_object(request)
        unknown = sorted(set(data) - {"drop_unknown_fields"})
        if unknown:
            raise bad_params(f"Unknown project setting(s) {', '.join(unknown)}; "
                             "the one setting is drop_unknown_fields.")
        value = optional_bool(data, "drop_unknown_fields")
        if value is not None:
            state.store.set_setting("drop_unknown_fields", value)
    return JSONResponse({"drop_unknown_fields": state.store.drop_unknown_fields,
                         "project_id": state.project_id})


async def sandbox_faults(request: Request, state: SandboxState) -> Response:
    if request.method == "POST":
        data = await read_json_object(request)
        try:
            state.set_faults(Faults.from_dict(data))
        except (TypeError, ValueError) as problem:
            raise bad_params(f"Invalid faults: {problem}") from None
        logger.info("faults set over HTTP: %s", state.faults)
    return JSONResponse(state.faults.to_dict())


async def sandbox_requests(request: Request, state: SandboxState) -> Response:
    endpoint = request.query_params.get("endpoint")
    return JSONResponse({
        "endpoints": state.store.request_counts(),
        "received": state.store.received_counts(endpoint),
    })


async def sandbox_reset(request: Request, state: SandboxState) -> Response:
    state.store.reset()
    return JSONResponse({"msg": "reset to the seed project", "code": "Success", "params": {}})


# --- wiring ----------------------------------------------------------------------------------

Handler = Callable[[Request, SandboxState], Awaitable[Response]]


def endpoint(handler: Handler, state: SandboxState, *, admin: bool = False):
    """Wrap a handler with authentication, the rate limit and ApiError handling."""

    async def run(request: Request) -> Response:
        route = route_name(request.method, request.url.path)
        try:
            authenticate(request, state, admin=admin)
            if not admin and not state.limiter.allow(route, arrival_time(request)):
                raise errors.rate_limited()
            return await handler(request, state)
        except ApiError as error:
            logger.info("%s answered %d %s: %s", route, error.status, error.code, error.msg[:200])
            return error_response(error)
        except ClientDisconnect:
            logger.info("%s: the client closed the connection before sending its body", route)
            return Response(status_code=CLIENT_CLOSED)

    run.__name__ = handler.__name__
    return run


def build_routes(state: SandboxState) -> list[Route]:
    api = [
        ("/api/lists", get_lists, ["GET"]),
        ("/api/lists", create_list, ["POST"]),
        ("/api/lists/subscribe", subscribe, ["POST"]),
        ("/api/lists/{list_id}/size", list_size, ["GET"]),
        ("/api/users/getFields", get_fields, ["GET"]),
        ("/api/users/bulkUpdate", bulk_update, ["POST"]),
        ("/api/users/update", update_user, ["POST"]),
        ("/api/users/getByEmail", get_by_email, ["GET"]),
    ]
    admin = [
        ("/_sandbox/state", sandbox_state, ["GET"]),
        ("/_sandbox/users", sandbox_users, ["GET"]),
        ("/_sandbox/user", sandbox_user, ["GET"]),
        ("/_sandbox/forget", sandbox_forget, ["POST"]),
        ("/_sandbox/project", sandbox_project, ["GET", "POST"]),
        ("/_sandbox/faults", sandbox_faults, ["GET", "POST"]),
        ("/_sandbox/requests", sandbox_requests, ["GET"]),
        ("/_sandbox/reset", sandbox_reset, ["POST"]),
    ]
    routes = [Route(path, endpoint(handler, state), methods=methods)
              for path, handler, methods in api]
    routes += [Route(path, endpoint(handler, state, admin=True), methods=methods)
               for path, handler, methods in admin]
    return routes


async def not_found(request: Request, exc: HTTPException) -> Response:
    title = "Action not found" if exc.status_code == 404 else "Method not allowed"
    page = f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>" \
           f"<p>{request.method} {request.url.path}</p></body></html>"
    return HTMLResponse(page, status_code=exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("sandbox failed on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"msg": f"Sandbox internal error: {type(exc).__name__}", "code": "GenericError",
         "params": {}}, status_code=500,
    )


def create_app(state: SandboxState) -> Callable:
    """The ASGI application: Starlette routes wrapped in the fault and request-log layer."""
    app = Starlette(
        routes=build_routes(state),
        exception_handlers={404: not_found, 405: not_found, Exception: server_error},
    )
    return FaultLayer(app, state)
