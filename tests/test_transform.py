"""mapping.transform.apply: items, issues, types against the project, duplicates, previews."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping import transform
from mapping.config import FieldMapping, MappingConfig
from mapping.transform import ISSUE_COLUMNS, apply, infer_converter, plan_duplicates

NOW = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
CONTEXT = {"now": NOW, "source_file": "export.csv"}
PROJECT = {
    "email": "string", "firstName": "string", "lastName": "string", "phoneNumber": "string",
    "signupDate": "date", "signupSource": "string", "city": "string", "countryCode": "string",
    "consent": "boolean", "age": "long", "score": "double", "profile": "object",
}


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, dtype="str")


def config(fields, *, static=(), identifier="email", **options) -> MappingConfig:
    return MappingConfig.from_dict({
        "version": 1, "widget": "Spring pop-up", "list_id": 101, "identifier": identifier,
        "fields": list(fields), "static_fields": list(static), "options": options,
    })


def codes_by_row(result) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for row, code in zip(result.issues["row"], result.issues["code"]):
        grouped.setdefault(int(row), []).append(code)
    return grouped


EMAIL = {"source": "Email", "target": "email"}


# --------------------------------------------------------------------------- items


def test_items_are_the_exact_user_objects():
    df = frame(Email=[" Ana@Example.COM ", "bo@example.org"], Name=["Ana", None],
               Consent=["yes", "nein"], Age=["42", "7"])
    mapping = config([EMAIL, {"source": "Name", "target": "firstName"},
                      {"source": "Consent", "target": "consent"},
                      {"source": "Age", "target": "age"}])
    result = apply(df, mapping, PROJECT)
    assert result.items.to_list() == [
        {"email": "ana@example.com",
         "dataFields": {"firstName": "Ana", "consent": True, "age": 42}},
        {"email": "bo@example.org", "dataFields": {"consent": False, "age": 7}},
    ]
    assert result.row_numbers == [1, 2]
    assert result.sendable.tolist() == [True, True]
    assert result.issues.empty and list(result.issues.columns) == ISSUE_COLUMNS
    assert result.merged == 0


def test_item_text_is_compact_json_of_the_item():
    df = frame(Email=["a@example.com"], Name=['Zoë "Q" \\ Łukasz\tTab\nline\u2028end'])
    result = apply(df, config([EMAIL, {"source": "Name", "target": "firstName"}]))
    item = result.items[0]
    assert item["dataFields"]["firstName"] == 'Zoë "Q" \\ Łukasz\tTab\nline\u2028end'
    assert result.items.texts[0] == json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    assert result.items.sizes[0] == len(result.items.texts[0].encode("utf-8"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s),
                min_size=1, max_size=8))
def test_any_text_survives_the_json_assembly(names):
    emails = [f"user{i}@example.com" for i in range(len(names))]
    result = apply(frame(Email=emails, Name=names),
                   config([EMAIL, {"source": "Name", "target": "firstName"}]))
    sent = [item["dataFields"].get("firstName") for item in result.items]
    assert sent == names


def test_blank_identifier_is_missing():
    result = apply(frame(Email=["   ", "\u00a0"]), config([EMAIL]))
    assert codes_by_row(result) == {1: ["missing_identifier"], 2: ["missing_identifier"]}
    assert result.issues["value"].tolist() == ["   ", "\u00a0"]


def test_repeated_values_with_escapes():
    cities = ['Say "hi"', "Tab\there", "back\\slash", None] * 250
    emails = [f"user{i}@example.com" for i in range(len(cities))]
    result = apply(frame(Email=emails, City=cities),
                   config([EMAIL, {"source": "City", "target": "city"}]))
    sent = [item["dataFields"].get("city") for item in result.items]
    assert sent == cities


def test_user_id_identifier():
    df = frame(Id=["u-1", None, "u-3"], Email=["a@example.com", "b@example.com", None])
    mapping = config([{"source": "Id", "target": "userId"}, EMAIL], identifier="userId")
    result = apply(df, mapping)
    assert result.items[0] == {"userId": "u-1", "dataFields": {"email": "a@example.com"}}
    assert result.items[1] is None
    assert result.items[2] == {"userId": "u-3", "dataFields": {}}
    assert codes_by_row(result) == {2: ["missing_identifier"]}
    assert result.items.identifiers == ["u-1", None, "u-3"]


def test_numbers_keep_their_type_in_json():
    df = frame(Email=["a@example.com", "b@example.com"], Score=["5", "2,5"], Age=["3", "x"])
    mapping = config([EMAIL, {"source": "Score", "target": "score", "decimal_separator": ","},
                      {"source": "Age", "target": "newAge", "type": "long"}])
    result = apply(df, mapping, PROJECT)
    assert '"score":5.0' in result.items.texts[0]
    assert result.items[0]["dataFields"] == {"score": 5.0, "newAge": 3}
    assert codes_by_row(result) == {2: ["invalid_number"]}


def test_nested_targets_become_objects():
    df = frame(Email=["a@example.com", "b@example.com"], City=["Köln", None], Zip=["50667", None])
    mapping = config([EMAIL, {"source": "City", "target": "address.city"},
                      {"source": "Zip", "target": "address.zip", "type": "string"}])
    result = apply(df, mapping, PROJECT)
    assert result.items[0]["dataFields"] == {"address": {"city": "Köln", "zip": "50667"}}
    assert result.items[1]["dataFields"] == {}
    assert [w.code for w in result.warnings] == ["nested_field", "nested_field"]


# --------------------------------------------------------------------------- static fields


def test_static_fields_expand_placeholders_once_per_run():
    static = [
        {"target": "signupSource", "value": "{{widget}} / {{source_file}}"},
        {"target": "importedOn", "value": "{{today}}", "type": "date"},
        {"target": "importedAt", "value": "{{now}}", "type": "date"},
        {"target": "batchSize", "value": 3, "type": "double"},
        {"target": "vip", "value": False, "type": "boolean"},
    ]
    result = apply(frame(Email=["a@example.com"]), config([EMAIL], static=static), PROJECT,
                   context=CONTEXT)
    assert result.items[0]["dataFields"] == {
        "signupSource": "Spring pop-up / export.csv", "importedOn": "2025-03-04",
        "importedAt": "2025-03-04 05:06:07 +00:00", "batchSize": 3.0, "vip": False,
    }
    assert '"batchSize":3.0' in result.items.texts[0]
    assert result.new_fields == {"importedOn": "date", "importedAt": "date",
                                 "batchSize": "double", "vip": "boolean"}
    frame_view = transform.preview_frame(result)
    assert frame_view.loc[0, "signupSource"] == "Spring pop-up / export.csv"


def test_static_field_type_mismatch_blocks_rows():
    static = [{"target": "age", "value": "old"}]
    result = apply(frame(Email=["a@example.com", "b@example.com"]), config([EMAIL], static=static),
                   PROJECT)
    assert result.sendable.tolist() == [False, False]
    assert codes_by_row(result) == {1: ["type_mismatch"], 2: ["type_mismatch"]}
    assert [w.code for w in result.mapping_errors] == ["type_mismatch"]


def test_run_time_is_shared_by_chunks():
    static = [{"target": "importedAt", "value": "{{now}}", "type": "date"}]
    context = {"source_file": "a.csv"}
    first = apply(frame(Email=["a@example.com"]), config([EMAIL], static=static), context=context)
    assert "now" in context
    second = apply(frame(Email=["b@example.com"]), config([EMAIL], static=static),
                   row_offset=1, context=context)
    stamp = first.items[0]["dataFields"]["importedAt"]
    assert second.items[0]["dataFields"]["importedAt"] == stamp


def test_unknown_placeholder_is_warned_and_kept():
    static = [{"target": "signupSource", "value": "{{tomorrow}}"}]
    result = apply(frame(Email=["a@example.com"]), config([EMAIL], static=static))
    assert result.items[0]["dataFields"]["signupSource"] == "{{tomorrow}}"
    assert [w.code for w in result.warnings] == ["unknown_placeholder"]


# --------------------------------------------------------------------------- row issues


def test_row_issue_columns():
    df = frame(Email=["a@example.com", "not-an-email", None, "d@example.com"],
               Phone=["+49 30 1234567", "+49 30 1234567", None, "12"])
    mapping = config([EMAIL, {"source": "Phone", "target": "phoneNumber"}])
    result = apply(df, mapping, PROJECT, row_offset=100)
    assert result.row_numbers == [101, 102, 103, 104]
    assert codes_by_row(result) == {102: ["invalid_email"], 103: ["missing_identifier"],
                                    104: ["invalid_phone"]}
    issue = result.issues.iloc[0].to_dict()
    assert issue["column"] == "Email"
    assert issue["field"] == "email"
    assert issue["value"] == "not-an-email"
    assert issue["severity"] == "error"
    assert "not-an-email" in issue["message"]
    assert result.sendable.tolist() == [True, False, False, False]
    assert result.items[0]["dataFields"] == {"phoneNumber": "+49301234567"}
    assert result.items[3] is None


def test_project_type_violation_is_type_mismatch():
    df = frame(Email=["a@example.com", "b@example.com"], Age=["42", "forty"],
               Agree=["yes", "perhaps"])
    mapping = config([EMAIL, {"source": "Age", "target": "age"},
                      {"source": "Agree", "target": "newsletter", "converter": "boolean"}])
    result = apply(df, mapping, PROJECT)
    assert codes_by_row(result) == {2: ["type_mismatch", "invalid_boolean"]}
    mismatch = result.issues.iloc[0]
    assert mismatch["value"] == "forty"
    assert "age is long in the project" in mismatch["message"]


def test_incompatible_converter_blocks_rows():
    df = frame(Email=["a@example.com", "b@example.com"], Phone=["+49 30 1234567", None])
    mapping = config([EMAIL, {"source": "Phone", "target": "age", "converter": "phone"}])
    result = apply(df, mapping, PROJECT)
    assert [w.code for w in result.mapping_errors] == ["type_mismatch"]
    assert codes_by_row(result) == {1: ["type_mismatch"]}
    assert result.sendable.tolist() == [False, True]


def test_object_fields_cannot_be_filled():
    result = apply(frame(Email=["a@example.com"], P=["x"]),
                   config([EMAIL, {"source": "P", "target": "profile"}]), PROJECT)
    assert result.mapping_errors[0].code == "type_mismatch"
    assert not result.sendable.any()


def test_missing_column_blocks_every_row():
    result = apply(frame(Email=["a@example.com"]),
                   config([EMAIL, {"source": "City ", "target": "city"}]))
    assert result.mapping_errors[0].code == "missing_column"
    assert codes_by_row(result) == {1: ["missing_column"]}
    assert result.items[0] is None


def test_unmapped_identifier_is_a_mapping_error():
    result = apply(frame(Name=["Ana"]), config([{"source": "Name", "target": "firstName"}]))
    assert [w.code for w in result.mapping_errors] == ["missing_identifier"]
    assert codes_by_row(result) == {1: ["missing_identifier"]}


# --------------------------------------------------------------------------- warnings


def test_new_field_with_numeric_looking_values_is_warned():
    df = frame(Email=["a@example.com", "b@example.com"], Zip=["04101", "10115"])
    result = apply(df, config([EMAIL, {"source": "Zip", "target": "zip"}]), PROJECT)
    assert [w.code for w in result.warnings] == ["new_field_type"]
    assert "04101" in result.warnings[0].message
    assert result.items[0]["dataFields"] == {"zip": "04101"}
    assert result.new_fields == {"zip": "string"}
    typed = apply(df, config([EMAIL, {"source": "Zip", "target": "zip", "type": "string"}]),
                  PROJECT)
    assert typed.warnings == []


def test_case_and_space_only_differences_are_warned():
    df = frame(Email=["a@example.com"], Name=["Ana"], City=["Oslo"])
    mapping = config([EMAIL, {"source": "Name", "target": "FirstName"},
                      {"source": "City", "target": "ci ty"}])
    result = apply(df, mapping, PROJECT)
    assert [(w.code, w.field) for w in result.warnings] == [
        ("field_name_case", "FirstName"), ("field_name_case", "ci ty")
    ]


@pytest.mark.parametrize(
    ("mapping", "declared", "expected"),
    [
        ({"target": "email"}, None, "email"),
        ({"target": "signupDate"}, "date", "date"),
        ({"target": "consent"}, "boolean", "boolean"),
        ({"target": "phoneNumber"}, None, "phone"),
        ({"target": "mobile_phone"}, None, "phone"),
        ({"target": "countryCode"}, None, "country"),
        ({"target": "address.country_code"}, None, "country"),
        ({"target": "city"}, None, "string"),
        ({"target": "phoneNumber", "converter": "string"}, None, "string"),
        ({"target": "age"}, "long", "long"),
    ],
)
def test_converter_inference(mapping, declared, expected):
    assert infer_converter(FieldMapping(source="X", **mapping), declared) == expected


# --------------------------------------------------------------------------- duplicates

DUPLICATE_FRAME = dict(
    Email=["ana@example.com", "bo@example.com", "ANA@example.com", "ana@example.com ", "bad"],
    Name=["Ana", "Bo", None, "Anna"],
    City=["Oslo", None, "Bergen", None],
)


def duplicate_result(policy: str):
    columns = {k: (v + [None] * (5 - len(v))) for k, v in DUPLICATE_FRAME.items()}
    mapping = config([EMAIL, {"source": "Name", "target": "firstName"},
                      {"source": "City", "target": "city"}], duplicates=policy)
    return apply(frame(**columns), mapping, PROJECT)


def test_duplicates_keep_last_by_default():
    result = duplicate_result("last")
    assert result.sendable.tolist() == [False, True, False, True, False]
    assert result.items[3] == {"email": "ana@example.com", "dataFields": {"firstName": "Anna"}}
    assert result.merged == 2
    duplicates = result.issues[result.issues["code"] == "duplicate"]
    assert duplicates["row"].tolist() == [1, 3]
    assert set(duplicates["severity"]) == {"warning"}
    assert "row 4" in duplicates["message"].iloc[0]


def test_duplicates_keep_first():
    result = duplicate_result("first")
    assert result.sendable.tolist() == [True, True, False, False, False]
    assert result.items[0]["dataFields"] == {"firstName": "Ana", "city": "Oslo"}
    assert result.merged == 2


def test_duplicates_merge_newest_non_empty_wins():
    result = duplicate_result("merge")
    assert result.sendable.tolist() == [False, True, False, True, False]
    assert result.items[3]["dataFields"] == {"firstName": "Anna", "city": "Bergen"}
    assert result.merged == 2
    assert "merged into row 4" in result.issues["message"].iloc[0]


def test_blocked_kept_row_keeps_its_group_out():
    df = frame(Email=["a@example.com", "a@example.com"], Phone=["+49 30 1234567", "nope"])
    result = apply(df, config([EMAIL, {"source": "Phone", "target": "phoneNumber"}]), PROJECT)
    assert result.sendable.tolist() == [False, False]
    assert codes_by_row(result) == {1: ["duplicate"], 2: ["invalid_phone"]}


@pytest.mark.parametrize("policy", ["last", "first", "merge"])
def test_chunked_apply_matches_whole_frame(policy):
    rng = np.random.default_rng(7)
    size = 120
    emails = [f"user{n}@example.com" for n in rng.integers(0, 40, size)]
    names = [None if flag else f"name{i}" for i, flag in enumerate(rng.random(size) < 0.4)]
    cities = [None if flag else f"city{i}" for i, flag in enumerate(rng.random(size) < 0.5)]
    df = frame(Email=emails, Name=names, City=cities)
    mapping = config([EMAIL, {"source": "Name", "target": "firstName"},
                      {"source": "City", "target": "city"}], duplicates=policy)
    whole = apply(df, mapping)
    chunks = [df.iloc[start:start + 25] for start in range(0, size, 25)]
    plan = plan_duplicates(chunks, mapping)
    texts, merged, offset = [], 0, 0
    for chunk in chunks:
        part = apply(chunk, mapping, row_offset=offset, duplicates=plan)
        texts += part.items.texts
        merged += part.merged
        offset += len(chunk)
    assert texts == whole.items.texts
    assert merged == whole.merged == plan.duplicate_rows
    assert plan.pending == {}


def test_plan_from_another_policy_is_refused():
    df = frame(Email=["a@example.com"])
    plan = plan_duplicates([df], config([EMAIL], duplicates="first"))
    with pytest.raises(ValueError, match="policy"):
        apply(df, config([EMAIL]), duplicates=plan)


# --------------------------------------------------------------------------- previews


def test_preview_records_are_the_cli_json_lines():
    df = frame(Email=["a@example.com", "oops"], Name=["Ana", "Bo"])
    result = apply(df, config([EMAIL, {"source": "Name", "target": "firstName"}]))
    records = transform.preview_records(result)
    assert records[0] == {"row": 1, "item": {"email": "a@example.com",
                                              "dataFields": {"firstName": "Ana"}}, "issues": []}
    assert records[1]["item"] is None
    assert records[1]["issues"][0]["code"] == "invalid_email"
    assert set(records[1]["issues"][0]) == {"code", "field", "message"}
    assert transform.preview_records(result, limit=1) == records[:1]
    json.dumps(records)


def test_preview_and_issue_frames():
    df = frame(Email=["a@example.com", "oops", "c@example.com"], Name=["Ana", "Bo", None])
    result = apply(df, config([EMAIL, {"source": "Name", "target": "firstName"}],
                              static=[{"target": "signupSource", "value": "claspo"}]))
    view = transform.preview_frame(result)
    assert view["row"].tolist() == [1, 3]
    assert list(view.columns) == ["row", "email", "firstName", "signupSource"]
    assert view["signupSource"].tolist() == ["claspo", "claspo"]
    assert len(transform.preview_frame(result, limit=1)) == 1
    assert transform.issues_frame(result, severity="error")["row"].tolist() == [2]
    assert transform.warnings_frame(result).empty


def test_empty_frame():
    result = apply(frame(Email=[]), config([EMAIL]))
    assert len(result.items) == 0
    assert result.issues.empty
    assert result.merged == 0


def test_declared_type_differing_from_project_is_warned():
    frame = pd.DataFrame({"Email": ["ann@example.com"], "First name": ["Ann"]})
    config = MappingConfig.from_dict({
        "version": 1,
        "fields": [{"source": "Email", "target": "email"},
                   {"source": "First name", "target": "firstName", "type": "long"}],
    })

    result = apply(frame, config, {"email": "string", "firstName": "string"})

    codes = [warning.code for warning in result.warnings]
    assert "declared_type_ignored" in codes
    assert result.sendable.tolist() == [True]
    assert result.items[0]["dataFields"] == {"firstName": "Ann"}
