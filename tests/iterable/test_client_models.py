"""The typed results the client returns: lists, bulk results with every bucket, envelopes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mapping.iterable import FAILURE_REASONS, ApiResponse, BulkUpdateResult, IterableList
from tests.contract import validate_response

ALL_BUCKETS = {
    "conflictEmails": ["conflict@example.com"],
    "conflictUserIds": ["u-conflict"],
    "forgottenEmails": ["forgotten@example.com"],
    "forgottenUserIds": ["u-forgotten"],
    "invalidDataEmails": ["Data@Example.com"],
    "invalidDataUserIds": ["u-data"],
    "invalidEmails": ["not an email"],
    "invalidUserIds": ["u-bad "],
    "notFoundEmails": ["missing@example.com"],
    "notFoundUserIds": ["u-missing"],
}
FULL_ANSWER = {
    "successCount": 3,
    "failCount": 10,
    "failedUpdates": ALL_BUCKETS,
    "createdFields": ["newField"],
    "filteredOutFields": ["dropped"],
    "invalidEmails": ["not an email", "Legacy@Example.com"],
    "invalidUserIds": ["u-bad ", "u-legacy"],
}


def test_full_answer_matches_spec():
    validate_response("UserBulkUpdateListResponse", FULL_ANSWER)


def test_every_bucket_parsed():
    result = BulkUpdateResult.model_validate(FULL_ANSWER)

    updates = result.failed_updates
    assert updates.conflict_emails == ["conflict@example.com"]
    assert updates.conflict_user_ids == ["u-conflict"]
    assert updates.forgotten_emails == ["forgotten@example.com"]
    assert updates.forgotten_user_ids == ["u-forgotten"]
    assert updates.invalid_data_emails == ["Data@Example.com"]
    assert updates.invalid_data_user_ids == ["u-data"]
    assert updates.invalid_emails == ["not an email"]
    assert updates.invalid_user_ids == ["u-bad "]
    assert updates.not_found_emails == ["missing@example.com"]
    assert updates.not_found_user_ids == ["u-missing"]
    assert updates.total() == 10
    assert result.created_fields == ["newField"]
    assert result.filtered_out_fields == ["dropped"]
    assert result.invalid_emails == ["not an email", "Legacy@Example.com"]
    assert result.invalid_user_ids == ["u-bad ", "u-legacy"]
    assert result.success_count == 3
    assert result.fail_count == 10
    assert result.has_failures


def test_minimal_answer_defaults():
    result = BulkUpdateResult.model_validate({"successCount": 2, "failCount": 0})

    assert result.failed_updates.total() == 0
    assert result.created_fields == []
    assert result.failed_identifiers() == {}
    assert not result.has_failures


def test_unknown_keys_ignored():
    result = BulkUpdateResult.model_validate(
        {"successCount": 1, "failCount": 0, "failedUpdates": {"newBucket": ["x"]}, "extra": 1}
    )

    assert result.success_count == 1


def test_failed_identifiers_reasons():
    reasons = BulkUpdateResult.model_validate(FULL_ANSWER).failed_identifiers()

    assert reasons == {
        "conflict@example.com": "conflict",
        "u-conflict": "conflict",
        "forgotten@example.com": "forgotten",
        "u-forgotten": "forgotten",
        "data@example.com": "invalid_data",
        "u-data": "invalid_data",
        "not an email": "invalid_email",
        "u-bad ": "invalid_user_id",
        "missing@example.com": "not_found",
        "u-missing": "not_found",
        "legacy@example.com": "invalid_email",
        "u-legacy": "invalid_user_id",
    }
    assert set(reasons.values()) == set(FAILURE_REASONS)


def test_specific_reason_wins():
    result = BulkUpdateResult.model_validate({
        "successCount": 0,
        "failCount": 1,
        "failedUpdates": {"invalidDataEmails": ["a@example.com"],
                          "forgottenEmails": ["A@example.com"]},
        "invalidEmails": ["a@example.com"],
    })

    assert result.failed_identifiers() == {"a@example.com": "forgotten"}


def test_user_ids_keep_case():
    result = BulkUpdateResult.model_validate(
        {"successCount": 0, "failCount": 1, "failedUpdates": {"notFoundUserIds": ["User-ABC"]}}
    )

    assert result.failed_identifiers() == {"User-ABC": "not_found"}
    assert result.failed_user_ids() == {"User-ABC": "not_found"}
    assert result.failed_emails() == {}


def test_failed_emails_only_emails():
    result = BulkUpdateResult.model_validate(FULL_ANSWER)

    emails = result.failed_emails()

    assert emails["data@example.com"] == "invalid_data"
    assert emails["legacy@example.com"] == "invalid_email"
    assert "u-data" not in emails


def test_snake_case_construction():
    result = BulkUpdateResult(success_count=1, fail_count=0)

    assert result.model_dump(by_alias=True)["successCount"] == 1


def test_wrong_count_type_rejected():
    with pytest.raises(ValidationError):
        BulkUpdateResult.model_validate({"successCount": "many", "failCount": 0})


def test_list_epoch_ms_and_extras():
    item = {"id": 104, "name": "Engaged", "createdAt": 1_733_000_000_000, "listType": "Dynamic",
            "newAttribute": "ignored"}

    parsed = IterableList.model_validate(item)

    assert parsed.created_at == 1_733_000_000_000
    assert parsed.list_type == "Dynamic"
    assert parsed.description is None
    assert parsed.is_global_suppression_enabled is None


def test_list_requires_core_fields():
    with pytest.raises(ValidationError):
        IterableList.model_validate({"id": 1, "name": "x"})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"msg": "ok", "code": "Success", "params": {"id": 1}},
         ApiResponse(msg="ok", code="Success", params={"id": 1})),
        ({"msg": "", "code": "Success", "params": None}, ApiResponse(msg="", code="Success")),
        ({"code": 3}, ApiResponse()),
        ([], ApiResponse()),
        (None, ApiResponse()),
    ],
)
def test_api_response_from_body(body, expected):
    assert ApiResponse.from_body(body) == expected
