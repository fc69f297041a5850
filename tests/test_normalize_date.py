"""Date converter table: Iterable's formats from ISO 8601, Unix time and local formats."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping import normalize


def convert_one(value, **options):
    """(value, code, error) for one input."""
    result = normalize.date(pd.Series([value]), **options)
    return result.values.iat[0], result.codes.iat[0], result.errors.iat[0]


DATE_CASES = [
    # ISO 8601 and its everyday variants
    ("2024-03-25", {}, "2024-03-25"),
    ("2024-03-25 14:05", {}, "2024-03-25 14:05:00 +00:00"),
    ("2024-03-25 14:05:33", {}, "2024-03-25 14:05:33 +00:00"),
    ("2024-03-25T14:05:33", {}, "2024-03-25 14:05:33 +00:00"),
    ("2024-03-25T14:05:33.039Z", {}, "2024-03-25 14:05:33 +00:00"),
    ("2024-03-25T14:05:33Z", {}, "2024-03-25 14:05:33 +00:00"),
    ("2024-03-25 14:05:33 +00:00", {}, "2024-03-25 14:05:33 +00:00"),
    ("2024-03-25T14:05:33+02:00", {}, "2024-03-25 12:05:33 +00:00"),
    ("2024-03-25 14:05:00 +0100", {}, "2024-03-25 13:05:00 +00:00"),
    ("2024-03-25 14:05:00-05", {}, "2024-03-25 19:05:00 +00:00"),
    ("2024-03-25 14:05:00 -05:30", {}, "2024-03-25 19:35:00 +00:00"),
    ("2024-03-25 23:30 UTC", {}, "2024-03-25 23:30:00 +00:00"),
    ("2024-03-25T00:30:00+02:00", {}, "2024-03-24 22:30:00 +00:00"),
    ("2024/03/25", {}, "2024-03-25"),
    ("2024.03.25", {}, "2024-03-25"),
    ("20240325", {}, "2024-03-25"),
    ("  2024-03-25  ", {}, "2024-03-25"),
    # Unix time
    ("1711375533", {}, "2024-03-25 14:05:33 +00:00"),
    ("1711375533.9", {}, "2024-03-25 14:05:33 +00:00"),
    ("1711375533123", {}, "2024-03-25 14:05:33 +00:00"),
    # local formats with an explicit order
    ("25.03.2024", {"date_order": "DMY"}, "2024-03-25"),
    ("03.04.2024", {"date_order": "DMY"}, "2024-04-03"),
    ("03/04/2024", {"date_order": "MDY"}, "2024-03-04"),
    ("25/03/2024 14:05", {"date_order": "DMY"}, "2024-03-25 14:05:00 +00:00"),
    ("3/25/2024 2:05 PM", {"date_order": "MDY"}, "2024-03-25 14:05:00 +00:00"),
    ("3/25/2024 12:05 am", {"date_order": "MDY"}, "2024-03-25 00:05:00 +00:00"),
    ("25-03-24", {"date_order": "DMY"}, "2024-03-25"),
    ("01/02/99", {"date_order": "MDY"}, "1999-01-02"),
    ("24/03/25", {"date_order": "YMD"}, "2024-03-25"),
    ("2024-03-25", {"date_order": "MDY"}, "2024-03-25"),  # year-first is never reordered
    # no order set: parsed only when exactly one reading exists or both agree
    ("25/03/2024", {}, "2024-03-25"),
    ("03/25/2024", {}, "2024-03-25"),
    ("05/05/2024", {}, "2024-05-05"),
    # source time zone for naive values
    ("2024-03-25 14:05", {"timezone": "Europe/Berlin"}, "2024-03-25 13:05:00 +00:00"),
    ("2024-07-01 14:05", {"timezone": "Europe/Berlin"}, "2024-07-01 12:05:00 +00:00"),
    ("2024-03-25 14:05 +00:00", {"timezone": "Europe/Berlin"}, "2024-03-25 14:05:00 +00:00"),
    ("2024-03-25", {"timezone": "America/New_York"}, "2024-03-25"),
    ("25/03/2024 09:00", {"date_order": "DMY", "timezone": "Asia/Tokyo"},
     "2024-03-25 00:00:00 +00:00"),
]

INVALID_DATES = [
    ("31/02/2024", {"date_order": "DMY"}),
    ("2024-13-01", {}),
    ("2024-02-30", {}),
    ("2024-03-25 24:00", {}),
    ("2024-03-25 13:05 PM", {}),
    ("25/03/2024", {"date_order": "MDY"}),  # an explicit order is never overridden
    ("25/03-2024", {}),
    ("next tuesday", {}),
    ("17113755331", {}),                     # 11 digits: neither seconds nor milliseconds
    ("2024-03-31 02:30", {"timezone": "Europe/Berlin"}),   # skipped by the clock change
    ("2024-10-27 02:30", {"timezone": "Europe/Berlin"}),   # happens twice
]


@pytest.mark.parametrize(("raw", "options", "expected"), DATE_CASES)
def test_date(raw, options, expected):
    assert convert_one(raw, **options) == (expected, None, None)


@pytest.mark.parametrize(("raw", "options"), INVALID_DATES)
def test_invalid_date(raw, options):
    value, code, error = convert_one(raw, **options)
    assert (value, code) == (None, "invalid_date")
    assert f'"{raw}"' in error


@pytest.mark.parametrize("raw", ["03/04/2024", "01.02.2024", "12-11-24 10:00"])
def test_ambiguous_date_without_order_is_never_guessed(raw):
    value, code, error = convert_one(raw)
    assert (value, code) == (None, "ambiguous_date")
    assert "date_order" in error


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_missing_date(raw):
    assert convert_one(raw) == (None, None, None)


@pytest.mark.parametrize(("options", "message"), [
    ({"date_order": "DM"}, "Unknown date_order"),
    ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
])
def test_bad_date_options_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        normalize.date(pd.Series(["2024-01-01"]), **options)


def test_mixed_column_keeps_each_row_apart():
    values = ["2024-03-25", "03/04/2024", None, "25/03/2024 10:00", "x"]
    series = pd.Series(values, index=[5, 6, 7, 8, 9])
    result = normalize.date(series)
    assert result.values.tolist() == ["2024-03-25", None, None, "2024-03-25 10:00:00 +00:00", None]
    assert result.codes.tolist() == [None, "ambiguous_date", None, None, "invalid_date"]


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
                    max_value=pd.Timestamp("2200-12-31").to_pydatetime()))
def test_round_trip_of_iterable_format(moment):
    text = moment.strftime("%Y-%m-%d %H:%M:%S +00:00")
    assert convert_one(text)[0] == text
    day_first = moment.strftime("%d.%m.%Y %H:%M:%S")
    assert convert_one(day_first, date_order="DMY")[0] == text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["25/03/2024 08:00", "01/04/2024 09:30", None], "DMY"),
        (["03/25/2024", "04/01/2024"], "MDY"),
        (["01/02/2024", "03/04/2024"], None),  # every value reads both ways
        (["2024-03-25 08:00:00", "2024-04-01"], None),  # ISO needs no order
        ([None, None], None),
    ],
)
def test_infer_date_order(values, expected):
    assert normalize.infer_date_order(pd.Series(values, dtype="str")) == expected
