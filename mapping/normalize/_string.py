"""Strings: passed through unchanged, trimmed only when the mapping asks.

Iterable stores about 32k characters per value; longer values are an issue ("value_too_long")
rather than being cut, because cutting would change the value silently.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mapping.normalize._base import ConversionResult, as_text, strip_edges

logger = logging.getLogger(__name__)

MAX_STRING_LENGTH = 32_768


def string(series: pd.Series, trim: bool = False) -> ConversionResult:
    """Return the values as strings (trimmed if `trim`); empty values become missing."""
    text = as_text(series)
    if trim:
        text = strip_edges(text)
    text = text.mask(text == "")
    lengths = text.str.len().to_numpy(dtype=float, na_value=np.nan)
    too_long = lengths > MAX_STRING_LENGTH

    values = text.to_numpy(dtype=object, na_value=None)
    errors = np.full(len(values), None, dtype=object)
    codes = np.full(len(values), None, dtype=object)
    for position in np.flatnonzero(too_long):
        errors[position] = (
            f"The value is {int(lengths[position])} characters long; Iterable stores at most "
            f"{MAX_STRING_LENGTH} characters per field. Shorten it or leave the column out."
        )
    codes[too_long] = "value_too_long"
    values[too_long] = None
    index = series.index

    def column(array: np.ndarray) -> pd.Series:
        return pd.Series(array, index=index, dtype=object)

    return ConversionResult(values=column(values), errors=column(errors), codes=column(codes))
