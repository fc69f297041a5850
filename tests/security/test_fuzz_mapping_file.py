"""Fuzz the mapping-file loader: any input gives a MappingConfig or a MappingFileError.

Inputs: random bytes, random JSON documents, valid files with one value replaced by random
JSON, and valid files cut short. The examples are bounded so the module runs in a few seconds.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping.config import MappingConfig, MappingFileError
from tests.security._bounds import clear_error_or_result, memory_bound
from tests.security.test_mapping_file_errors import VALID

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)

# Paths to the values a mutated file may change; each is a key the message should name.
MUTABLE_PATHS = [
    ("version",),
    ("widget",),
    ("list_id",),
    ("identifier",),
    ("fields",),
    ("static_fields",),
    ("options",),
    ("fields", 0),
    ("fields", 0, "source"),
    ("fields", 0, "target"),
    ("fields", 1, "type"),
    ("fields", 1, "converter"),
    ("fields", 1, "date_order"),
    ("fields", 1, "timezone"),
    ("fields", 1, "phone_region"),
    ("fields", 1, "decimal_separator"),
    ("fields", 1, "country_format"),
    ("static_fields", 0, "target"),
    ("static_fields", 0, "value"),
    ("static_fields", 0, "type"),
    ("options", "duplicates"),
    ("options", "default_phone_region"),
    ("options", "date_order"),
    ("options", "timezone"),
    ("options", "decimal_separator"),
]


def load(raw) -> MappingConfig | MappingFileError:
    return clear_error_or_result(
        lambda: MappingConfig.from_json(raw, source_name="fuzz.json"), MappingFileError
    )


def location(path: tuple) -> str:
    """("fields", 0, "target") -> "fields[0].target", as the loader writes it."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = part
    return text


def replaced(path: tuple, value) -> dict:
    data = json.loads(json.dumps(VALID))
    data["fields"][1].setdefault("type", "date")
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@FUZZ
@given(st.binary(max_size=2_000))
def test_random_bytes(raw):
    load(raw)


@FUZZ
@given(json_values)
def test_random_json_documents(value):
    load(json.dumps(value))


@FUZZ
@given(st.sampled_from(MUTABLE_PATHS), json_values)
def test_one_value_replaced_names_its_key(path, value):
    outcome = load(json.dumps(replaced(path, value)))
    if isinstance(outcome, MappingFileError):
        message = str(outcome)
        # The message names the changed key, or a key inside the changed value.
        assert location(path) in message or location(path[:1]) in message, message


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=len(json.dumps(VALID, indent=2)) - 1))
def test_truncated_valid_file(cut):
    text = json.dumps(VALID, indent=2)
    outcome = load(text[:cut].encode("utf-8"))
    assert isinstance(outcome, MappingFileError), f"a file cut at {cut} loaded"


@FUZZ
@given(st.text(max_size=300))
def test_random_target_names(name):
    outcome = load(json.dumps(replaced(("fields", 0, "target"), name)))
    if isinstance(outcome, MappingFileError):
        assert "fields[0].target" in str(outcome), str(outcome)
    else:
        assert outcome.fields[0].target == name


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[" * 1_000_000, id="a million open brackets"),
        pytest.param('{"a":' * 300_000, id="300k nested objects"),
        pytest.param('{"version": 1, "widget": "' + "w" * 4_900_000 + '"}', id="huge string"),
        pytest.param(b"\x00" * 4_000_000, id="NUL bytes"),
        pytest.param("\ud800".encode("utf-8", "surrogatepass") * 1000, id="lone surrogates"),
        pytest.param(b"\xff\xfe" + json.dumps(VALID).encode("utf-16-le"), id="UTF-16"),
    ],
)
def test_hostile_documents_within_memory_bound(raw):
    with memory_bound():
        load(raw)
