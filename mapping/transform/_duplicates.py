"""Duplicate submissions: which row of each identifier is sent, and what is merged into it.

Rows are grouped by their converted identifier (emails are already lower-cased by the email
converter, so the match is case-insensitive; user ids match exactly). Only rows with a valid
identifier take part. The policy picks the kept row by position in the file:

- ``last`` (default): the last row of the group is sent, earlier ones are dropped;
- ``first``: the first row is sent, later ones are dropped;
- ``merge``: the last row is sent, and each of its missing fields is filled from the newest
  earlier row that has a value.

Position only decides: when the kept row has a blocking issue of its own, no row of the group
is sent (the earlier rows are older data, sending them instead would be a silent guess).

A plan can span chunks: ``plan_duplicates`` reads every chunk's identifier column first, then
``apply(chunk, ..., duplicates=plan)`` is called for each chunk in order. Values of dropped rows
are kept in the plan until their kept row arrives (merge policy only). Identifiers are matched
by a 64-bit hash, so memory stays small. The chance that two different identifiers collide
is about one in ten million at two million rows (n squared over 2 to the 65th).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def identifier_hashes(keys: pd.Series) -> np.ndarray:
    """uint64 hash per identifier (the value of missing ones is meaningless)."""
    text = keys.astype(object).where(keys.notna(), "")
    return pd.util.hash_pandas_object(text, index=False).to_numpy(dtype=np.uint64)


@dataclass
class DuplicatePlan:
    """Kept row per duplicated identifier, plus values waiting to be merged."""

    policy: str
    kept: pd.Series  # index: identifier hash (uint64), value: kept row number
    group_sizes: pd.Series
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, policy: str, hashes: np.ndarray, rows: np.ndarray) -> "DuplicatePlan":
        frame = pd.DataFrame({"hash": hashes, "row": rows})
        repeated = frame[frame["hash"].duplicated(keep=False)]
        grouped = repeated.groupby("hash", sort=False)["row"]
        kept = grouped.min() if policy == "first" else grouped.max()
        plan = cls(policy=policy, kept=kept.astype(np.int64), group_sizes=grouped.size())
        logger.debug("duplicate plan: %d identifiers appear more than once", len(kept))
        return plan

    @property
    def duplicate_rows(self) -> int:
        """How many rows the policy drops in total."""
        return int((self.group_sizes - 1).sum())

    def kept_rows_for(self, hashes: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Kept row number per row (0 where the row has no duplicate)."""
        if self.kept.empty:
            return np.zeros(len(hashes), dtype=np.int64)
        found = self.kept.reindex(hashes).to_numpy(dtype="float64", na_value=0.0)
        return np.where(valid, found, 0).astype(np.int64)


def plan_duplicates(chunks: Iterable[pd.DataFrame], config, *, identifiers=None) -> DuplicatePlan:
    """First pass over all chunks (in order): find identifiers that occur more than once.

    Only the identifier column is converted, so this costs a small part of a full apply().
    Pass the same chunks, in the same order, to ``apply(..., duplicates=plan)`` afterwards.
    """
    from mapping.transform._apply import identifier_keys

    all_hashes: list[np.ndarray] = []
    all_rows: list[np.ndarray] = []
    offset = 0
    for chunk in chunks:
        keys = identifier_keys(chunk, config)
        valid = keys.notna().to_numpy()
        rows = np.arange(offset + 1, offset + len(chunk) + 1, dtype=np.int64)
        all_hashes.append(identifier_hashes(keys)[valid])
        all_rows.append(rows[valid])
        offset += len(chunk)
    hashes = np.concatenate(all_hashes) if all_hashes else np.zeros(0, dtype=np.uint64)
    rows = np.concatenate(all_rows) if all_rows else np.zeros(0, dtype=np.int64)
    return DuplicatePlan.from_arrays(config.options.duplicates, hashes, rows)


def merge_into_kept(plan: DuplicatePlan, values: dict[str, pd.Series], hashes: np.ndarray,
                    dropped: np.ndarray, kept_here: np.ndarray) -> None:
    """Policy merge: fill missing values of kept rows from their dropped rows (in place)."""
    if dropped.any():
        _remember_dropped(plan, values, hashes, dropped)
    for position in np.flatnonzero(kept_here):
        waiting = plan.pending.pop(int(hashes[position]), None)
        if not waiting:
            continue
        for target, value in waiting.items():
            series = values[target]
            if pd.isna(series.iat[position]):
                series.iat[position] = value


def _remember_dropped(plan: DuplicatePlan, values: dict[str, pd.Series], hashes: np.ndarray,
                      dropped: np.ndarray) -> None:
    positions = np.flatnonzero(dropped)
    frame = pd.DataFrame({
        target: series.iloc[positions].astype(object).to_numpy()
        for target, series in values.items()
    })
    frame["__hash"] = hashes[positions]
    newest = frame.groupby("__hash", sort=False).last()
    for key, row in zip(newest.index, newest.to_dict("records")):
        known = plan.pending.setdefault(int(key), {})
        known.update({target: value for target, value in row.items() if not pd.isna(value)})
