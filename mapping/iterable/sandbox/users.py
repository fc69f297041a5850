"""Writing users the way Iterable's `lists/subscribe`, `users/bulkUpdate` and `users/update` do.

`BulkWriter` runs one bulk request inside one SQLite transaction, item by item. A user that
fails lands in one `failedUpdates` bucket, and invalid emails and user ids also in the
deprecated top-level `invalidEmails` / `invalidUserIds`. The other users are written. A failure of the whole
request (an `email: null`, a type conflict on bulkUpdate, the field limit) raises `ApiError`
and the transaction rolls back, so nothing of that batch is stored.

Identity rules: an item has an `email` or a `userId`, not both and not neither. Emails are
stored lower-cased. An unknown `userId` without `preferUserId` is not created (the sandbox
project is email-based, as most are); with it, the user gets a placeholder email as Iterable
gives it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from mapping.iterable.sandbox.errors import FIELD_LIMIT, ApiError, bad_params, field_limit_exceeded
from mapping.iterable.sandbox.fields import FieldPlan, merge_profile, plan_data_fields
from mapping.iterable.sandbox.store import now_ms
from mapping.iterable.sandbox.values import is_valid_email, is_valid_user_id, normalize_email

logger = logging.getLogger(__name__)

BUCKETS = (
    "conflictEmails", "conflictUserIds", "forgottenEmails", "forgottenUserIds",
    "invalidDataEmails", "invalidDataUserIds", "invalidEmails", "invalidUserIds",
    "notFoundEmails", "notFoundUserIds",
)
PLACEHOLDER_DOMAIN = "placeholder.email"


class ItemFailed(Exception):
    """One user of a bulk request failed; `kind` names the bucket family."""

    def __init__(self, kind: str, identifier: str, by_email: bool, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # conflict, forgotten, invalidData, invalid, notFound
        self.identifier = identifier
        self.by_email = by_email
        self.reason = reason

    @property
    def bucket(self) -> str:
        if self.kind == "invalid":
            return "invalidEmails" if self.by_email else "invalidUserIds"
        return f"{self.kind}{'Emails' if self.by_email else 'UserIds'}"


@dataclass
class BulkOptions:
    """Settings of one bulk write, from the request and the project."""

    mode: str  # "subscribe", "bulkUpdate" or "update"
    create_new_fields: bool | None = None
    drop_unknown_fields: bool = False
    update_existing_only: bool = False
    list_id: int | None = None
    project_id: int = 10001

    @property
    def allow_new_fields(self) -> bool:
        if self.create_new_fields is not None:
            return self.create_new_fields
        return not self.drop_unknown_fields


@dataclass
class BulkOutcome:
    """The pieces of a `UserBulkUpdateListResponse`, filled while writing."""

    success_count: int = 0
    failed: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in BUCKETS})
    created_fields: list[str] = field(default_factory=list)
    filtered_out_fields: list[str] = field(default_factory=list)
    accepted_identifiers: list[str] = field(default_factory=list)

    def fail(self, failure: ItemFailed) -> None:
        self.failed[failure.bucket].append(failure.identifier)

    def body(self) -> dict[str, Any]:
        fail_count = sum(len(values) for values in self.failed.values())
        return {
            "successCount": self.success_count,
            "failCount": fail_count,
            "failedUpdates": self.failed,
            "createdFields": self.created_fields,
            "filteredOutFields": self.filtered_out_fields,
            "invalidEmails": list(self.failed["invalidEmails"]),
            "invalidUserIds": list(self.failed["invalidUserIds"]),
        }


@dataclass
class Identity:
    """The identifier of one item: a lower-cased email or a user id."""

    email: str | None
    user_id: str | None

    @property
    def by_email(self) -> bool:
        return self.email is not None

    @property
    def label(self) -> str:
        return self.email if self.email is not None else self.user_id  # type: ignore[return-value]


def read_identity(item: dict[str, Any], index: int) -> Identity:
    """Check the identifiers of one item; raise ItemFailed or ApiError as Iterable would."""
    if "email" in item and item["email"] is None:
        raise ApiError(
            400, "InvalidEmailAddressError",
            f"Invalid email: null (item {index}). Send a valid email or leave the key out "
            "and send a userId.", {"index": index},
        )
    email, user_id = item.get("email"), item.get("userId")
    if email is None and user_id is None:
        raise bad_params(
            f"Item {index} has neither an email nor a userId; each user needs exactly one.",
            index=index,
        )
    if email is not None and user_id is not None:
        raise ItemFailed("invalid", str(email), True, "both email and userId given")
    if email is not None:
        if not is_valid_email(email):
            raise ItemFailed("invalid", str(email), True, "invalid email")
        return Identity(normalize_email(email), None)
    if not is_valid_user_id(user_id):
        raise ItemFailed("invalid", str(user_id), False, "invalid userId")
    return Identity(None, user_id)


class BulkWriter:
    """Applies the users of one request inside an open transaction."""

    def __init__(self, conn: sqlite3.Connection, options: BulkOptions) -> None:
        self.conn = conn
        self.options = options
        self.outcome = BulkOutcome()
        self.fields = {row[0]: row[1] for row in conn.execute("SELECT name, type FROM fields")}
        # When the project has no forgotten users, the per-user lookup is skipped.
        first_forgotten = conn.execute("SELECT 1 FROM forgotten LIMIT 1").fetchone()
        self.any_forgotten = first_forgotten is not None
        self.mismatches: dict[str, dict[str, Any]] = {}

    def write_all(self, items: list[Any]) -> BulkOutcome:
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise bad_params(f"Item {index} is not a JSON object.", index=index)
            try:
                label = self.write_one(item, index)
            except ItemFailed as failure:
                logger.debug("item %d failed: %s", index, failure.reason)
                self.outcome.fail(failure)
                continue
            self.outcome.success_count += 1
            self.outcome.accepted_identifiers.append(label)
        if self.mismatches:
            raise self.type_mismatch_error()
        return self.outcome

    def write_one(self, item: dict[str, Any], index: int) -> str:
        identity = read_identity(item, index)
        self.check_forgotten(identity)
        row = self.find_row(identity)
        prefer_user_id = bool(item.get("preferUserId"))
        if row is None and self.options.update_existing_only:
            raise ItemFailed("notFound", identity.label, identity.by_email, "unknown user")
        if row is None and not identity.by_email and not prefer_user_id:
            raise ItemFailed("notFound", identity.label, False, "unknown userId")
        data = item.get("dataFields") or {}
        if not isinstance(data, dict):
            raise ItemFailed("invalidData", identity.label, identity.by_email, "dataFields")
        plan = self.plan(identity, data)
        self.check_identity_fields(identity, data, row)
        self.apply(identity, row, plan, data, bool(item.get("mergeNestedObjects")))
        return identity.label

    def check_forgotten(self, identity: Identity) -> None:
        if not self.any_forgotten:
            return
        kind, value = ("email", identity.email) if identity.by_email else ("userId", identity.user_id)
        if self.conn.execute(
            "SELECT 1 FROM forgotten WHERE kind = ? AND value = ?", (kind, value)
        ).fetchone():
            raise ItemFailed("forgotten", identity.label, identity.by_email, "GDPR-forgotten")

    def find_row(self, identity: Identity) -> sqlite3.Row | None:
        if identity.by_email:
            cursor = self.conn.execute("SELECT * FROM users WHERE email = ?", (identity.email,))
        else:
            cursor = self.conn.execute("SELECT * FROM users WHERE user_id = ?", (identity.user_id,))
        return cursor.fetchone()

    def plan(self, identity: Identity, data: dict[str, Any]) -> FieldPlan:
        plain = {key: value for key, value in data.items() if key not in ("email", "userId")}
        plan = plan_data_fields(plain, self.fields, allow_new=self.options.allow_new_fields)
        if plan.value_too_long:
            raise ItemFailed("invalidData", identity.label, identity.by_email, "value too long")
        if plan.mismatches:
            if self.options.mode == "subscribe":
                raise ItemFailed("invalidData", identity.label, identity.by_email, "field type")
            for mismatch in plan.mismatches:
                self.mismatches.setdefault(mismatch.field, {
                    "incomingTypes": mismatch.incoming_types,
                    "expectedType": mismatch.expected_type,
                    "_type": "UnexpectedType",
                    "offendingValue": mismatch.value,
                    "category": "user",
                })
        return plan

    def check_identity_fields(
        self, identity: Identity, data: dict[str, Any], row: sqlite3.Row | None
    ) -> None:
        """Raise a conflict when the dataFields userId (or email) belongs to another user."""
        own_pk = row["pk"] if row is not None else None
        if identity.by_email and isinstance(data.get("userId"), str):
            other = self.conn.execute(
                "SELECT pk FROM users WHERE user_id = ?", (data["userId"],)
            ).fetchone()
            if other is not None and other[0] != own_pk:
                raise ItemFailed("conflict", identity.label, True, "userId taken")
        if not identity.by_email and isinstance(data.get("email"), str):
            other = self.conn.execute(
                "SELECT pk FROM users WHERE email = ?", (normalize_email(data["email"]),)
            ).fetchone()
            if other is not None and other[0] != own_pk:
                raise ItemFailed("conflict", identity.label, False, "email taken")

    def apply(
        self, identity: Identity, row: sqlite3.Row | None, plan: FieldPlan,
        data: dict[str, Any], merge_nested: bool,
    ) -> None:
        if self.mismatches:
            return  # the batch is rejected as a whole; skip writes that roll back anyway
        self.create_fields(plan.new_fields)
        for name in plan.filtered_out:
            if name not in self.outcome.filtered_out_fields:
                self.outcome.filtered_out_fields.append(name)
        current = json.loads(row["data"]) if row is not None else {}
        profile = merge_profile(current, plan.data, merge_nested=merge_nested)
        email, user_id = self.final_identity(identity, row, data)
        profile["email"] = email
        if user_id is not None:
            profile["userId"] = user_id
        pk = self.save(row, email, user_id, profile)
        if self.options.list_id is not None:
            self.conn.execute(
                "INSERT OR IGNORE INTO members VALUES (?, ?, ?)",
                (self.options.list_id, pk, now_ms()),
            )

    def final_identity(
        self, identity: Identity, row: sqlite3.Row | None, data: dict[str, Any]
    ) -> tuple[str, str | None]:
        if identity.by_email:
            user_id = data.get("userId") if isinstance(data.get("userId"), str) else None
            return identity.email, user_id or (row["user_id"] if row is not None else None)
        if isinstance(data.get("email"), str) and is_valid_email(data["email"]):
            return normalize_email(data["email"]), identity.user_id
        if row is not None:
            return row["email"], identity.user_id
        return f"{identity.user_id.lower()}@{PLACEHOLDER_DOMAIN}", identity.user_id

    def save(
        self, row: sqlite3.Row | None, email: str, user_id: str | None, profile: dict
    ) -> int:
        stamp = now_ms()
        text = json.dumps(profile, ensure_ascii=False)
        if row is None:
            cursor = self.conn.execute(
                "INSERT INTO users (email, user_id, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)", (email, user_id, text, stamp, stamp),
            )
            return cursor.lastrowid  # type: ignore[return-value]
        self.conn.execute(
            "UPDATE users SET email = ?, user_id = ?, data = ?, updated_at = ? WHERE pk = ?",
            (email, user_id, text, stamp, row["pk"]),
        )
        return row["pk"]

    def create_fields(self, new_fields: dict[str, str]) -> None:
        fresh = {name: kind for name, kind in new_fields.items() if name not in self.fields}
        if not fresh:
            return
        total = len(self.fields) + len(fresh)
        if total > FIELD_LIMIT:
            raise field_limit_exceeded(self.options.project_id, total)
        stamp = now_ms()
        self.conn.executemany(
            "INSERT INTO fields VALUES (?, ?, ?)",
            [(name, kind, stamp) for name, kind in fresh.items()],
        )
        self.fields.update(fresh)
        self.outcome.created_fields.extend(fresh)

    def type_mismatch_error(self) -> ApiError:
        name, details = next(iter(self.mismatches.items()))
        return ApiError(
            400, "RequestFieldsTypesMismatched",
            f"Project {self.options.project_id}: the request's data types do not match the "
            f"types this project already has. Field '{name}' is of type "
            f"'{details['expectedType']}' but the request sends "
            f"'{', '.join(details['incomingTypes'])}'.",
            {"validationErrors": self.mismatches},
        )


def update_single_user(
    conn: sqlite3.Connection, body: dict[str, Any], options: BulkOptions
) -> str:
    """`POST /api/users/update`: one user, every failure an HTTP error. Returns the identifier."""
    item = {key: body[key] for key in ("email", "userId", "dataFields", "preferUserId",
                                       "mergeNestedObjects") if key in body}
    if item.get("email") is not None and item.get("userId") is not None:
        raise bad_params("Send an email or a userId, not both.")
    writer = BulkWriter(conn, options)
    try:
        label = writer.write_one(item, 0)
    except ItemFailed as failure:
        raise single_user_error(failure) from None
    if writer.mismatches:
        raise writer.type_mismatch_error()
    return label


def single_user_error(failure: ItemFailed) -> ApiError:
    """Convert a per-user failure into the HTTP error users/update returns for it."""
    params = {"email" if failure.by_email else "userId": failure.identifier}
    if failure.kind == "invalid":
        code = "InvalidEmailAddressError" if failure.by_email else "InvalidUserIdError"
        return ApiError(400, code, f"Invalid {'email' if failure.by_email else 'userId'}: "
                                   f"{failure.identifier}", params)
    if failure.kind == "forgotten":
        return ApiError(409, "ForgottenUserError",
                        "This user was GDPR-forgotten and cannot be updated.", params)
    if failure.kind == "conflict":
        code = "UserIdAlreadyExists" if failure.by_email else "EmailAlreadyExists"
        return ApiError(409, code, "Another user already has this identifier.", params)
    if failure.kind == "notFound":
        return ApiError(400, "UnknownUserIdError",
                        f"No user with userId {failure.identifier}; send preferUserId: true "
                        "to create one.", params)
    return bad_params(f"Invalid data for this user: {failure.reason}.", **params)
