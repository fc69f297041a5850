"""Whole numbers (Iterable `long`) and decimal numbers (`double`) from text.

The decimal separator is an option ("." or ","); thousands separators are not accepted, because
"1,234" could be either a thousand or one and a bit. A `long` accepts an optional sign, digits and
a fraction that is only zeros ("12.00" -> 12); it must fit in a signed 64-bit integer. A `double`
accepts an optional sign, digits with a fraction, and an exponent ("1.5e3"); infinity and NaN are
not numbers Iterable stores. Leading zeros are read as the number ("04101" -> 4101): the
transform warns when that would lose them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mapping.normalize._base import (
    ConversionResult,
    UniqueOutcome,
    as_text,
    blank_to_missing,
    distinct,
    full_matches,
    quote,
    spread,
    strip_edges,
)

logger = logging.getLogger(__name__)

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1
_LONG_PATTERN = r"[+-]?[0-9]+(?:\.0*)?"
_DOUBLE_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def _check_separator(decimal_separator: str) -> str:
    """Reject separators other than "." and "," with a clear message."""
    if decimal_separator not in (".", ","):
        raise ValueError(
            f"Unknown decimal separator {decimal_separator!r}: use \".\" or \",\"."
        )
    return decimal_separator


def _canonical(uniques: pd.Index, decimal_separator: str) -> pd.Series:
    """Stripped values with the decimal separator turned into a dot."""
    stripped = strip_edges(pd.Series(uniques, dtype="str"))
    if decimal_separator == ",":
        # A dot is not a decimal point in this file: make it fail the pattern.
        stripped = stripped.str.replace(".", "\x00", regex=False).str.replace(",", ".")
    return stripped


def _not_a_number(outcome: UniqueOutcome, uniques: pd.Index, mask: np.ndarray, kind: str,
                  decimal_separator: str) -> None:
    """Flag the masked entries as "invalid_number" with a message per value."""
    hint = f'digits with "{decimal_separator}" as the decimal separator, no thousands separators'
    for i in np.flatnonzero(mask):
        message = f"{quote(uniques[i])} is not a {kind} ({hint})."
        outcome.flag(np.array([i]), "invalid_number", message)


def long(series: pd.Series, decimal_separator: str = ".") -> ConversionResult:
    """Convert text to Python ints within the signed 64-bit range (Iterable `long`)."""
    _check_separator(decimal_separator)
    text = blank_to_missing(as_text(series))
    uniques, positions = distinct(text)
    canonical = _canonical(uniques, decimal_separator)
    matches = full_matches(canonical, _LONG_PATTERN)
    outcome = UniqueOutcome.empty(len(uniques))
    _not_a_number(outcome, uniques, ~matches, "whole number", decimal_separator)

    for i in np.flatnonzero(matches):
        number = int(canonical.iat[i].split(".")[0])
        if LONG_MIN <= number <= LONG_MAX:
            outcome.values[i] = number
        else:
            message = (
                f"{quote(uniques[i])} is too large for a whole-number field "
                f"(Iterable's long holds {LONG_MIN} to {LONG_MAX}); map it as a string."
            )
            outcome.flag(np.array([i]), "number_overflow", message)
    return spread(outcome, positions, series.index)


def double(series: pd.Series, decimal_separator: str = ".") -> ConversionResult:
    """Convert text to Python floats (Iterable `double`)."""
    _check_separator(decimal_separator)
    text = blank_to_missing(as_text(series))
    uniques, positions = distinct(text)
    canonical = _canonical(uniques, decimal_separator)
    matches = full_matches(canonical, _DOUBLE_PATTERN)
    outcome = UniqueOutcome.empty(len(uniques))
    _not_a_number(outcome, uniques, ~matches, "number", decimal_separator)

    numbers = pd.to_numeric(canonical.where(matches), errors="coerce").to_numpy(dtype=float)
    finite = matches & np.isfinite(numbers)
    outcome.values[finite] = [float(v) for v in numbers[finite]]
    for i in np.flatnonzero(matches & ~finite):
        message = f"{quote(uniques[i])} is too large for a decimal-number field (double)."
        outcome.flag(np.array([i]), "number_overflow", message)
    return spread(outcome, positions, series.index)
