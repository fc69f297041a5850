"""Whole-request failures, sent as Iterable's JSON envelope.

`ApiError` carries the HTTP status and the `{"msg", "code", "params"}` body; the app turns it
into a response. Decide nothing from `code`: like Iterable, an unknown list is HTTP 400 with
`"code": "Success"`.
"""

from __future__ import annotations

from typing import Any

FIELD_LIMIT = 1000


class ApiError(Exception):
    """A request the sandbox rejects as a whole."""

    def __init__(
        self, status: int, code: str, msg: str, params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.params = params
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"msg": self.msg, "code": self.code}
        if self.params is not None:
            body["params"] = self.params
        return body


def bad_params(msg: str, **params: Any) -> ApiError:
    return ApiError(400, "BadParams", msg, params or {})


def invalid_list(list_id: Any, project_id: int) -> ApiError:
    """Build Iterable's response for an unknown or non-Standard list: HTTP 400, code Success."""
    return ApiError(
        400, "Success", f"error.lists.invalidListId({list_id})",
        {"projectId": project_id, "listId": list_id},
    )


def bad_api_key(endpoint: str, client_ip: str) -> ApiError:
    return ApiError(401, "BadApiKey", "Invalid API key", {"ip": client_ip, "endpoint": endpoint})


def rate_limited(retry_after: float | None = None) -> ApiError:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return ApiError(429, "RateLimitExceeded", "Exceeded rate limit.", None, headers)


def field_limit_exceeded(project_id: int, count: int) -> ApiError:
    return ApiError(
        400, "UniqueFieldsLimitExceeded",
        f"Project {project_id}: this request would raise the number of user fields to {count}, "
        f"over the limit of {FIELD_LIMIT}. Reuse existing fields or drop unused ones.",
        {"limit": FIELD_LIMIT, "requested": count},
    )
