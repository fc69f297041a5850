"""Bad mapping files: every problem is a MappingFileError whose message names the key.

The table covers unknown keys, wrong types, a list_id that is not a usable number, and target
field names that are empty, too long or contain characters Iterable rejects. Each row gives the
file content and the key path the message must name after the source name.
"""

from __future__ import annotations

import json

import pytest

from mapping.config import MAX_FILE_BYTES, MappingConfig, MappingFileError
from tests.security._bounds import check_message

pytestmark = pytest.mark.timeout(60)

VALID = {
    "version": 1,
    "widget": "Spring sale pop-up",
    "list_id": 101,
    "identifier": "email",
    "fields": [
        {"source": "Email", "target": "email"},
        {"source": "Subscribed at", "target": "signupDate", "type": "date"},
    ],
    "static_fields": [{"target": "signupSource", "value": "claspo", "type": "string"}],
    "options": {},
}


def with_changes(**top_level) -> dict:
    """A copy of VALID with some top-level keys replaced."""
    data = json.loads(json.dumps(VALID))
    data.update(top_level)
    return data


def with_field(**changes) -> dict:
    """A copy of VALID whose first mapped field has ``changes`` applied."""
    data = json.loads(json.dumps(VALID))
    data["fields"][0].update(changes)
    return data


def with_static(**changes) -> dict:
    """A copy of VALID whose first static field has ``changes`` applied."""
    data = json.loads(json.dumps(VALID))
    data["static_fields"][0].update(changes)
    return data


# (case id, mapping data, key path the message must name)
BAD_MAPPINGS = [
    # unknown keys, at every level
    ("unknown top-level key", with_changes(lsit_id=101), "lsit_id"),
    ("unknown field key", with_field(colour="red"), "fields[0].colour"),
    ("unknown static key", with_static(note="x"), "static_fields[0].note"),
    ("unknown option", with_changes(options={"dedupe": "last"}), "options.dedupe"),
    # wrong types
    ("fields is text", with_changes(fields="Email"), "fields"),
    ("fields item is a list", with_changes(fields=[["Email", "email"]]), "fields[0]"),
    ("options is a list", with_changes(options=[]), "options"),
    ("widget is a number", with_changes(widget=5), "widget"),
    ("identifier unknown", with_changes(identifier="phone"), "identifier"),
    ("source is a number", with_field(source=5), "fields[0].source"),
    ("source is empty", with_field(source="  "), "fields[0].source"),
    ("type unknown", with_field(type="integer"), "fields[0].type"),
    ("converter unknown", with_field(converter="zip"), "fields[0].converter"),
    ("date order unknown", with_field(date_order="DDMM"), "fields[0].date_order"),
    ("timezone unknown", with_field(timezone="Mars/Olympus"), "fields[0].timezone"),
    ("phone region unknown", with_field(phone_region="XX"), "fields[0].phone_region"),
    ("trim is a list", with_field(trim=[True]), "fields[0].trim"),
    ("trim is text", with_field(trim="yes"), "fields[0].trim"),
    ("empty_is_false is a number", with_field(empty_is_false=1), "fields[0].empty_is_false"),
    (
        "create_new_fields is text",
        with_changes(options={"create_new_fields": "yes"}),
        "options.create_new_fields",
    ),
    ("duplicates unknown", with_changes(options={"duplicates": "all"}), "options.duplicates"),
    ("static value is a list", with_static(value=["a"]), "static_fields[0].value"),
    ("static value is null", with_static(value=None), "static_fields[0].value"),
    ("static long is text", with_static(value="x", type="long"), "static_fields[0].value"),
    ("static boolean is text", with_static(value="yes", type="boolean"), "static_fields[0].value"),
    ("static date is not a date", with_static(value="soon", type="date"), "static_fields[0].value"),
    ("static targets the email", with_static(target="email"), "static_fields[0].target"),
    ("target missing", {**VALID, "fields": [{"source": "Email"}]}, "fields[0].target"),
    ("version missing", {k: v for k, v in VALID.items() if k != "version"}, "version"),
    ("version is text", with_changes(version="1"), "version"),
    ("version from the future", with_changes(version=2), "version"),
    # list_id that is not a (usable) number
    ("list_id is text", with_changes(list_id="Newsletter"), "list_id"),
    ("list_id is quoted digits", with_changes(list_id="101"), "list_id"),
    ("list_id is a fraction", with_changes(list_id=1.5), "list_id"),
    ("list_id is true", with_changes(list_id=True), "list_id"),
    ("list_id is a list", with_changes(list_id=[101]), "list_id"),
    ("list_id is an object", with_changes(list_id={"id": 101}), "list_id"),
    ("list_id is zero", with_changes(list_id=0), "list_id"),
    ("list_id is negative", with_changes(list_id=-101), "list_id"),
    ("list_id beyond 64 bits", with_changes(list_id=2**70), "list_id"),
    # target field names Iterable does not accept
    ("target empty", with_field(target=""), "fields[0].target"),
    ("target too long", with_field(target="a" * 256), "fields[0].target"),
    ("target is null", with_field(target=None), "fields[0].target"),
    ("target is a number", with_field(target=7), "fields[0].target"),
    ("target has a comma", with_field(target="first,name"), "fields[0].target"),
    ("target has a hash", with_field(target="tag#1"), "fields[0].target"),
    ("target has a newline", with_field(target="first\nname"), "fields[0].target"),
    ("target has a NUL", with_field(target="first\x00name"), "fields[0].target"),
    ("target has a zero-width char", with_field(target="first\u200bname"), "fields[0].target"),
    ("target starts with underscore", with_field(target="_secret"), "fields[0].target"),
    ("target only digits", with_field(target="12345"), "fields[0].target"),
    ("target has outer spaces", with_field(target=" email"), "fields[0].target"),
    ("target has an empty nested part", with_field(target="address..city"), "fields[0].target"),
    ("static target too long", with_static(target="b" * 1000), "static_fields[0].target"),
    ("static target has a comma", with_static(target="a,b"), "static_fields[0].target"),
    # the same target twice
    (
        "target used twice",
        with_changes(
            fields=[{"source": "A", "target": "city"}, {"source": "B", "target": "city"}]
        ),
        "fields[1].target",
    ),
]


@pytest.mark.parametrize(
    ("data", "key"), [pytest.param(d, k, id=name) for name, d, k in BAD_MAPPINGS]
)
def test_bad_mapping_names_the_key(data, key):
    text = json.dumps(data)
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.from_json(text, source_name="spring.json")
    message = check_message(caught.value)
    assert message.startswith("spring.json"), message
    assert f"{key}:" in message, f"message does not name {key!r}: {message}"


# (case id, raw file text, words the message must contain)
BAD_TEXT = [
    ("empty file", "", "not valid JSON"),
    ("not JSON", "version = 1", "not valid JSON"),
    ("truncated JSON", json.dumps(VALID)[:40], "not valid JSON"),
    ("top level is a list", "[]", "JSON object"),
    ("top level is null", "null", "JSON object"),
    ("duplicate key", '{"version": 1, "list_id": 101, "list_id": 102}', "list_id"),
    ("NaN", '{"version": 1, "list_id": NaN}', "NaN"),
    ("Infinity", '{"version": 1, "static_fields": [{"target": "a", "value": Infinity}]}', "Inf"),
    ("deeply nested lists", "[" * 100_000, "nested"),
    ("deeply nested objects", '{"a":' * 100_000, "nested"),
    ("huge integer", '{"version": 1, "list_id": ' + "9" * 5000 + "}", "digits"),
]


@pytest.mark.parametrize(
    ("text", "words"), [pytest.param(t, w, id=name) for name, t, w in BAD_TEXT]
)
def test_bad_mapping_text_is_explained(text, words):
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.from_json(text, source_name="spring.json")
    message = check_message(caught.value)
    assert words in message, message
    assert "sys." not in message, f"the message gives Python advice to an analyst: {message}"


def test_bytes_that_are_not_utf8_are_explained():
    raw = json.dumps(VALID, ensure_ascii=False).replace("Spring", "Frühling").encode("cp1252")
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.from_json(raw, source_name="spring.json")
    assert "UTF-8" in check_message(caught.value)


def test_utf8_with_bom_is_accepted():
    raw = b"\xef\xbb\xbf" + json.dumps(VALID).encode("utf-8")
    assert MappingConfig.from_json(raw).list_id == 101


def test_missing_file_is_a_mapping_file_error(tmp_path):
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.load(tmp_path / "nowhere.json")
    assert "nowhere.json" in check_message(caught.value)


def test_directory_is_a_mapping_file_error(tmp_path):
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.load(tmp_path)
    check_message(caught.value)


def test_oversized_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(MappingFileError) as caught:
        MappingConfig.load(path)
    assert "bytes" in check_message(caught.value)


def test_valid_file_still_loads(tmp_path):
    path = tmp_path / "spring.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    config = MappingConfig.load(path)
    assert config.targets == ["email", "signupDate", "signupSource"]
