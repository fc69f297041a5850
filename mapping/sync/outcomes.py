"""Turn Iterable's response to one bulk request into one outcome per row.

A bulk response names the users it did not write in the `failedUpdates` buckets (and the
deprecated top-level `invalidEmails` / `invalidUserIds`). Each named user's rows become
"rejected" with the bucket's reason code; every other row of the request counts as "sent".
Emails are matched case-insensitively, because Iterable stores and returns them lower-cased;
userIds are matched exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mapping.iterable.models import BulkUpdateResult
from mapping.sync.journal import FAILED, REJECTED, SENT, RowOutcome

logger = logging.getLogger(__name__)

REASON_MESSAGES = {
    "invalid_email": "Iterable rejected the email address as invalid",
    "invalid_user_id": "Iterable rejected the userId as invalid",
    "invalid_data": "Iterable rejected the data of this user (a value it cannot store)",
    "conflict": "Iterable reported a conflict with another user (email or userId already taken)",
    "forgotten": "the user asked to be forgotten (GDPR); Iterable refuses to store them again",
    "not_found": "Iterable did not find this user",
    "type_mismatch": "a value's type does not match the type its field has in Iterable",
    "rate_limited": "still rate limited (HTTP 429) after every retry",
    "server_error": "Iterable kept failing on its side (HTTP 5xx) after every retry",
    "network_error": "no answer from Iterable (timeout or dropped connection) after every retry",
    "request_rejected": "Iterable refused the request",
    "unexpected_response": "Iterable answered with a body that could not be read",
}


def bulk_outcomes(
    result: BulkUpdateResult,
    rows: Sequence[int],
    identifiers: Sequence[str],
    *,
    identifier_kind: str,
    attempts: int,
) -> list[RowOutcome]:
    """Return one outcome per row of the request: rejected with a reason when named, else sent."""
    failed = result.failed_emails() if identifier_kind == "email" else result.failed_user_ids()
    outcomes = []
    matched: set[str] = set()
    for row, identifier in zip(rows, identifiers, strict=True):
        key = _match_key(identifier, identifier_kind)
        reason = failed.get(key)
        if reason is None:
            outcomes.append(RowOutcome(row, SENT, attempts=attempts))
        else:
            matched.add(key)
            outcomes.append(
                RowOutcome(row, REJECTED, reason, REASON_MESSAGES.get(reason), attempts=attempts)
            )
    _warn_unmatched(failed, matched, len(rows))
    return outcomes


def failed_outcomes(
    rows: Sequence[int], reason: str, message: str, *, attempts: int
) -> list[RowOutcome]:
    """Return the same failure for every row of a request."""
    return [RowOutcome(row, FAILED, reason, message, attempts=attempts) for row in rows]


def _match_key(identifier: str, identifier_kind: str) -> str:
    return identifier.lower() if identifier_kind == "email" else identifier


def _warn_unmatched(failed: dict[str, str], matched: set[str], request_users: int) -> None:
    unmatched = len(set(failed) - matched)
    if unmatched:
        # NOTE: identifiers are the analyst's data; the log names only how many did not match.
        logger.warning(
            "%d failed identifiers in the response for %d users match no row of the request",
            unmatched,
            request_users,
        )
