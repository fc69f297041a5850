"""apply(): turn a frame of raw submissions into the user objects Iterable would receive.

The work is column-wise. Each mapped column goes once through its mapping.normalize converter
(two columns at a time on two threads for large frames), and issues are collected as vectors.
Duplicates are resolved with a hash table, and Arrow string kernels assemble the JSON text of
every user object (see _assemble). ``items`` gives the objects as dicts on demand, parsed from
exactly the text that payload.batches sends.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mapping import normalize
from mapping.config import MappingConfig
from mapping.transform import _assemble
from mapping.transform._duplicates import DuplicatePlan, identifier_hashes, merge_into_kept
from mapping.transform._plan import FieldPlan, MappingIssue, RunPlan, build_plan

logger = logging.getLogger(__name__)

ISSUE_COLUMNS = ["row", "column", "field", "code", "value", "message", "severity"]
# Converter failures that mean "not a value of the field's existing type".
_TYPE_CODES = {"invalid_number", "invalid_boolean", "invalid_date"}
# Frames with at least this many rows convert their columns on CONVERTER_THREADS threads.
PARALLEL_ROWS = 50_000
CONVERTER_THREADS = min(2, os.cpu_count() or 1)


class Items(Sequence):
    """The user object of each input row (None where the row is not sent), list-like.

    Objects are parsed on access from the exact compact JSON text that payload.batches puts
    into the request body, so what a preview shows is what is sent. The texts stay in an Arrow
    array (``text_array``) until a caller asks for them as Python strings (``texts``).
    """

    def __init__(self, texts: pa.Array | Sequence[str | None],
                 identifiers: pa.Array | Sequence[str | None], sizes: Any = None):
        self._texts: list[str | None] | None = None
        self._identifiers: list[str | None] | None = None
        if isinstance(texts, pa.Array):
            self.text_array = texts
        else:
            self._texts = list(texts)
            self.text_array = pa.array(self._texts, type=pa.string())
        if isinstance(identifiers, pa.Array):
            self.identifier_array = identifiers
        else:
            self._identifiers = list(identifiers)
            self.identifier_array = pa.array(self._identifiers, type=pa.string())
        self._sizes = None if sizes is None else np.asarray(sizes, dtype=np.int64)

    @property
    def texts(self) -> list[str | None]:
        """The JSON text of each item (None where the row is not sent)."""
        if self._texts is None:
            self._texts = self.text_array.to_pylist()
        return self._texts

    @property
    def identifiers(self) -> list[str | None]:
        """The email or userId of each item (None where the row is not sent)."""
        if self._identifiers is None:
            self._identifiers = self.identifier_array.to_pylist()
        return self._identifiers

    @property
    def sizes(self) -> np.ndarray:
        """UTF-8 byte length of each text (0 where the row is not sent)."""
        if self._sizes is not None:
            return self._sizes
        lengths = pc.fill_null(pc.binary_length(self.text_array), 0)
        return lengths.to_numpy(zero_copy_only=False).astype(np.int64)

    def __len__(self) -> int:
        return len(self.text_array)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._parse(text) for text in self.text_array[index].to_pylist()]
        return self._parse(self.text_array[index].as_py())

    @staticmethod
    def _parse(text: str | None) -> dict | None:
        return None if text is None else json.loads(text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Items):
            return self.text_array.equals(other.text_array)
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Items({len(self)} rows, {self.text_array.null_count} not sent)"

    def to_list(self) -> list[dict | None]:
        return list(self)


@dataclass
class TransformResult:
    """Outcome of apply() for one frame (or one chunk of a file)."""

    items: Items
    row_numbers: list[int]
    issues: pd.DataFrame
    sendable: pd.Series
    new_fields: dict[str, str]
    warnings: list[MappingIssue]
    merged: int
    values: pd.DataFrame = field(repr=False)  # converted value per target, all rows
    identifier: str = "email"
    statics: dict[str, Any] = field(default_factory=dict)  # static fields, expanded
    timings: dict[str, float] = field(default_factory=dict, repr=False)  # seconds per step

    @property
    def sent_count(self) -> int:
        return int(self.sendable.sum())

    @property
    def blocked_count(self) -> int:
        """Rows kept out by a blocking issue (duplicates not counted)."""
        return int(len(self.sendable) - self.sendable.sum() - self.merged)

    @property
    def mapping_errors(self) -> list[MappingIssue]:
        return [w for w in self.warnings if w.severity == "error"]


class _Collector:
    """Gathers row issues as column vectors and marks blocked rows."""

    def __init__(self, row_numbers: np.ndarray):
        self.row_numbers = row_numbers
        self.blocked = np.zeros(len(row_numbers), dtype=bool)
        self.parts: list[pd.DataFrame] = []
        self.converter_failed: dict[str, np.ndarray] = {}  # target -> rows its converter failed

    def add(self, mask: np.ndarray, *, column: str | None, field: str, codes, values, messages,
            severity: str = "error") -> None:
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return
        if severity == "error":
            self.blocked[positions] = True
        self.parts.append(pd.DataFrame({
            "row": self.row_numbers[positions],
            "column": column,
            "field": field,
            "code": _pick(codes, positions),
            "value": _pick(values, positions),
            "message": _pick(messages, positions),
            "severity": severity,
        }))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({name: pd.Series(dtype="int64" if name == "row" else object)
                                 for name in ISSUE_COLUMNS})
        issues = pd.concat(self.parts, ignore_index=True)
        issues = issues.sort_values("row", kind="stable", ignore_index=True)
        return issues[ISSUE_COLUMNS]


def _pick(data, positions: np.ndarray):
    if isinstance(data, (pd.Series, np.ndarray)):
        if isinstance(data, pd.Series):
            array = data.to_numpy(dtype=object, na_value=None)
        else:
            array = data
        return array[positions]
    return data


# --------------------------------------------------------------------------- conversion


def convert(source: pd.Series, plan: FieldPlan):
    """Run the field's mapping.normalize converter over one column."""
    function = getattr(normalize, plan.converter)
    return function(source, **plan.converter_kwargs)


def identifier_keys(df: pd.DataFrame, config: MappingConfig) -> pd.Series:
    """Converted identifier per row (None where missing or invalid), for duplicate matching."""
    mapping = config.identifier_field()
    if mapping is None or mapping.source not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    plan = build_plan(df[[mapping.source]], config.model_copy(update={"fields": [mapping],
                                                                       "static_fields": []}),
                      None, None).fields[0]
    return convert(df[mapping.source], plan).values


def _convert_columns(df: pd.DataFrame, plans: list[FieldPlan], timings: dict[str, float]):
    """Run the converters of the present columns, on two threads for large frames.

    Much of a converter's time is spent in Arrow kernels, which release the GIL, so two
    columns can convert at the same time on two cores. Results come back in field order.
    """

    def run(plan: FieldPlan):
        started = time.perf_counter()
        return convert(df[plan.source], plan), time.perf_counter() - started

    if len(df) < PARALLEL_ROWS or len(plans) < 2 or CONVERTER_THREADS < 2:
        outcomes = [run(plan) for plan in plans]
    else:
        with ThreadPoolExecutor(max_workers=CONVERTER_THREADS) as pool:
            futures = [pool.submit(run, plan) for plan in plans]
            outcomes = [future.result() for future in futures]
    for plan, (_, seconds) in zip(plans, outcomes):
        timings[f"{plan.converter} {plan.target}"] = seconds
    return [result for result, _ in outcomes]


def _convert_field(df: pd.DataFrame, plan: FieldPlan, collector: _Collector,
                   result) -> pd.Series:
    source = df[plan.source]
    values = result.values
    codes = result.codes.to_numpy(dtype=object)
    failed = pd.notna(codes)
    if failed.any():
        messages = result.errors.to_numpy(dtype=object)
        if plan.type_source == "project" and plan.mapping.converter is None:
            codes, messages = _as_type_mismatch(plan, codes, messages, failed)
        collector.add(failed, column=plan.source, field=plan.target, codes=codes,
                      values=source, messages=messages)
    collector.converter_failed[plan.target] = failed
    if not plan.compatible:
        _reject_all(values, plan, collector, source)
    return values


def _as_type_mismatch(plan: FieldPlan, codes: np.ndarray, messages: np.ndarray,
                      failed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    recode = failed & np.isin(codes, list(_TYPE_CODES))
    if not recode.any():
        return codes, messages
    codes = codes.copy()
    messages = messages.copy()
    codes[recode] = "type_mismatch"
    prefix = f"{plan.target} is {plan.target_type} in the project: "
    messages[recode] = [prefix + str(m) for m in messages[recode]]
    return codes, messages


def _reject_all(values: pd.Series, plan: FieldPlan, collector: _Collector,
                source: pd.Series) -> None:
    present = values.notna().to_numpy(dtype=bool)
    collector.add(
        present, column=plan.source, field=plan.target, codes="type_mismatch", values=source,
        messages=f"{plan.target} expects {plan.target_type} values; the {plan.converter} "
                 f"converter gives {plan.output_type}",
    )


# --------------------------------------------------------------------------- apply


def apply(df: pd.DataFrame, config: MappingConfig, project_fields: dict[str, str] | None = None,
          *, row_offset: int = 0, context: dict | None = None,
          duplicates: DuplicatePlan | None = None) -> TransformResult:
    """Map, convert and validate ``df``; build the user object of every sendable row.

    row_offset: rows before this frame in the file (chunked reading), so row numbers stay
        1-based over the whole file.
    context: {"now": datetime, "source_file": name} for static field placeholders. When
        "now" is missing, apply() stores the current time in the dict, so the chunks of one
        run that share the dict expand {{now}} and {{today}} to the same value.
    duplicates: a plan from plan_duplicates() when the file is read in chunks; without it,
        duplicates are resolved within ``df``.
    """
    length = len(df)
    row_numbers = np.arange(row_offset + 1, row_offset + length + 1, dtype=np.int64)
    plan = build_plan(df, config, project_fields, context)
    collector = _Collector(row_numbers)
    values: dict[str, pd.Series] = {}
    timings: dict[str, float] = {}
    present = [field_plan for field_plan in plan.fields if field_plan.column_present]
    converted = _convert_columns(df, present, timings)
    for field_plan, result in zip(present, converted):
        values[field_plan.target] = _convert_field(df, field_plan, collector, result)
    _block_for_mapping_errors(plan, collector, length)

    identifier = values.get(config.identifier)
    if identifier is None:
        identifier = pd.Series([None] * length, index=df.index, dtype=object)
    _flag_missing_identifier(df, config, plan, identifier, collector)
    identifier_text = _text_or_none(identifier)
    keep, merged = _resolve_duplicates(df, config, plan, identifier, values, collector,
                                       duplicates, row_numbers, identifier_text)

    keep &= ~collector.blocked
    started = time.perf_counter()
    items = _build_items(config, plan, identifier, values, keep, identifier_text)
    timings["JSON assembly"] = time.perf_counter() - started
    logger.debug("applied mapping to %d rows: %d sendable, %d merged", length, keep.sum(), merged)
    return TransformResult(
        items=items,
        row_numbers=row_numbers.tolist(),
        issues=collector.frame(),
        sendable=pd.Series(keep, index=df.index, name="sendable"),
        new_fields=plan.new_fields,
        warnings=plan.issues,
        merged=merged,
        values=pd.DataFrame(values, index=df.index),
        identifier=config.identifier,
        statics={static.target: static.value for static in plan.statics},
        timings=timings,
    )


def _block_for_mapping_errors(plan: RunPlan, collector: _Collector, length: int) -> None:
    everyone = np.ones(length, dtype=bool)
    for issue in plan.issues:
        if issue.severity != "error" or issue.code == "missing_identifier":
            continue
        if issue.code == "type_mismatch" and issue.column is not None:
            continue  # reported per value by _reject_all
        collector.add(everyone, column=issue.column, field=issue.field, codes=issue.code,
                      values=None, messages=issue.message)


def _flag_missing_identifier(df: pd.DataFrame, config: MappingConfig, plan: RunPlan,
                             identifier: pd.Series, collector: _Collector) -> None:
    identifier_plan = plan.identifier_plan(config.identifier)
    source_name = identifier_plan.source if identifier_plan else None
    missing = identifier.isna().to_numpy(dtype=bool)
    failed = collector.converter_failed.get(config.identifier)
    if failed is not None:
        missing = missing & ~failed  # an invalid identifier already has its own issue
    raw = df[source_name] if source_name is not None and source_name in df.columns else None
    collector.add(
        missing, column=source_name, field=config.identifier, codes="missing_identifier",
        values=raw,
        messages=f"the row has no {config.identifier}, which identifies the user in Iterable; "
                 "it is not sent",
    )


def _resolve_duplicates(df, config, plan, identifier, values, collector, duplicates,
                        row_numbers, identifier_text=None) -> tuple[np.ndarray, int]:
    length = len(df)
    if duplicates is None and _all_distinct(identifier_text):
        return np.ones(length, dtype=bool), 0  # no identifier repeats: nothing to resolve
    valid = identifier.notna().to_numpy(dtype=bool)
    hashes = identifier_hashes(identifier)
    if duplicates is None:
        duplicates = DuplicatePlan.from_arrays(config.options.duplicates, hashes[valid],
                                               row_numbers[valid])
    elif duplicates.policy != config.options.duplicates:
        raise ValueError(
            f"the duplicate plan was made for policy {duplicates.policy!r} but the mapping "
            f"says {config.options.duplicates!r}; make the plan from the same mapping"
        )
    kept_rows = duplicates.kept_rows_for(hashes, valid)
    has_group = kept_rows > 0
    dropped = has_group & (kept_rows != row_numbers)
    kept_here = has_group & (kept_rows == row_numbers)
    if duplicates.policy == "merge":
        merge_into_kept(duplicates, values, hashes, dropped, kept_here)
    if dropped.any():
        _flag_duplicates(df, config, plan, kept_rows, dropped, collector)
    return np.ones(length, dtype=bool) & ~dropped, int(dropped.sum())


def _identifier_array(identifier: pd.Series) -> pa.Array:
    return pa.array(_assemble.object_values(identifier), type=pa.string(), from_pandas=True)


def _text_or_none(identifier: pd.Series) -> pa.Array | None:
    try:
        return _identifier_array(identifier)
    except (pa.ArrowException, TypeError):
        return None  # not all text (the JSON assembly reports it)


def _all_distinct(keys: pa.Array | None) -> bool:
    """True when no identifier occurs twice (counted exactly, by Arrow's hash table)."""
    if keys is None:
        return False  # let the hash-based plan decide
    distinct = pc.unique(keys)  # measured three times faster than count_distinct
    return len(distinct) - distinct.null_count == len(keys) - keys.null_count


_DUPLICATE_WORDS = {
    "last": "the later row {kept} is sent instead (duplicates: last)",
    "first": "the first row {kept} is sent instead (duplicates: first)",
    "merge": "its values are merged into row {kept}, which is sent (duplicates: merge)",
}


def _flag_duplicates(df, config, plan, kept_rows, dropped, collector) -> None:
    identifier_plan = plan.identifier_plan(config.identifier)
    positions = np.flatnonzero(dropped)
    words = _DUPLICATE_WORDS[config.options.duplicates]
    messages = np.empty(len(kept_rows), dtype=object)
    messages[positions] = [
        f"same {config.identifier} as row {kept}; " + words.format(kept=kept)
        for kept in kept_rows[positions]
    ]
    collector.add(dropped, column=identifier_plan.source, field=config.identifier,
                  codes="duplicate", values=df[identifier_plan.source], messages=messages,
                  severity="warning")


def _build_items(config: MappingConfig, plan: RunPlan, identifier: pd.Series,
                 values: dict[str, pd.Series], keep: np.ndarray,
                 identifier_text: pa.Array | None = None) -> Items:
    identifiers = _identifier_array(identifier) if identifier_text is None else identifier_text
    length = len(keep)
    if length < PARALLEL_ROWS or CONVERTER_THREADS < 2:
        texts = _item_texts(config, plan, values, keep, identifiers, 0, length)
    else:
        # Two halves on two threads, because Arrow kernels release the GIL. The text of a
        # row does not depend on other rows, so the joined halves equal the whole.
        middle = length // 2
        with ThreadPoolExecutor(max_workers=2) as pool:
            halves = [pool.submit(_item_texts, config, plan, values, keep, identifiers, start,
                                  stop) for start, stop in ((0, middle), (middle, length))]
            texts = pa.concat_arrays([half.result() for half in halves])
    if texts.null_count:
        identifiers = pc.if_else(pc.is_valid(texts), identifiers, pa.scalar(None, pa.string()))
    return Items(texts, identifiers)


def _item_texts(config: MappingConfig, plan: RunPlan, values: dict[str, pd.Series],
                keep: np.ndarray, identifiers: pa.Array, start: int, stop: int) -> pa.Array:
    """JSON text of the user objects of rows [start, stop)."""
    members: dict[str, _assemble.Literals] = {}
    for field_plan in plan.fields:
        if field_plan.target == config.identifier or field_plan.target not in values:
            continue
        kind = field_plan.output_type
        column = values[field_plan.target].iloc[start:stop]
        members[field_plan.target] = _assemble.literal_values(column, kind)
    for static in plan.statics:
        value = static.value
        is_whole = isinstance(value, int) and not isinstance(value, bool)
        if static.target_type == "double" and is_whole:
            value = float(value)  # "5.0", so a new field is created as double
        members[static.target] = _assemble.static_literal(value)
    escaped = _assemble.escape_strings(identifiers.slice(start, stop - start))
    return _assemble.user_objects(config.identifier, escaped, members, keep[start:stop])
