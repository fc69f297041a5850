"""Shared pieces of the converters: the result type and the unique-value plumbing.

Most converters (phone, boolean, date, numbers, country) work the same way: turn the input
into pandas strings, find the distinct non-missing values, convert each distinct value once
(vectorised where pandas can do it), and spread the outcome back over the rows with an index
lookup. Large exports repeat values a lot (countries, consent flags, dates), so this keeps the
work proportional to the distinct values. Email addresses are nearly all distinct and strings
are passed through, so those two converters work on the rows' Arrow array directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

# Characters people paste around values without seeing them: spaces, non-breaking spaces,
# zero-width spaces and joiners, the byte-order mark.
INVISIBLE_EDGE_CHARS = " \t\r\n\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
    "\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"


@dataclass
class ConversionResult:
    """Result of a converter, aligned with the input's index.

    values: the converted value per row (Python str, int, float or bool), None where the input
        was missing or could not be converted.
    errors: a message per row naming the value and what is wrong, None where the row is fine.
    codes: the stable issue code per row (for example "invalid_email"), None where fine.
    """

    values: pd.Series
    errors: pd.Series
    codes: pd.Series

    @property
    def failed(self) -> pd.Series:
        """True for rows that carry an issue code."""
        return self.codes.notna()


@dataclass
class UniqueOutcome:
    """Conversion outcome for each distinct input value (parallel numpy object arrays)."""

    values: np.ndarray
    codes: np.ndarray
    errors: np.ndarray

    @classmethod
    def empty(cls, size: int) -> UniqueOutcome:
        """Return an outcome of `size` entries with nothing converted and no issue yet."""
        return cls(
            values=np.full(size, None, dtype=object),
            codes=np.full(size, None, dtype=object),
            errors=np.full(size, None, dtype=object),
        )

    def flag(self, mask: np.ndarray, code: str, messages) -> None:
        """Mark the entries in `mask` as failed with `code` and the given message(s)."""
        self.values[mask] = None
        self.codes[mask] = code
        self.errors[mask] = messages


def as_text(series: pd.Series) -> pd.Series:
    """Return the input as pandas strings with missing values as NA, whatever its dtype was."""
    if not isinstance(series, pd.Series):
        series = pd.Series(series)
    if series.dtype == "str":
        return series
    return series.astype("str")


def strip_edges(text: pd.Series) -> pd.Series:
    """Remove spaces and invisible characters at both ends of each value."""
    trimmed = pc.utf8_trim(_arrow(text), characters=INVISIBLE_EDGE_CHARS)
    return pd.Series(trimmed, index=text.index, dtype="str")


def blank_to_missing(text: pd.Series) -> pd.Series:
    """Treat values that are empty after stripping invisible edges as missing."""
    return text.mask(strip_edges(text) == "")


def distinct(text: pd.Series) -> tuple[pd.Index, np.ndarray]:
    """Return the distinct non-missing values and each row's position among them (-1: missing)."""
    arrow = _arrow(text)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    encoded = pc.dictionary_encode(arrow)  # distinct values in order of first appearance
    uniques = pd.Index(pd.Series(encoded.dictionary, dtype="str"), dtype="str")
    positions = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    return uniques, positions


def spread(outcome: UniqueOutcome, positions: np.ndarray, index: pd.Index) -> ConversionResult:
    """Spread per-distinct-value outcomes back over the rows; missing rows get None."""

    def column(array: np.ndarray) -> pd.Series:
        padded = np.append(array, None)  # position -1 (missing) picks the trailing None
        return pd.Series(padded[positions], index=index, dtype=object)

    return ConversionResult(
        values=column(outcome.values), errors=column(outcome.errors), codes=column(outcome.codes)
    )


SAMPLE_ROWS = 10_000


def python_strings(text: pa.Array) -> np.ndarray:
    """Return an Arrow string array as a writable object array (None where missing).

    A column with few distinct values (countries, cities) gets one Python string per distinct
    value, shared by its rows, instead of one new string per row.
    """
    step = max(1, len(text) // SAMPLE_ROWS)
    sample = text[::step] if step > 1 else text
    if len(text) < SAMPLE_ROWS or len(pc.unique(sample)) > len(sample) // 5:
        return text.to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(text)
    uniques = np.append(encoded.dictionary.to_numpy(zero_copy_only=False), None)
    return uniques[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]


def _arrow(text: pd.Series) -> pa.Array:
    """Return the values as an Arrow string array (no copy for pandas' Arrow-backed strings)."""
    if text.dtype != "str":
        text = text.astype("str")
    return pa.array(text)


def full_matches(text: pd.Series, pattern: str) -> np.ndarray:
    """True where the whole value matches `pattern` (RE2 syntax, run by Arrow); False if missing.

    RE2 has no look-arounds or back-references; patterns here avoid them.
    """
    matched = pc.match_substring_regex(_arrow(text), f"^(?:{pattern})$")
    return matched.fill_null(False).to_numpy(zero_copy_only=False)


def contains(text: pd.Series, pattern: str) -> np.ndarray:
    """True where `pattern` (RE2 syntax) occurs in the value; False if missing."""
    found = pc.match_substring_regex(_arrow(text), pattern)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def extract(text: pd.Series, pattern: str) -> pd.DataFrame:
    """Named groups of `pattern` (RE2 syntax, anchored) as string columns.

    A value that does not match gives NA in every column; an optional group that did not take
    part in the match gives NA too.
    """
    groups = pc.extract_regex(_arrow(text), f"^(?:{pattern})$")
    columns = {}
    for position in range(groups.type.num_fields):
        part = pc.struct_field(groups, [position])
        part = pc.if_else(pc.equal(part, ""), pa.scalar(None, part.type), part)
        columns[groups.type.field(position).name] = pd.Series(part, index=text.index, dtype="str")
    return pd.DataFrame(columns, index=text.index, copy=False)


def remove_pattern(text: pd.Series, pattern: str) -> pd.Series:
    """Remove every occurrence of `pattern` (RE2 syntax) from each value."""
    removed = pc.replace_substring_regex(_arrow(text), pattern, "")
    return pd.Series(removed, index=text.index, dtype="str")


def quote(value: str, limit: int = 80) -> str:
    """Return a value shown in a message: quoted, and shortened when it is very long."""
    shown = value if len(value) <= limit else value[: limit - 1] + "\u2026"
    return f'"{shown}"'
