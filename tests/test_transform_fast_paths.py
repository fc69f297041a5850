"""The vectorised fast paths give exactly what the slower, per-value code gives.

Each test compares a fast path with the slower reference. The plain-address email check is
compared with the per-address rules, and the Arrow distinct-value lookup with pandas. The JSON
text assembly is compared with json.dumps on quotes, backslashes, control characters,
non-ASCII text, emoji and missing values. The last tests cover the string converter on large
columns, the shortcut that skips duplicate hashing, and the two-thread path.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mapping import normalize
from mapping.config import MappingConfig
from mapping.normalize import _base, _email
from mapping.transform import _apply, apply, plan_duplicates

PROJECT = {"email": "string", "firstName": "string", "lastName": "string", "city": "string",
           "consent": "boolean", "phoneNumber": "string", "signupDate": "date"}

TRICKY_EMAILS = [
    "anna@example.com", " Anna.Schmidt@Example.COM ", "\u00a0bo@example.org\u200b",
    "o'connor@example.com", "user+tag@example.co.uk", "a_b-c@sub.example.net",
    "x!#$%&*/=?^`{|}~@example.com", "a..b@example.com", ".a@example.com", "a.@example.com",
    "a" * 64 + "@example.com", "a" * 65 + "@example.com",
    "a@" + ".".join(["b" * 63] * 3) + ".com", "a@" + ".".join(["b" * 63] * 4) + ".com",
    "a@" + "b" * 64 + ".com", "a@-example.com", "a@example-.com", "a@example..com",
    "a@example.com.", "@example.com", "user@", "user", "a@b@example.com",
    '"quoted name"@example.com', '"a@b"@example.com', "back\\slash@example.com",
    "tab\there@example.com", "new\nline@example.com", "nel\x85x@example.com",
    "zero\u200bwidth@example.com", "jürgen@example.de", "user@bücher.de", "user@b\u00fccher.xn",
    "emoji\U0001f600@example.com", "user@example.test", "anna.schmidt@example",
    "user@exa_mple.com", "user@example.c0m", "user@example.123", "user@xn--bcher-kva.de",
    "USER@EXAMPLE.COM", "İstanbul@example.com", "user@[127.0.0.1]", "a b@example.com",
    "", "   ", None, float("nan"),
]


def expected_email(raw) -> tuple[str | None, str | None]:
    """(value, code) by the per-address rules: trim, lower-case (as Arrow does), _problem()."""
    if raw is None or raw != raw:
        return None, None
    cleaned = pa.array([raw.strip(_base.INVISIBLE_EDGE_CHARS)])
    cleaned = pa.compute.utf8_lower(cleaned)[0].as_py()
    if cleaned == "":
        return None, None
    if _email._problem(cleaned) is not None:
        return None, "invalid_email"
    return cleaned, None


def test_email_fast_path_matches_rules():
    series = pd.Series(TRICKY_EMAILS, dtype=object)
    result = normalize.email(series)
    for position, raw in enumerate(TRICKY_EMAILS):
        got = (result.values.iat[position], result.codes.iat[position])
        assert got == expected_email(raw), raw
        if got[1] is not None:
            assert result.errors.iat[position].startswith(_base.quote(raw) + " is not a valid")


def test_email_fast_path_matches_is_valid_email():
    for raw in TRICKY_EMAILS:
        if not isinstance(raw, str) or not raw.strip(_base.INVISIBLE_EDGE_CHARS):
            continue
        code = normalize.email(pd.Series([raw])).codes.iat[0]
        trimmed = raw.strip(_base.INVISIBLE_EDGE_CHARS)
        assert (code is None) == normalize.is_valid_email(trimmed), raw


def test_email_keeps_the_input_index_and_repeats():
    series = pd.Series(["a@example.com", None, "bad@", "bad@"], index=[10, 11, 12, 13])
    result = normalize.email(series)
    assert list(result.values.index) == [10, 11, 12, 13]
    assert result.values.tolist() == ["a@example.com", None, None, None]
    assert result.codes.tolist() == [None, None, "invalid_email", "invalid_email"]


@pytest.mark.parametrize("chunks", [1, 3])
def test_distinct_matches_pandas_unique(chunks):
    values = ["b", None, "a", "", "b", "ü", None, "a", "😀", ""]
    parts = [values[i::chunks] for i in range(chunks)]
    ordered = [v for part in parts for v in part]
    arrow = pa.chunked_array([pa.array(part, pa.string()) for part in parts])
    text = pd.Series(pd.arrays.ArrowStringArray(arrow) if chunks > 1 else ordered, dtype="str")
    uniques, positions = _base.distinct(text)
    expected = pd.unique(pd.Series(ordered, dtype="str").dropna())
    assert list(uniques) == list(expected)
    assert [None if p < 0 else uniques[p] for p in positions] == ordered


def mapping(fields, **options) -> MappingConfig:
    return MappingConfig.from_dict({"version": 1, "widget": "w", "list_id": 101,
                                    "identifier": "email", "fields": fields,
                                    "static_fields": [{"target": "source", "value": 'x"y\\z'}],
                                    "options": options})


TRICKY_TEXTS = ['say "hi"', "back\\slash", "tab\tand\nline", "bell\x07\x1f", "Müller",
                "陽翔", "emoji \U0001f600", "\u2028sep", "", None, "plain", "'single'", "/"]


def test_assembled_text_equals_json_dumps():
    rows = len(TRICKY_TEXTS)
    df = pd.DataFrame({
        "Email": [f"user{i}@example.com" for i in range(rows)],
        "First": TRICKY_TEXTS,
        "Last": list(reversed(TRICKY_TEXTS)),
        "City": [None] * rows,
    }, dtype="str")
    config = mapping([{"source": "Email", "target": "email"},
                      {"source": "First", "target": "firstName"},
                      {"source": "Last", "target": "lastName"},
                      {"source": "City", "target": "city"}])
    result = apply(df, config, PROJECT)
    for position in range(rows):
        data = {}
        for key, raw in (("firstName", TRICKY_TEXTS[position]),
                         ("lastName", TRICKY_TEXTS[rows - 1 - position])):
            if raw:  # empty strings are missing values
                data[key] = raw
        data["source"] = 'x"y\\z'
        expected = {"email": f"user{position}@example.com", "dataFields": data}
        text = result.items.texts[position]
        assert text == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
        assert json.loads(text) == expected


def test_assembled_text_without_any_data_field():
    df = pd.DataFrame({"Email": ["a@example.com", "b@example.com"], "First": [None, "x"]},
                      dtype="str")
    config = MappingConfig.from_dict({"version": 1, "widget": "w", "identifier": "email",
                                      "fields": [{"source": "Email", "target": "email"},
                                                 {"source": "First", "target": "firstName"}]})
    result = apply(df, config, PROJECT)
    assert result.items.texts == ['{"email":"a@example.com","dataFields":{}}',
                                  '{"email":"b@example.com","dataFields":{"firstName":"x"}}']


def sample_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "Email": [f"User{i}@Example.com" if i % 97 else f"bad{i}@" for i in range(rows)],
        "First": rng.choice(["Ana", 'Jo "J"', None, "Łukasz", "x\\y"], rows),
        "Consent": rng.choice(["yes", "", "nein", "maybe"], rows),
        "Phone": rng.choice(["0151 23456789", "+49 30 123456", "12345", None], rows),
        "Date": rng.choice(["25/03/2026 14:05", "2026-03-01", "31/02/2026", None], rows),
    }, dtype="str")


SAMPLE_FIELDS = [
    {"source": "Email", "target": "email"},
    {"source": "First", "target": "firstName"},
    {"source": "Consent", "target": "consent", "converter": "boolean", "empty_is_false": True},
    {"source": "Phone", "target": "phoneNumber", "converter": "phone", "phone_region": "DE"},
    {"source": "Date", "target": "signupDate", "type": "date", "date_order": "DMY"},
]


def test_two_threads_give_the_same_result_as_one(monkeypatch):
    df = sample_frame(3000)
    config = mapping(SAMPLE_FIELDS)
    monkeypatch.setattr(_apply, "CONVERTER_THREADS", 1)
    single = apply(df, config, PROJECT)
    monkeypatch.setattr(_apply, "CONVERTER_THREADS", 2)
    monkeypatch.setattr(_apply, "PARALLEL_ROWS", 1)
    parallel = apply(df, config, PROJECT)
    assert parallel.items.texts == single.items.texts
    pd.testing.assert_frame_equal(parallel.issues, single.issues)
    pd.testing.assert_frame_equal(parallel.values, single.values)


def test_distinct_identifiers_skip_hashing_with_the_same_result():
    df = sample_frame(500)
    config = mapping(SAMPLE_FIELDS)
    quick = apply(df, config, PROJECT)
    planned = apply(df, config, PROJECT, duplicates=plan_duplicates([df], config))
    assert quick.merged == planned.merged == 0
    assert quick.items.texts == planned.items.texts
    pd.testing.assert_frame_equal(quick.issues, planned.issues)


def test_repeated_identifiers_still_resolved():
    df = pd.DataFrame({"Email": ["a@example.com", "A@example.com ", "b@example.com"],
                       "First": ["one", "two", "three"]}, dtype="str")
    config = mapping([{"source": "Email", "target": "email"},
                      {"source": "First", "target": "firstName"}])
    result = apply(df, config, PROJECT)
    assert result.merged == 1
    assert [item and item["dataFields"]["firstName"] for item in result.items] == \
        [None, "two", "three"]


@pytest.mark.parametrize("trim", [False, True])
@pytest.mark.parametrize("distinct_share", [0.001, 1.0])
def test_string_converter_on_large_columns(trim, distinct_share):
    rows = 30_000
    pool = ["Berlin", " Köln ", "", None, "\u00a0\u200b", 'a "q"', "x" * 32_769, "😀"]
    values = [pool[i % len(pool)] if (i * distinct_share) < len(pool) or distinct_share < 1
              else f"name {i}" for i in range(rows)]
    result = normalize.string(pd.Series(values, dtype="str"), trim=trim)
    for position, raw in enumerate(values):
        cleaned = raw.strip(_base.INVISIBLE_EDGE_CHARS) if trim and raw is not None else raw
        too_long = cleaned is not None and len(cleaned) > normalize.MAX_STRING_LENGTH
        expected = None if not cleaned or too_long else cleaned
        assert result.values.iat[position] == expected
        assert result.codes.iat[position] == ("value_too_long" if too_long else None)
