"""Number converter tables: Iterable long (64-bit integer) and double."""

from __future__ import annotations

import pandas as pd
import pytest

from mapping import normalize


def convert_one(converter, value, **options):
    """(value, code) for one input."""
    result = converter(pd.Series([value]), **options)
    return result.values.iat[0], result.codes.iat[0]


@pytest.mark.parametrize(("raw", "separator", "expected"), [
    ("42", ".", 42), ("-7", ".", -7), ("+7", ".", 7), (" 12 ", ".", 12), ("04101", ".", 4101),
    ("12.00", ".", 12), ("12,0", ",", 12), ("0", ".", 0),
    ("9223372036854775807", ".", 9223372036854775807),
    ("-9223372036854775808", ".", -9223372036854775808),
])
def test_long(raw, separator, expected):
    value, code = convert_one(normalize.long, raw, decimal_separator=separator)
    assert code is None
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(("raw", "separator", "code"), [
    ("9223372036854775808", ".", "number_overflow"),
    ("-9223372036854775809", ".", "number_overflow"),
    ("1" * 40, ".", "number_overflow"),
    ("12.5", ".", "invalid_number"),
    ("1,234", ".", "invalid_number"),
    ("1.234", ",", "invalid_number"),
    ("1e3", ".", "invalid_number"),
    ("abc", ".", "invalid_number"),
    ("1 000", ".", "invalid_number"),
    ("--1", ".", "invalid_number"),
    ("0x10", ".", "invalid_number"),
])
def test_long_issues(raw, separator, code):
    assert convert_one(normalize.long, raw, decimal_separator=separator) == (None, code)


@pytest.mark.parametrize(("raw", "separator", "expected"), [
    ("3.14", ".", 3.14), ("3,14", ",", 3.14), ("-0.5", ".", -0.5), (".5", ".", 0.5),
    ("5.", ".", 5.0), ("1e3", ".", 1000.0), ("2.5E-3", ".", 0.0025), ("04101", ".", 4101.0),
    ("  7 ", ".", 7.0),
])
def test_double(raw, separator, expected):
    value, code = convert_one(normalize.double, raw, decimal_separator=separator)
    assert code is None
    assert value == pytest.approx(expected)
    assert type(value) is float


@pytest.mark.parametrize(("raw", "separator", "code"), [
    ("1e400", ".", "number_overflow"),
    ("inf", ".", "invalid_number"),
    ("NaN", ".", "invalid_number"),
    ("3,14", ".", "invalid_number"),
    ("3.14", ",", "invalid_number"),
    ("1,234.5", ".", "invalid_number"),
    ("", ".", None),
])
def test_double_issues(raw, separator, code):
    assert convert_one(normalize.double, raw, decimal_separator=separator) == (None, code)


@pytest.mark.parametrize("converter", [normalize.long, normalize.double])
def test_unknown_separator_rejected(converter):
    with pytest.raises(ValueError, match="Unknown decimal separator"):
        converter(pd.Series(["1"]), decimal_separator=";")


def test_error_message_names_value_and_separator():
    result = normalize.long(pd.Series(["12,5"]))
    message = result.errors.iat[0]
    assert '"12,5"' in message
    assert '"."' in message
