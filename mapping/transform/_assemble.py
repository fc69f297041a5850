"""Build the JSON text of every user object column by column, with Arrow string kernels.

Instead of building a dict per row and serialising it, each mapped field becomes one column
of JSON fragments (``"firstName":"Ana"``, missing where the value is missing). The fragments
are joined per row and wrapped in ``{"email":...,"dataFields":{...}}``. Missing values are left
out of ``dataFields`` (Iterable would store a null). Dotted targets become nested objects.
The text is compact JSON (no spaces), UTF-8, non-ASCII characters kept as they are: exactly
what ``json.dumps(item, separators=(",", ":"), ensure_ascii=False)`` gives.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

Column = Union[pa.Array, pa.Scalar]
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_CONTROL = r"[\x00-\x1f]"
SAMPLE_ROWS = 10_000
# A column with fewer distinct values than this share of a sample is written per distinct value.
LOW_CARDINALITY_SHARE = 0.2


def json_key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def object_values(values: pd.Series) -> np.ndarray:
    """Return the values as an object array, without a copy when they already are objects."""
    if values.dtype == object:
        return values.to_numpy()  # None and NaN both read as null by Arrow and factorize
    return values.to_numpy(dtype=object, na_value=None)


class Literals:
    """The JSON literal of one field in every row, in the cheapest form for its values.

    Exactly one form is set: ``scalar`` (the same literal in every row), ``dictionary`` plus
    ``indices`` (one literal per distinct value, null index where missing), or ``array`` (a
    literal per row, null where missing). With ``quoted`` the array contains escaped string
    content and the quotes are added together with the member's key.
    """

    def __init__(self, *, scalar: str | None = None, dictionary: list[str] | None = None,
                 indices: pa.Array | None = None, array: pa.Array | None = None,
                 quoted: bool = False):
        self.scalar, self.dictionary, self.indices = scalar, dictionary, indices
        self.array, self.quoted = array, quoted

    def present_member(self, prefix: str) -> tuple[Column, np.ndarray | bool]:
        """'<prefix><literal>' per row with "" where missing, and where it is present."""
        if self.dictionary is not None and self.indices.null_count:
            present = self.indices.is_valid().to_numpy(zero_copy_only=False)
            members = pa.array([prefix + literal for literal in self.dictionary] + [""],
                               pa.string())
            return members.take(self.indices.fill_null(len(self.dictionary))), present
        member = self.member(prefix)
        if isinstance(member, pa.Scalar):
            return (member if member.is_valid else pa.scalar("")), member.is_valid
        if member.null_count == 0:
            return member, True
        return pc.fill_null(member, ""), member.is_valid().to_numpy(zero_copy_only=False)

    def member(self, prefix: str) -> Column:
        """Return '<prefix><literal>' per row (prefix is for example ',"city":')."""
        if self.scalar is not None:
            return pa.scalar(prefix + self.scalar)
        if self.dictionary is not None:
            members = pa.array([prefix + literal for literal in self.dictionary], pa.string())
            return members.take(self.indices)  # null where the index is null
        if self.quoted:
            return pc.binary_join_element_wise(prefix + '"', self.array, '"', "",
                                               null_handling="emit_null")
        return pc.binary_join_element_wise(prefix, self.array, "", null_handling="emit_null")


def escape_strings(values: pd.Series | np.ndarray | pa.Array) -> pa.Array:
    """Escape each text for use inside JSON quotes; null where missing."""
    if isinstance(values, pa.Array):
        texts = values
    else:
        if isinstance(values, pd.Series):
            values = object_values(values)
        texts = pa.array(values, type=pa.string(), from_pandas=True)
    if not pc.any(pc.match_substring_regex(texts, _NEEDS_ESCAPE)).as_py():
        return texts
    escaped = pc.replace_substring(texts, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    control = pc.fill_null(pc.match_substring_regex(texts, _CONTROL), False)
    if pc.any(control).as_py():
        # NOTE: rare path (tabs and line breaks inside values), so json.dumps does the work.
        originals = pc.filter(texts, control).to_pylist()
        fixed = pa.array([json.dumps(text, ensure_ascii=False)[1:-1] for text in originals],
                         pa.string())
        escaped = pc.replace_with_mask(escaped, control, fixed)
    return escaped


def _scalar_literal(value: Any, kind: str) -> str:
    if kind == "boolean":
        value = bool(value)
    elif kind == "long":
        value = int(value)
    elif kind == "double":
        value = float(value)  # json writes 5.0, so a new field is created as double
    return json.dumps(value, ensure_ascii=False)


def _few_distinct(objects: np.ndarray) -> bool:
    step = max(1, len(objects) // SAMPLE_ROWS)
    sample = objects[::step]  # spread over the frame: sorted exports repeat values locally
    distinct = len(pd.unique(sample))
    return distinct <= max(1, LOW_CARDINALITY_SHARE * len(sample))


def _distinct_literals(uniques: np.ndarray, kind: str) -> list[str]:
    if kind in ("string", "date"):
        escaped = escape_strings(np.asarray(uniques, dtype=object))
        quoted = pc.binary_join_element_wise('"', escaped, '"', "")
        return quoted.to_pylist()
    return [_scalar_literal(value, kind) for value in uniques]


def literal_values(values: pd.Series, kind: str) -> Literals:
    """Build the JSON literals of converted values of one Iterable type."""
    objects = object_values(values)
    if _few_distinct(objects):
        codes, uniques = pd.factorize(objects, use_na_sentinel=True)
        indices = pa.array(codes.astype(np.int32), mask=codes < 0, type=pa.int32())
        return Literals(dictionary=_distinct_literals(uniques, kind), indices=indices)
    if kind in ("string", "date"):
        return Literals(array=escape_strings(objects), quoted=True)
    if kind == "boolean":
        flags = pa.array(objects, type=pa.bool_(), from_pandas=True)
        return Literals(array=pc.if_else(flags, "true", "false"))
    if kind == "long":
        numbers = pa.array(objects, type=pa.int64(), from_pandas=True)
        return Literals(array=pc.cast(numbers, pa.string()))
    if kind == "double":
        return Literals(array=_double_literals(pa.array(objects, type=pa.float64(),
                                                        from_pandas=True)))
    raise ValueError(f"cannot write values of type {kind!r} as JSON")


def _double_literals(numbers: pa.Array) -> pa.Array:
    text = pc.cast(numbers, pa.string())
    # Keep a decimal point so a new field is created as double, not long ("5" -> "5.0").
    whole = pc.invert(pc.match_substring_regex(text, r"[.eE]"))
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def static_literal(value: Any) -> Literals:
    return Literals(scalar=json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _broadcast(value: Column, length: int) -> pa.Array:
    if isinstance(value, pa.Scalar):
        return pa.array([value.as_py()] * length, type=pa.string())
    return value


_COMMA_OR_NOTHING = pa.array([",", ""], type=pa.string())


def _commas(before: np.ndarray, present: np.ndarray | bool) -> pa.Array:
    """"," where a member is present after an earlier present one, else ""."""
    return _COMMA_OR_NOTHING.take(pa.array(np.where(before & present, 0, 1).astype(np.int8)))


def join_members(members: list[tuple[str, Literals]], length: int) -> pa.Array:
    """Join the present members of each row by commas: the inside of a JSON object.

    A member gets a comma in front when an earlier member of the same row is present. While
    some rows have no present member yet, that comma comes from a separate column of "," or
    "" per row. Once every row has one, the comma is written into the member's own text.
    """
    if not members:
        return pa.array([""] * length, type=pa.string())
    parts: list[Column] = []
    before = np.zeros(length, dtype=bool)  # some earlier member present
    everyone_before = False
    for position, (key, literals) in enumerate(members):
        prefix = ("," if everyone_before else "") + json_key(key) + ":"
        member, present = literals.present_member(prefix)
        if position > 0 and not everyone_before:
            parts.append(_commas(before, present))
        parts.append(member)
        if not everyone_before:
            before |= present
            everyone_before = bool(before.all())
    # The members are "" where missing, so "emit_null" gives the text of "replace", which
    # was up to five times slower in a measurement with pyarrow 26. NOTE: "skip" returned one
    # row too few there, so it is not used.
    return _broadcast(pc.binary_join_element_wise(*parts, "", null_handling="emit_null"),
                      length)


def object_members(members: dict[str, Literals], length: int) -> list[tuple[str, Literals]]:
    """(key, literals) pairs, with dotted keys gathered into nested object literals."""
    pairs: list[tuple[str, Literals | None]] = []
    groups: dict[str, dict[str, Literals]] = {}
    for key, literals in members.items():
        head, dot, rest = key.partition(".")
        if not dot:
            pairs.append((key, literals))
            continue
        if head not in groups:
            groups[head] = {}
            pairs.append((head, None))  # placeholder keeps the first position of the group
        groups[head][rest] = literals
    return [(key, _nested_literal(groups[key], length) if literals is None else literals)
            for key, literals in pairs]


def _nested_literal(children: dict[str, Literals], length: int) -> Literals:
    inner = join_members(object_members(children, length), length)
    # An object whose members are all missing is left out as a whole.
    wrapped = pc.binary_join_element_wise("{", inner, "}", "")
    present = pc.not_equal(inner, "")
    return Literals(array=pc.if_else(present, wrapped, pa.scalar(None, pa.string())))


def user_objects(identifier_key: str, identifier: pa.Array, members: dict[str, Literals],
                 keep: np.ndarray) -> pa.Array:
    """Build the JSON text of each user object, null where the identifier is missing or dropped.

    ``identifier`` contains escaped text (see escape_strings), and this adds the quotes.
    """
    length = len(identifier)
    data = join_members(object_members(members, length), length)
    head = "{" + json_key(identifier_key) + ':"'
    text = pc.binary_join_element_wise(
        head, identifier, '","dataFields":{', data, "}}", "", null_handling="emit_null"
    )
    if keep.all():
        return text
    return pc.if_else(pa.array(keep, type=pa.bool_()), text, pa.scalar(None, pa.string()))
