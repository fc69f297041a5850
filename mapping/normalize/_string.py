"""Strings: passed through unchanged, trimmed only when the mapping asks.

Iterable stores about 32k characters per value; longer values are an issue ("value_too_long")
rather than being cut, because cutting would change the value silently.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mapping.normalize._base import (
    INVISIBLE_EDGE_CHARS,
    ConversionResult,
    as_text,
    python_strings,
)

logger = logging.getLogger(__name__)

MAX_STRING_LENGTH = 32_768


def string(series: pd.Series, trim: bool = False) -> ConversionResult:
    """Return the values as strings (trimmed if `trim`); empty values become missing."""
    text = pa.array(as_text(series))
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if trim:
        text = pc.utf8_trim(text, characters=INVISIBLE_EDGE_CHARS)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    lengths = pc.utf8_length(text).fill_null(0).to_numpy(zero_copy_only=False)
    too_long = lengths > MAX_STRING_LENGTH

    values = python_strings(text)
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
