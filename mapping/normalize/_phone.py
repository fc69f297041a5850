"""Phone numbers to E.164 (`+4915123456789`) with the `phonenumbers` library.

Numbers written with a country code (`+49 ...`, or the region's international prefix such as
`0049 ...` when a region is given) are read as they are; national numbers (`0151 ...`) need the
default region of the mapping (`phone_region`, for example "DE"). The national trunk prefix and
leading zeros that belong to the number (Italian landlines) are handled by the library, never
stripped by hand. Numbers the library does not consider valid are issues, not guesses.

Plain-digit numbers go through a vectorised shortcut (`_phone_fast.py`) that applies the same
rules to many numbers at once; every number it cannot decide is parsed by the library.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers

from mapping.normalize._base import (
    ConversionResult,
    UniqueOutcome,
    as_text,
    blank_to_missing,
    distinct,
    quote,
    remove_pattern,
    spread,
    strip_edges,
)
from mapping.normalize._phone_fast import fast_e164

logger = logging.getLogger(__name__)

# Separators people type inside numbers; removing them first makes more values identical.
SEPARATOR_PATTERN = "[\\s\u00a0\u2007\u202f\\-./()\u2010-\u2015]"


@lru_cache(maxsize=200_000)
def _parse(compact: str, region: str | None) -> tuple[str | None, str | None]:
    """(E.164 number, None) or (None, reason) for one separator-free number."""
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            if region is None and not compact.startswith("+"):
                return None, "it has no country code; set a default phone region (e.g. DE)"
            return None, "its country code is unknown"
        return None, "it is not a phone number"
    if not phonenumbers.is_valid_number(number):
        if compact.startswith("+"):
            return None, f"it is not a valid number for country code +{number.country_code}"
        return None, f"it is not a valid number in {region}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _check_region(region: str | None) -> str | None:
    """Upper-case the region and reject unknown ones with a clear message."""
    if region is None or region == "":
        return None
    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"Unknown phone region {region!r}: use an ISO 3166 alpha-2 code such as DE or US."
        )
    return region


def phone(series: pd.Series, region: str | None = None) -> ConversionResult:
    """Convert phone numbers to E.164; numbers without a country code use `region`.

    Missing or blank values give None with no issue; invalid numbers give "invalid_phone".
    """
    region = _check_region(region)
    text = blank_to_missing(as_text(series))
    uniques, positions = distinct(text)
    compact = remove_pattern(strip_edges(pd.Series(uniques, dtype="str")), SEPARATOR_PATTERN)
    outcome = UniqueOutcome.empty(len(uniques))
    outcome.values[:] = fast_e164(compact, region)
    undecided = np.flatnonzero(pd.isna(outcome.values))
    for i, value in zip(undecided, compact.iloc[undecided]):
        e164, reason = _parse(value, region)
        if e164 is not None:
            outcome.values[i] = e164
        else:
            message = f"{quote(uniques[i])} is not a valid phone number: {reason}."
            outcome.flag(np.array([i]), "invalid_phone", message)
    return spread(outcome, positions, series.index)
