"""Typed results of the Iterable API calls the workbench makes (pydantic models).

Field names are snake_case in Python and Iterable's camelCase on the wire; the models accept
either when built by hand. Unknown keys in responses are ignored, because Iterable adds fields
to its responses over time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "FAILURE_REASONS",
    "ApiResponse",
    "BulkUpdateResult",
    "FailedUpdates",
    "FailureReason",
    "IterableList",
]

FailureReason = Literal[
    "invalid_email", "invalid_user_id", "invalid_data", "conflict", "forgotten", "not_found"
]
FAILURE_REASONS: tuple[str, ...] = (
    "invalid_email",
    "invalid_user_id",
    "invalid_data",
    "conflict",
    "forgotten",
    "not_found",
)


class _IterableModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class IterableList(_IterableModel):
    """One list of the project, as returned by ``GET /api/lists``.

    `created_at` is in epoch milliseconds. `list_type` is Standard, Dynamic, Suppression or
    Internal; only Standard lists take subscribers.
    """

    id: int
    name: str
    created_at: int
    list_type: str
    description: str | None = None
    is_global_suppression_enabled: bool | None = None

    @property
    def is_standard(self) -> bool:
        """Whether subscribers can be added to this list."""
        return self.list_type == "Standard"


# (bucket attribute, identifier kind, reason). Earlier entries win when an identifier appears in
# more than one bucket, so the most specific reason is kept.
_BUCKETS: tuple[tuple[str, str, FailureReason], ...] = (
    ("invalid_emails", "email", "invalid_email"),
    ("invalid_user_ids", "user_id", "invalid_user_id"),
    ("forgotten_emails", "email", "forgotten"),
    ("forgotten_user_ids", "user_id", "forgotten"),
    ("conflict_emails", "email", "conflict"),
    ("conflict_user_ids", "user_id", "conflict"),
    ("not_found_emails", "email", "not_found"),
    ("not_found_user_ids", "user_id", "not_found"),
    ("invalid_data_emails", "email", "invalid_data"),
    ("invalid_data_user_ids", "user_id", "invalid_data"),
)


class FailedUpdates(_IterableModel):
    """The ``failedUpdates`` object: the users of a bulk call that were not updated, by reason."""

    conflict_emails: list[str] = Field(default_factory=list)
    conflict_user_ids: list[str] = Field(default_factory=list)
    forgotten_emails: list[str] = Field(default_factory=list)
    forgotten_user_ids: list[str] = Field(default_factory=list)
    invalid_data_emails: list[str] = Field(default_factory=list)
    invalid_data_user_ids: list[str] = Field(default_factory=list)
    invalid_emails: list[str] = Field(default_factory=list)
    invalid_user_ids: list[str] = Field(default_factory=list)
    not_found_emails: list[str] = Field(default_factory=list)
    not_found_user_ids: list[str] = Field(default_factory=list)

    def total(self) -> int:
        """Count the entries of all buckets (an identifier in two buckets counts twice)."""
        return sum(len(getattr(self, name)) for name, _, _ in _BUCKETS)


class BulkUpdateResult(_IterableModel):
    """The response of ``lists/subscribe`` and ``users/bulkUpdate`` (UserBulkUpdateListResponse).

    A partial failure is still HTTP 200: `fail_count` and the `failed_updates` buckets list the
    users that were not written. `invalid_emails` and `invalid_user_ids` at the top level are the
    deprecated copies Iterable still sends.
    """

    success_count: int = 0
    fail_count: int = 0
    failed_updates: FailedUpdates = Field(default_factory=FailedUpdates)
    created_fields: list[str] = Field(default_factory=list)
    filtered_out_fields: list[str] = Field(default_factory=list)
    invalid_emails: list[str] = Field(default_factory=list)
    invalid_user_ids: list[str] = Field(default_factory=list)

    @property
    def has_failures(self) -> bool:
        """Whether any user of the request was not written."""
        return bool(self.fail_count or self.failed_updates.total() or self.invalid_emails
                    or self.invalid_user_ids)

    def failed_identifiers(self) -> dict[str, FailureReason]:
        """Map each failed identifier to its reason code.

        Emails are lower-cased, because Iterable stores and returns them lower-cased, so a caller
        looks up ``email.lower()``. A userId is kept exactly as returned, because userIds are
        case-sensitive. When an identifier appears in several buckets the most specific reason
        wins (invalid identifier, forgotten, conflict, not found, then invalid data). The
        deprecated top-level lists only add identifiers that no bucket names.
        """
        reasons: dict[str, FailureReason] = {}
        for bucket, kind, reason in _BUCKETS:
            for identifier in getattr(self.failed_updates, bucket):
                reasons.setdefault(_identifier_key(identifier, kind), reason)

        for email in self.invalid_emails:
            reasons.setdefault(_identifier_key(email, "email"), "invalid_email")
        for user_id in self.invalid_user_ids:
            reasons.setdefault(_identifier_key(user_id, "user_id"), "invalid_user_id")
        return reasons

    def failed_emails(self) -> dict[str, FailureReason]:
        """Map each failed email (lower-cased) to its reason code."""
        return self._failed_of_kind("email")

    def failed_user_ids(self) -> dict[str, FailureReason]:
        """Map each failed userId (as returned) to its reason code."""
        return self._failed_of_kind("user_id")

    def _failed_of_kind(self, wanted: str) -> dict[str, FailureReason]:
        reasons: dict[str, FailureReason] = {}
        for bucket, kind, reason in _BUCKETS:
            if kind == wanted:
                for identifier in getattr(self.failed_updates, bucket):
                    reasons.setdefault(_identifier_key(identifier, kind), reason)
        deprecated = self.invalid_emails if wanted == "email" else self.invalid_user_ids
        fallback: FailureReason = "invalid_email" if wanted == "email" else "invalid_user_id"
        for identifier in deprecated:
            reasons.setdefault(_identifier_key(identifier, wanted), fallback)
        return reasons


def _identifier_key(identifier: str, kind: str) -> str:
    return identifier.lower() if kind == "email" else identifier


class ApiResponse(_IterableModel):
    """The common ``{"msg", "code", "params"}`` response (IterableApiResponse)."""

    msg: str = ""
    code: str = ""
    params: dict[str, Any] | None = None

    @classmethod
    def from_body(cls, body: Any) -> ApiResponse:
        """Build from a decoded JSON body, tolerating missing or mistyped members."""
        if not isinstance(body, dict):
            return cls()
        msg = body.get("msg")
        code = body.get("code")
        params = body.get("params")
        return cls(
            msg=msg if isinstance(msg, str) else "",
            code=code if isinstance(code, str) else "",
            params=params if isinstance(params, dict) else None,
        )
