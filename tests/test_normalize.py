"""Converter tables for mapping.normalize: email, phone, boolean, country, string.

Dates and numbers have their own files (test_normalize_date.py, test_normalize_numbers.py).
Each case is one input value and what the converter must make of it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping import normalize

NBSP, ZWSP = "\u00a0", "\u200b"


def convert_one(converter, value, **options):
    """Run a converter on a one-row Series and return (value, code, error)."""
    result = converter(pd.Series([value], index=[7]), **options)
    assert list(result.values.index) == [7]
    return result.values.iat[0], result.codes.iat[0], result.errors.iat[0]


# --- email ---------------------------------------------------------------------------------

EMAIL_CASES = [
    ("anna@example.com", "anna@example.com"),
    ("Anna.Schmidt@Example.COM", "anna.schmidt@example.com"),
    (f"  anna@example.com{NBSP}", "anna@example.com"),
    (f"{ZWSP}anna@example.com{ZWSP}", "anna@example.com"),
    ("\ufeffanna@example.com", "anna@example.com"),
    ("o'neil@example.org", "o'neil@example.org"),
    ("first+tag@example.net", "first+tag@example.net"),
    ("x@sub.domain.example.co.uk", "x@sub.domain.example.co.uk"),
    ("user@example.museum", "user@example.museum"),
    ("user@example.xn--p1ai", "user@example.xn--p1ai"),
    ("müller@example.de", "müller@example.de"),
    ("info@bücher.de", "info@bücher.de"),
    ('"john doe"@example.com', '"john doe"@example.com'),
    ("a-b_c.d@my-domain.io", "a-b_c.d@my-domain.io"),
]

INVALID_EMAILS = [
    "anna.schmidt@example",          # no top-level domain
    "user @example.com",             # space in the local part
    "user@exam ple.com",             # space in the domain
    "maria@example.test",            # .test is not a real top-level domain
    "x@example.invalid",
    "x@localhost",
    "no-at-sign.example.com",
    "@example.com",
    "a@@example.com",
    "a@b@example.com",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@example.com.",
    "a@-example.com",
    "a@example-.com",
    "a@example.c0m",
    "a@[127.0.0.1]",
    "a(b)@example.com",
    "a,b@example.com",
    "x" * 65 + "@example.com",       # local part longer than 64 characters
    "a@" + "x" * 64 + ".com",         # domain label longer than 63 characters
    f"an{ZWSP}na@example.com",       # invisible character inside the address
]


@pytest.mark.parametrize(("raw", "expected"), EMAIL_CASES)
def test_email_valid(raw, expected):
    value, code, error = convert_one(normalize.email, raw)
    assert (value, code, error) == (expected, None, None)
    assert normalize.is_valid_email(raw.strip(f" {NBSP}{ZWSP}\ufeff"))


@pytest.mark.parametrize("raw", INVALID_EMAILS)
def test_email_invalid_keeps_original_in_message(raw):
    value, code, error = convert_one(normalize.email, raw)
    assert value is None
    assert code == "invalid_email"
    assert f'"{raw[:79]}' in error
    assert not normalize.is_valid_email(raw)


@pytest.mark.parametrize("raw", [None, "", "   ", NBSP, float("nan"), pd.NA])
def test_email_missing_is_not_an_issue(raw):
    assert convert_one(normalize.email, raw) == (None, None, None)


def test_email_reason_names_the_top_level_domain():
    _, _, error = convert_one(normalize.email, "maria.garcia@example.test")
    assert '".test" is not a known top-level domain' in error


def test_tld_list_is_the_iana_set():
    tlds = normalize.known_tlds()
    assert {"com", "org", "net", "de", "museum", "xn--p1ai"} <= tlds
    assert not {"test", "example", "invalid", "localhost", "local"} & tlds
    assert len(tlds) > 1000


# --- phone ---------------------------------------------------------------------------------

PHONE_CASES = [
    ("+49 151 23456789", None, "+4915123456789"),
    ("0151 23456789", "DE", "+4915123456789"),
    ("0151-234 567 89", "de", "+4915123456789"),
    ("(0151) 23456789", "DE", "+4915123456789"),
    ("0049 151 23456789", "DE", "+4915123456789"),
    ("030 12345678", "DE", "+493012345678"),
    ("+33 6 12 34 56 78", "DE", "+33612345678"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("+39 06 1234 5678", None, "+390612345678"),     # Italian landline keeps its leading zero
    ("06 1234 5678", "IT", "+390612345678"),
    ("+1 (201) 555-0123", None, "+12015550123"),
    ("201.555.0123", "US", "+12015550123"),
    (f"+380{NBSP}67 123 45 67", None, "+380671234567"),
    ("+81 90-1234-5678", None, "+819012345678"),
]

INVALID_PHONES = [
    ("12345", "DE", "not a valid number in DE"),
    ("+44 7700 900123", "DE", "country code +44"),
    ("0151 23456789", None, "no country code"),
    ("+999 123456", None, "country code is unknown"),
    ("call me", "DE", "not a phone number"),
]


@pytest.mark.parametrize(("raw", "region", "expected"), PHONE_CASES)
def test_phone_to_e164(raw, region, expected):
    assert convert_one(normalize.phone, raw, region=region) == (expected, None, None)


@pytest.mark.parametrize(("raw", "region", "reason"), INVALID_PHONES)
def test_phone_invalid(raw, region, reason):
    value, code, error = convert_one(normalize.phone, raw, region=region)
    assert (value, code) == (None, "invalid_phone")
    assert raw in error
    assert reason in error


def test_phone_unknown_region_rejected():
    with pytest.raises(ValueError, match="Unknown phone region 'XX'"):
        normalize.phone(pd.Series(["1"]), region="XX")


# --- boolean -------------------------------------------------------------------------------

BOOLEAN_CASES = [
    ("true", True), ("TRUE", True), ("false", False), ("1", True), ("0", False),
    ("yes", True), ("No", False), ("y", True), ("n", False), ("on", True), ("off", False),
    ("checked", True), ("unchecked", False), ("  Yes ", True),
    ("ja", True), ("Nein", False), ("oui", True), ("non", False), ("sí", True), ("Si", True),
    ("sì", True), ("sim", True), ("não", False), ("tak", True), ("nie", False),
    ("так", True), ("Ні", False), ("ja", True), ("nee", False), ("はい", True), ("いいえ", False),
    ("是", True), ("否", False),
]


@pytest.mark.parametrize(("raw", "expected"), BOOLEAN_CASES)
def test_boolean_truth_table(raw, expected):
    value, code, _ = convert_one(normalize.boolean, raw)
    assert value is expected
    assert code is None


@pytest.mark.parametrize("raw", ["maybe", "2", "yes please", "-1", "agree", "t r u e"])
def test_boolean_unknown_is_an_issue_not_a_guess(raw):
    value, code, error = convert_one(normalize.boolean, raw)
    assert (value, code) == (None, "invalid_boolean")
    assert f'"{raw}"' in error


@pytest.mark.parametrize(("raw", "empty_is_false", "expected"), [
    ("", True, False), (None, True, False), ("  ", True, False),
    ("", False, None), (None, False, None),
])
def test_boolean_empty(raw, empty_is_false, expected):
    value, code, _ = convert_one(normalize.boolean, raw, empty_is_false=empty_is_false)
    assert value is expected
    assert code is None


def test_truth_table_has_no_word_on_both_sides():
    table = normalize.truth_table()
    assert table["ja"] is True
    assert table["no"] is False
    assert all(word == word.lower().strip() for word in table)


# --- country -------------------------------------------------------------------------------

COUNTRY_CASES = [
    ("DE", "DE"), ("de", "DE"), ("DEU", "DE"), ("Germany", "DE"), ("Deutschland", "DE"),
    ("España", "ES"), ("espana", "ES"), ("Spain", "ES"), ("United States", "US"),
    ("USA", "US"), ("U.S.A.", "US"), ("UK", "GB"), ("United Kingdom", "GB"), ("GB", "GB"),
    ("Україна", "UA"), ("Ukraine", "UA"), ("日本", "JP"), ("Polska", "PL"), ("Italia", "IT"),
    ("Österreich", "AT"), ("Schweiz", "CH"), ("Korea, Republic of", "KR"),
    ("South Korea", "KR"), ("Côte d'Ivoire", "CI"), ("Nederland", "NL"), (" France ", "FR"),
]


@pytest.mark.parametrize(("raw", "expected"), COUNTRY_CASES)
def test_country_to_alpha2(raw, expected):
    assert convert_one(normalize.country, raw) == (expected, None, None)


@pytest.mark.parametrize(("raw", "expected"), [
    ("DE", "Germany"), ("Deutschland", "Germany"), ("KR", "South Korea"), ("usa", "United States"),
])
def test_country_to_name(raw, expected):
    assert convert_one(normalize.country, raw, output="name")[0] == expected


@pytest.mark.parametrize("raw", ["Narnia", "XX", "Europe", "123"])
def test_country_unknown(raw):
    value, code, error = convert_one(normalize.country, raw)
    assert (value, code) == (None, "invalid_country")
    assert raw in error


# --- string --------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "trim", "expected"), [
    ("04101", False, "04101"), ("  spaced  ", False, "  spaced  "), ("  spaced  ", True, "spaced"),
    (f"{NBSP}x{ZWSP}", True, "x"), ("", False, None), (None, False, None), ("   ", True, None),
    ("Тарас", False, "Тарас"),
])
def test_string(raw, trim, expected):
    assert convert_one(normalize.string, raw, trim=trim) == (expected, None, None)


def test_string_too_long_for_iterable():
    value, code, error = convert_one(normalize.string, "x" * (normalize.MAX_STRING_LENGTH + 1))
    assert (value, code) == (None, "value_too_long")
    assert "32768" in error
    assert convert_one(normalize.string, "x" * normalize.MAX_STRING_LENGTH)[1] is None


# --- shared behaviour ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(normalize.CONVERTERS))
def test_results_are_aligned_and_json_safe(name):
    index = pd.Index([10, 3, 99, 5])
    series = pd.Series(["DE", None, "1", "yes"], index=index)
    result = normalize.CONVERTERS[name](series)
    for part in (result.values, result.errors, result.codes):
        assert part.index.equals(index)
        assert part.dtype == object
    json.dumps(result.values.tolist())
    assert result.failed.tolist() == result.codes.notna().tolist()


@pytest.mark.parametrize("dtype", [object, "str", "string"])
def test_converters_accept_any_string_dtype(dtype):
    series = pd.Series(["Anna@Example.com", None], dtype=dtype)
    assert normalize.email(series).values.tolist() == ["anna@example.com", None]


def test_repeated_values_spread_back():
    series = pd.Series(["yes", "no", "yes", None, "maybe"] * 1000)
    result = normalize.boolean(series)
    assert result.values.iloc[:5].tolist() == [True, False, True, None, None]
    assert result.codes.value_counts().to_dict() == {"invalid_boolean": 1000}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=20))
def test_no_converter_raises_on_arbitrary_text(values):
    series = pd.Series(values, dtype=object)
    for name, converter in normalize.CONVERTERS.items():
        result = converter(series)
        assert len(result.values) == len(values), name
        failed = result.codes.notna()
        assert (result.values[failed].isna()).all(), name
        assert (result.errors.notna() == failed).all(), name


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10})?@[a-z0-9]{1,10}\.(com|org|de)",
                     fullmatch=True))
def test_generated_plain_addresses_are_valid_and_lower_case(address):
    value, code, _ = convert_one(normalize.email, address.upper())
    assert code is None
    assert value == address


def test_docs_list_the_truth_table():
    from pathlib import Path

    from mapping.normalize._boolean import FALSE_WORDS, TRUE_WORDS

    docs = Path(__file__).resolve().parent.parent / "docs" / "CONVERTERS.md"
    text = docs.read_text(encoding="utf-8")
    for language in TRUE_WORDS:
        true_words = ", ".join(f"`{word}`" for word in TRUE_WORDS[language])
        false_words = ", ".join(f"`{word}`" for word in FALSE_WORDS[language])
        assert f"| {true_words} | {false_words} |" in text, language
