"""Dates and times to Iterable's formats: `YYYY-MM-DD HH:MM:SS +00:00`, or `YYYY-MM-DD`.

Accepted input (surrounding spaces ignored):
- ISO 8601 and its everyday variants: `2024-03-25`, `2024-03-25 14:05`, `2024-03-25T14:05:33`,
  with optional fractions of a second and an optional zone (`Z`, `UTC`, `GMT`, `+02:00`, `+0200`,
  `+02`); also year-first with `/` or `.` (`2024/03/25`) and the compact `20240325`;
- local formats with the day and month in either order: `25.03.2024`, `03/25/2024 2:05 PM`,
  `25-03-24 14:05` (two-digit years: 00-68 -> 20xx, 69-99 -> 19xx, as strptime does);
- Unix time: 9-10 digits are seconds (optionally with a fraction), 12-13 digits milliseconds.

Day or month first: `date_order` ("DMY", "MDY", or "YMD" for two-digit year-first values)
decides. Without it, a value is parsed only when exactly one reading is a real date (25/03/2024
can only be 25 March) or both readings are the same day (05/05/2024). Any other value is
"ambiguous_date", and nothing is guessed. With `date_order` set, a value that is not a date in
that order is "invalid_date".

Time zones: values with a zone or offset are converted to UTC. Values without one are read in
`timezone` (an IANA name such as "Europe/Berlin"; default UTC); a local time that does not exist
or happens twice at a daylight-saving change is "invalid_date". Date-only values stay date-only.
Fractions of a second are dropped: Iterable's format has whole seconds.
"""

from __future__ import annotations

import logging
import zoneinfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mapping.normalize._base import (
    ConversionResult,
    UniqueOutcome,
    as_text,
    blank_to_missing,
    contains,
    distinct,
    extract,
    quote,
    spread,
    strip_edges,
)

logger = logging.getLogger(__name__)

DATE_ORDERS = ("DMY", "MDY", "YMD")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S +00:00"
DATE_FORMAT = "%Y-%m-%d"
MOMENT_DTYPE = "datetime64[s]"  # whole seconds, years 1 to 9999

_ZONE = r"(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
_TIME = (
    r"(?:(?:[Tt]|,?\s+)(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)
SEPARATED_PATTERN = (
    rf"(?P<first>\d{{1,4}})(?P<sep>[-/.])(?P<second_part>\d{{1,2}})(?P<sep2>[-/.])"
    rf"(?P<third>\d{{1,4}})\.?{_TIME}\s*{_ZONE}?"
)
DIGITS_PATTERN = r"(?P<whole>\d{8,13})(?P<fraction>\.\d+)?"
OFFSET_PATTERN = r"(?P<sign>[+-])(?P<hours>\d{2})(?P<minutes>\d{2})?"


def _check_options(date_order: str | None, timezone: str | None) -> zoneinfo.ZoneInfo | None:
    """Reject unknown orders and zones with a message that names the accepted values."""
    if date_order is not None and date_order not in DATE_ORDERS:
        raise ValueError(f"Unknown date_order {date_order!r}: use DMY, MDY or YMD.")
    if timezone in (None, "", "UTC"):
        return None
    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"Unknown time zone {timezone!r}: use an IANA name such as Europe/Berlin."
        ) from exc


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return a column of digits from the regex match as floats (NaN where absent)."""
    as_float = pc.cast(pa.array(frame[column]), pa.float64())
    return pd.Series(as_float.to_numpy(zero_copy_only=False), index=frame.index)


def _full_year(year: pd.Series, text: pd.Series) -> pd.Series:
    """Four-digit years from two-digit ones (00-68 -> 2000s, 69-99 -> 1900s)."""
    short = text.str.len() <= 2
    pivot = np.where(year < 69, 2000, 1900)
    return year.where(~short, year + pivot)


def _timestamps(year, month, day, hour, minute, second) -> pd.Series:
    """Naive timestamps from parts; NaT where the parts are not a real moment."""
    parts = pd.DataFrame(
        {"year": year, "month": month, "day": day, "hour": hour, "minute": minute,
         "second": second}
    )
    bad = parts.isna().any(axis=1) | (parts["hour"] > 23) | (parts["minute"] > 59)
    bad |= parts["second"] > 59
    bad |= (parts["year"] < 1) | (parts["year"] > 9999)
    result = pd.Series(pd.NaT, index=parts.index, dtype=MOMENT_DTYPE)
    good = parts[~bad].astype("int64")
    if len(good):
        result[~bad] = pd.to_datetime(good, errors="coerce").astype(MOMENT_DTYPE)
    return result


def _clock(match: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Hour (with AM/PM applied), minute and second of the matches; 0 where there is no time."""
    hour = _numbers(match, "hour")
    ampm = match["ampm"].str.lower().str.replace(".", "", regex=False)
    twelve = ampm.notna()
    hour = hour.mask(twelve & ((hour < 1) | (hour > 12)), np.nan)
    hour = hour.mask(twelve & (ampm == "am") & (hour == 12), 0)
    hour = hour.mask(twelve & (ampm == "pm") & (hour < 12), hour + 12)
    has_time = match["hour"].notna()
    hour = hour.where(has_time, 0)
    minute = _numbers(match, "minute").where(has_time, 0)
    second = _numbers(match, "second").fillna(0).where(has_time, 0)
    return hour, minute, second


def _offset_minutes(zone: pd.Series) -> pd.Series:
    """Minutes east of UTC for each zone text (0 for Z/UTC/GMT), NaN where there is none."""
    if zone.isna().all():
        return pd.Series(np.nan, index=zone.index)
    upper = zone.str.upper()
    utc_words = upper.isin(["Z", "UTC", "GMT"])
    digits = extract(zone.str.replace(":", "", regex=False), OFFSET_PATTERN)
    sign = digits["sign"].map({"+": 1, "-": -1}).astype(float)
    hours = pd.to_numeric(digits["hours"])
    minutes = sign * (hours * 60 + pd.to_numeric(digits["minutes"]).fillna(0))
    return minutes.mask(utc_words, 0)


class _Reading:
    """The parts of every separated value (first/second/third number, time, zone)."""

    def __init__(self, text: pd.Series):
        self.match = extract(text, SEPARATED_PATTERN)
        self.matched = self.match["first"].notna() & (self.match["sep"] == self.match["sep2"])
        self.first = _numbers(self.match, "first")
        self.second = _numbers(self.match, "second_part")
        self.third = _numbers(self.match, "third")
        self.year_first = self.match["first"].str.len() == 4
        self.hour, self.minute, self.clock_second = _clock(self.match)
        self.has_time = self.match["hour"].notna()
        self.offset = _offset_minutes(self.match["zone"])

    def moments(self, year, month, day) -> pd.Series:
        """Naive timestamps for one assignment of the parts to year, month and day."""
        return _timestamps(year, month, day, self.hour, self.minute, self.clock_second)

    def year_first_moments(self, two_digit: bool) -> pd.Series:
        """Year, month, day in that order (four-digit year, or two-digit when asked)."""
        year = _full_year(self.first, self.match["first"]) if two_digit else self.first
        return self.moments(year, self.second, self.third)

    def day_first_moments(self) -> pd.Series:
        """Day, month, year."""
        return self.moments(_full_year(self.third, self.match["third"]), self.second, self.first)

    def month_first_moments(self) -> pd.Series:
        """Month, day, year."""
        return self.moments(_full_year(self.third, self.match["third"]), self.first, self.second)


def _separated(text: pd.Series, date_order: str | None):
    """Naive timestamps, ambiguity flags and reading objects for separated date values."""
    reading = _Reading(text)
    short_third = reading.match["third"].str.len().isin([2, 4])
    no_ambiguity = pd.Series(False, index=text.index)

    if date_order == "DMY":
        chosen, ambiguous = reading.day_first_moments().where(short_third), no_ambiguity
    elif date_order == "MDY":
        chosen, ambiguous = reading.month_first_moments().where(short_third), no_ambiguity
    elif date_order == "YMD":
        chosen, ambiguous = reading.year_first_moments(two_digit=True), no_ambiguity
    else:
        day_first = reading.day_first_moments().where(short_third)
        month_first = reading.month_first_moments().where(short_third)
        chosen = day_first.fillna(month_first)
        both_valid = day_first.notna() & month_first.notna() & (day_first != month_first)
        ambiguous = (both_valid & ~reading.year_first).fillna(False)

    four_digit_year_first = reading.year_first & (reading.match["third"].str.len() <= 2)
    if four_digit_year_first.any():
        chosen = chosen.mask(four_digit_year_first, reading.year_first_moments(two_digit=False))
    chosen = chosen.mask(reading.year_first & ~four_digit_year_first, pd.NaT)
    return chosen.where(reading.matched), ambiguous, reading


def _from_digits(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Timestamps (UTC, naive) and date-only flags for compact dates and Unix times."""
    result = pd.Series(pd.NaT, index=text.index, dtype=MOMENT_DTYPE)
    if not contains(text, r"^\d{8}").any():
        return result, pd.Series(False, index=text.index)
    parts = extract(text, DIGITS_PATTERN)
    whole, fraction = parts["whole"], parts["fraction"]
    length = whole.str.len().to_numpy(dtype=float, na_value=np.nan)
    plain = fraction.isna().to_numpy()
    number = pd.to_numeric(whole.str.cat(fraction.fillna(""), na_rep=""), errors="coerce")

    def store(mask: pd.Series, moments: pd.Series) -> None:
        result[mask] = moments.dt.floor("s").astype(MOMENT_DTYPE)

    compact = (length == 8) & plain
    store(compact, pd.to_datetime(whole[compact], format="%Y%m%d", errors="coerce"))
    seconds = (length == 9) | (length == 10)
    store(seconds, pd.to_datetime(number[seconds], unit="s", errors="coerce"))
    millis = ((length == 12) | (length == 13)) & plain
    store(millis, pd.to_datetime(number[millis], unit="ms", errors="coerce"))
    return result, pd.Series(compact, index=text.index)


def _to_utc(naive: pd.Series, offset: pd.Series, zone: zoneinfo.ZoneInfo | None) -> pd.Series:
    """Naive local timestamps to naive UTC: by their own offset, else by `zone`."""
    has_offset = offset.notna()
    shifted = naive - pd.to_timedelta(offset.fillna(0), unit="min")
    if zone is None:
        return shifted
    local = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    in_utc = local.dt.tz_convert("UTC").dt.tz_localize(None)
    return shifted.where(has_offset, in_utc)


def _format(moments: pd.Series) -> tuple[pa.Array, pa.Array]:
    """Iterable's date-time text and date-only text for naive UTC moments (NaT -> "NaT")."""
    iso = pa.array(np.datetime_as_string(moments.to_numpy(dtype=MOMENT_DTYPE), unit="s"))
    with_time = pc.binary_join_element_wise(pc.replace_substring(iso, "T", " "), " +00:00", "")
    return with_time, pc.utf8_slice_codeunits(iso, 0, 10)


def _messages(uniques: pd.Index, mask: np.ndarray, problem: str) -> list[str]:
    """Return one message per flagged value."""
    return [f"{quote(value)} {problem}" for value in uniques[mask]]


def date(series: pd.Series, date_order: str | None = None,
         timezone: str | None = None) -> ConversionResult:
    """Convert dates and times to Iterable's date formats (see the module docstring)."""
    zone = _check_options(date_order, timezone)
    text = blank_to_missing(as_text(series))
    uniques, positions = distinct(text)
    values = strip_edges(pd.Series(uniques, dtype="str"))

    separated, ambiguous, reading = _separated(values, date_order)
    from_digits, compact = _from_digits(values)
    date_only = (reading.matched & ~reading.has_time & reading.offset.isna()) | compact
    utc = _to_utc(separated, reading.offset, zone).where(reading.matched, from_digits)

    local_dates = separated.fillna(from_digits)
    only_dates = date_only.to_numpy(dtype=bool)
    formatted = _format(utc)[0].to_numpy(zero_copy_only=False)
    if only_dates.any():
        date_text = _format(local_dates)[1].to_numpy(zero_copy_only=False)
        formatted = np.where(only_dates, date_text, formatted)
    outcome = UniqueOutcome.empty(len(uniques))
    parsed = (~date_only & utc.notna()) | (date_only & local_dates.notna())
    parsed = parsed.to_numpy(dtype=bool) & ~ambiguous.to_numpy(dtype=bool)
    outcome.values[parsed] = formatted[parsed]

    ambiguous_mask = ambiguous.to_numpy(dtype=bool)
    outcome.flag(ambiguous_mask, "ambiguous_date", _messages(
        uniques, ambiguous_mask, "could be read day-first or month-first; set date_order "
        "(DMY or MDY) in the mapping."))
    invalid = ~parsed & ~ambiguous_mask
    order_hint = f" in {date_order} order" if date_order else ""
    zone_hint = f" (times read in {timezone})" if zone is not None else ""
    outcome.flag(invalid, "invalid_date", _messages(
        uniques, invalid, f"is not a date{order_hint}{zone_hint}; use ISO 8601 such as "
        "2024-03-25 14:05:00 or set date_order for local formats."))
    return spread(outcome, positions, series.index)


def infer_date_order(series: pd.Series, sample_size: int = 5_000) -> str | None:
    """Return "DMY" or "MDY" when the column's values fit one order and not the other, else None.

    A column of slash or dot dates where some day is above 12 reads only one way. When every
    value reads both ways (all days up to 12), or none needs an order (ISO dates, epochs), the
    result is None and the analyst must choose. Only the first `sample_size` distinct values
    are tried.
    """
    values = series.dropna().drop_duplicates().head(sample_size)
    if values.empty:
        return None
    failures = {}
    for order in ("DMY", "MDY"):
        codes = date(values.reset_index(drop=True), date_order=order).codes
        failures[order] = int(codes.notna().sum())
    if failures["DMY"] == 0 and failures["MDY"] > 0:
        return "DMY"
    if failures["MDY"] == 0 and failures["DMY"] > 0:
        return "MDY"
    return None
