"""Mapping a bulk answer's failedUpdates buckets back to rows."""

from __future__ import annotations

from mapping.iterable.models import BulkUpdateResult
from mapping.sync.outcomes import bulk_outcomes


def _statuses(outcomes):
    return {o.row: (o.status, o.reason) for o in outcomes}


def test_every_bucket_maps_to_its_row_case_insensitively():
    result = BulkUpdateResult.model_validate({
        "successCount": 1, "failCount": 5,
        "failedUpdates": {
            "invalidEmails": ["bad@x"],
            "forgottenEmails": ["gone@example.com"],
            "conflictEmails": ["taken@example.com"],
            "invalidDataEmails": ["odd@example.com"],
            "notFoundEmails": ["nobody@example.com"],
        },
    })
    rows = [1, 2, 3, 4, 5, 6]
    identifiers = ["ok@example.com", "Bad@X", "GONE@example.com", "taken@Example.com",
                   "odd@example.com", "NoBody@example.com"]
    outcomes = bulk_outcomes(result, rows, identifiers, identifier_kind="email", attempts=1)
    assert _statuses(outcomes) == {
        1: ("sent", None),
        2: ("rejected", "invalid_email"),
        3: ("rejected", "forgotten"),
        4: ("rejected", "conflict"),
        5: ("rejected", "invalid_data"),
        6: ("rejected", "not_found"),
    }
    assert all(o.message for o in outcomes if o.status == "rejected")


def test_deprecated_top_level_lists_count_too():
    result = BulkUpdateResult.model_validate({"invalidEmails": ["x@Y.com"]})
    outcomes = bulk_outcomes(result, [7, 8], ["X@y.com", "z@y.com"], identifier_kind="email",
                             attempts=2)
    assert _statuses(outcomes) == {7: ("rejected", "invalid_email"), 8: ("sent", None)}
    assert {o.attempts for o in outcomes} == {2}


def test_user_ids_match_exactly():
    result = BulkUpdateResult.model_validate({"failedUpdates": {"notFoundUserIds": ["AbC"]}})
    outcomes = bulk_outcomes(result, [1, 2], ["abc", "AbC"], identifier_kind="userId", attempts=1)
    assert _statuses(outcomes) == {1: ("sent", None), 2: ("rejected", "not_found")}


def test_two_rows_of_one_user_share_the_outcome():
    result = BulkUpdateResult.model_validate({"failedUpdates": {"forgottenEmails": ["a@b.com"]}})
    outcomes = bulk_outcomes(result, [1, 2], ["a@b.com", "A@B.com"], identifier_kind="email",
                             attempts=1)
    assert _statuses(outcomes) == {1: ("rejected", "forgotten"), 2: ("rejected", "forgotten")}
