"""Mapping file format v1: reading, writing, fingerprints, and every error naming its key."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.config import (
    MAX_TARGET_LENGTH,
    FieldMapping,
    MappingConfig,
    MappingFileError,
    StaticField,
    check_target_name,
    load_mapping,
    suggest_fields,
)

SAMPLE = {
    "version": 1,
    "widget": "Spring sale pop-up",
    "list_id": 101,
    "identifier": "email",
    "fields": [
        {"source": "Email", "target": "email"},
        {"source": "First name", "target": "firstName"},
        {"source": "Subscribed at", "target": "signupDate", "type": "date"},
    ],
    "static_fields": [{"target": "signupSource", "value": "claspo", "type": "string"}],
    "options": {},
}


def with_changes(**changes) -> str:
    data = json.loads(json.dumps(SAMPLE))
    data.update(changes)
    return json.dumps(data)


def error_of(text: str) -> str:
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.from_json(text)
    return str(caught.value)


def test_sample_file_round_trips_exactly():
    config = MappingConfig.from_json(json.dumps(SAMPLE))
    assert json.loads(config.to_json()) == SAMPLE
    assert MappingConfig.from_json(config.to_json()) == config


def test_to_json_drops_item_defaults():
    config = MappingConfig(version=1, fields=[FieldMapping(source="E", target="email")])
    saved = json.loads(config.to_json())
    assert list(saved) == ["version", "widget", "list_id", "identifier", "fields",
                           "static_fields", "options"]
    assert saved["fields"] == [{"source": "E", "target": "email"}]
    assert saved["list_id"] is None


def test_save_and_load(tmp_path):
    path = tmp_path / "mapping.json"
    config = MappingConfig.from_json(json.dumps(SAMPLE))
    config.save(path)
    assert path.read_text(encoding="utf-8") == config.to_json()
    assert load_mapping(path) == config
    assert MappingConfig.load(path).fingerprint() == config.fingerprint()


def test_fingerprint_ignores_key_order():
    config = MappingConfig.from_json(json.dumps(SAMPLE))
    reordered = json.dumps(dict(reversed(list(SAMPLE.items()))))
    assert MappingConfig.from_json(reordered).fingerprint() == config.fingerprint()
    changed = MappingConfig.from_json(with_changes(options={"duplicates": "merge"}))
    assert changed.fingerprint() != config.fingerprint()
    assert len(config.fingerprint()) == 64


def test_byte_order_mark_and_bytes_are_accepted():
    raw = b"\xef\xbb\xbf" + json.dumps(SAMPLE).encode("utf-8")
    assert MappingConfig.from_json(raw).list_id == 101


def test_source_headers_are_trimmed():
    config = MappingConfig.from_json(with_changes(fields=[{"source": " Email\ufeff ",
                                                           "target": "email"}]))
    assert config.fields[0].source == "Email"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"widget": "x"}', "version: missing"),
        (with_changes(version=2), "upgrade the workbench"),
        (with_changes(version="1"), "version: must be the number 1"),
        (with_changes(colour="red"), "colour: unknown key"),
        (with_changes(list_id="abc"), "list_id: must be a list id number"),
        (with_changes(list_id=True), "list_id: must be a list id number"),
        (with_changes(list_id=-4), "list_id: must be a positive list id"),
        (with_changes(list_id=[101]), "list_id"),
        (with_changes(identifier="phone"), "identifier: 'phone' is not allowed"),
        (with_changes(fields={}), "fields: must be a list"),
        (with_changes(fields=[{"source": "A", "target": "a", "colour": 1}]),
         "fields[0].colour: unknown key"),
        (with_changes(fields=[{"source": "A"}]), "fields[0].target: required key is missing"),
        (with_changes(fields=[{"source": "A", "target": "a", "type": "int"}]),
         "fields[0].type: 'int' is not allowed"),
        (with_changes(fields=[{"source": "A", "target": "a", "phone_region": "XX"}]),
         "fields[0].phone_region: 'XX' is not a phone region"),
        (with_changes(fields=[{"source": "A", "target": "a", "timezone": "Mars/Base"}]),
         "fields[0].timezone: 'Mars/Base' is not a time zone"),
        (with_changes(fields=[{"source": "", "target": "a"}]), "fields[0].source: must not be"),
        (with_changes(options={"duplicates": "all"}), "options.duplicates: 'all' is not allowed"),
        (with_changes(options={"extra": 1}), "options.extra: unknown key"),
        (with_changes(widget=5), "widget: must be text"),
        ('[1, 2]', "expected a JSON object"),
        ('{"version": 1,', "not valid JSON at line 1"),
        ('{"version": 1, "version": 1}', "'version' appears twice"),
        ('{"version": 1, "static_fields": [{"target": "x", "value": NaN, "type": "double"}]}',
         "NaN is not allowed"),
        ("[" * 100_000, "nested too deeply"),
        (with_changes(list_id=2**70), "list_id: 1180591620717411303424 is too large"),
        ('{"version": 1, "list_id": 1' + "0" * 5000 + "}", "more than 4300 digits"),
        (with_changes(fields=[{"source": "A", "target": "a", "trim": "yes"}]),
         "fields[0].trim: must be true or false, got 'yes'"),
        (with_changes(fields=[{"source": "A", "target": "a", "empty_is_false": 1}]),
         "fields[0].empty_is_false: must be true or false, got 1"),
        (with_changes(options={"create_new_fields": "yes"}),
         "options.create_new_fields: must be true or false"),
        (with_changes(static_fields=[{"target": "n", "value": ["a"]}]),
         "static_fields[0].value: must be text, a number or true/false, got ['a']"),
    ],
)
def test_errors_name_the_key(text, expected):
    assert expected in error_of(text)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("", "fields[1].target: must not be empty"),
        (" firstName", "spaces at the start or end"),
        ("firstName ", "spaces at the start or end"),
        ("x" * (MAX_TARGET_LENGTH + 1), f"Use at most {MAX_TARGET_LENGTH} characters"),
        ("first\nname", "control character U+000A"),
        ("first\u200bname", "control character U+200B"),
        ("a,b", "contains a comma"),
        ("a#b", "hash sign"),
        ("12345", "only digits"),
        ("_secret", "starts with an underscore"),
        ("address..city", "empty part around a dot"),
        (".city", "empty part around a dot"),
        (7, "must be a field name in quotes"),
    ],
)
def test_bad_target_names(target, expected):
    fields = [{"source": "Email", "target": "email"}, {"source": "A", "target": target}]
    message = error_of(with_changes(fields=fields))
    assert "fields[1].target" in message
    assert expected in message


def test_good_target_names():
    for name in ("firstName", "first name", "address.city", "Größe", "zip_code", "a1"):
        assert check_target_name(name) == name


def test_duplicate_targets_are_refused():
    fields = [{"source": "Email", "target": "email"}, {"source": "Mail", "target": "email"}]
    message = error_of(with_changes(fields=fields))
    assert "fields[1].target: 'email' is already the target of fields[0].target" in message
    statics = [{"target": "firstName", "value": "x"}]
    message = error_of(with_changes(static_fields=statics))
    assert "static_fields[0].target: 'firstName' is already the target of fields[1]" in message


@pytest.mark.parametrize(
    ("static", "expected"),
    [
        ({"target": "n", "value": "5", "type": "long"}, "not a whole number for type long"),
        ({"target": "n", "value": 5}, "not text for type string"),
        ({"target": "n", "value": "yes", "type": "boolean"}, "not true or false"),
        ({"target": "n", "value": True, "type": "double"}, "not a number for type double"),
        ({"target": "n", "value": "2024-13-01", "type": "date"}, "not a real calendar date"),
        ({"target": "n", "value": "01.02.2024", "type": "date"}, "not a date Iterable accepts"),
        ({"target": "n", "value": None}, "must not be null"),
        ({"target": "n", "value": 2**70, "type": "long"}, "does not fit a 64-bit long"),
        ({"target": "email", "value": "a@b.com"}, "cannot be a constant"),
        ({"target": "n", "value": "x", "colour": 1}, "static_fields[0].colour: unknown key"),
    ],
)
def test_static_field_values_must_match_their_type(static, expected):
    message = error_of(with_changes(static_fields=[static]))
    assert "static_fields[0]" in message
    assert expected in message


def test_static_field_values_of_every_type():
    statics = [
        {"target": "s", "value": "{{widget}} on {{today}}", "type": "string"},
        {"target": "l", "value": 42, "type": "long"},
        {"target": "d", "value": 1.5, "type": "double"},
        {"target": "i", "value": 2, "type": "double"},
        {"target": "b", "value": False, "type": "boolean"},
        {"target": "t", "value": "{{now}}", "type": "date"},
        {"target": "u", "value": "2024-05-01 10:00:00 +00:00", "type": "date"},
        {"target": "v", "value": "2024-05-01", "type": "date"},
    ]
    config = MappingConfig.from_json(with_changes(static_fields=statics))
    assert [s.value for s in config.static_fields][1:5] == [42, 1.5, 2, False]
    assert json.loads(config.to_json())["static_fields"] == statics


def test_several_problems_are_listed_together():
    text = with_changes(list_id="x", options={"duplicates": "all"})
    message = error_of(text)
    assert "2 problems" in message
    assert "list_id" in message
    assert "options.duplicates" in message


def test_load_reports_missing_file(tmp_path):
    with pytest.raises(MappingFileError, match="cannot read the mapping file"):
        MappingConfig.load(tmp_path / "nope.json")


def test_load_refuses_huge_files(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 6_000_000)
    with pytest.raises(MappingFileError, match="at most"):
        MappingConfig.load(path)


def test_not_utf8_is_named(tmp_path):
    with pytest.raises(MappingFileError, match="not UTF-8"):
        MappingConfig.from_json(b'{"version": 1, "widget": "\xe9"}')


def test_static_field_model_checks_value_in_python_too():
    with pytest.raises(ValueError):
        StaticField(target="n", value="x", type="long")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(raw):
    try:
        MappingConfig.from_json(raw)
    except MappingFileError:
        pass


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["version", "widget", "list_id", "identifier", "fields", "static_fields",
                     "options", "other"]),
    JSON_VALUES,
))
def test_random_structures_never_crash(data):
    try:
        MappingConfig.from_json(json.dumps(data))
    except MappingFileError as error:
        assert str(error).startswith("mapping file")


# --------------------------------------------------------------------------- suggestions

HEADERS = ["Email", "First name", "Last name", "Phone number", "I agree to receive emails",
           "Consent", "Site language", "Browser", "Operation system", "Device", "Country code",
           "Country", "City", "Page URL", "Subscribed at"]
SEED_FIELDS = {
    "email": "string", "firstName": "string", "lastName": "string", "phoneNumber": "string",
    "signupDate": "date", "signupSource": "string", "city": "string", "country": "string",
    "countryCode": "string", "locale": "string", "consent": "boolean",
}


def test_suggestions_for_the_sample_headers():
    suggested = {f.source: f for f in suggest_fields(HEADERS, SEED_FIELDS)}
    assert suggested["Email"].target == "email"
    assert suggested["First name"].target == "firstName"
    assert suggested["Phone number"].target == "phoneNumber"
    assert suggested["Phone number"].converter == "phone"
    assert suggested["Consent"].target == "consent"
    assert suggested["Consent"].converter == "boolean"
    assert suggested["Country code"].target == "countryCode"
    assert suggested["Subscribed at"].target == "signupDate"
    assert suggested["Site language"].target == "locale"
    for system in ("Browser", "Operation system", "Device", "Page URL"):
        assert system not in suggested  # a new Iterable field can never be deleted
    targets = [f.target for f in suggested.values()]
    assert len(targets) == len(set(targets))


def test_suggestions_prefer_an_existing_case_variant():
    suggested = suggest_fields(["Country code", "E-Mail"], {"countrycode": "string"})
    assert [(f.source, f.target) for f in suggested] == [
        ("Country code", "countrycode"), ("E-Mail", "email")
    ]


def test_suggestions_for_new_fields_carry_a_type():
    suggested = {f.source: f for f in suggest_fields(["Consent", "Subscribed at"], {})}
    assert suggested["Consent"].type == "boolean"
    assert suggested["Subscribed at"].type == "date"


def test_suggestions_accept_column_info_objects():
    class Column:
        def __init__(self, name, role):
            self.name, self.role = name, role

    suggested = suggest_fields([Column("Mail des Kunden", "email"), Column("Plz", None)],
                               {"plz": "string"})
    assert [(f.source, f.target) for f in suggested] == [
        ("Mail des Kunden", "email"), ("Plz", "plz")
    ]


def test_target_as_value_and_parent_rejected():
    fields = [{"source": "A", "target": "address"}, {"source": "B", "target": "address.city"}]
    message = error_of(with_changes(fields=fields))
    assert "fields[1].target: 'address.city' is nested inside 'address'" in message


def test_suggested_date_field_gets_order_from_values():
    frame = pd.DataFrame({"Subscribed at": ["25/03/2024 08:00", "02/04/2024 10:15"]}, dtype="str")

    suggested = {f.source: f for f in suggest_fields(["Subscribed at"], {}, frame)}

    assert suggested["Subscribed at"].date_order == "DMY"
