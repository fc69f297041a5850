"""Views of a TransformResult: JSON Lines records for the CLI, DataFrames for notebook and app."""

from __future__ import annotations

import logging
from typing import Any, Iterator

import pandas as pd

logger = logging.getLogger(__name__)


def _issues_by_row(issues: pd.DataFrame, rows: set[int] | None) -> dict[int, list[dict]]:
    if rows is not None:
        issues = issues[issues["row"].isin(rows)]
    grouped: dict[int, list[dict]] = {}
    for row, code, field, message in zip(issues["row"], issues["code"], issues["field"],
                                         issues["message"]):
        grouped.setdefault(int(row), []).append(
            {"code": code, "field": field, "message": message}
        )
    return grouped


def iter_preview_records(result, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield one record per input row: {"row": n, "item": object or None, "issues": [...]}."""
    count = len(result.row_numbers) if limit is None else min(limit, len(result.row_numbers))
    rows = result.row_numbers[:count]
    issues = _issues_by_row(result.issues, set(rows) if limit is not None else None)
    for position, row in enumerate(rows):
        yield {"row": row, "item": result.items[position], "issues": issues.get(row, [])}


def preview_records(result, limit: int | None = None) -> list[dict[str, Any]]:
    """Build the JSON Lines objects of ``python -m mapping preview`` (first ``limit`` rows)."""
    return list(iter_preview_records(result, limit))


def preview_frame(result, limit: int | None = None) -> pd.DataFrame:
    """Show the payload of the rows that would be sent: row number, then one column per field."""
    sendable = result.sendable.to_numpy(dtype=bool)
    frame = result.values.loc[sendable].copy()
    identifier = result.identifier
    ordered = [identifier] + [c for c in frame.columns if c != identifier]
    frame = frame[[c for c in ordered if c in frame.columns]]
    frame.insert(0, "row", pd.Series(result.row_numbers, index=result.sendable.index)[sendable])
    for target, value in result.statics.items():
        frame[target] = value
    frame = frame.reset_index(drop=True)
    return frame if limit is None else frame.head(limit)


def issues_frame(result, *, severity: str | None = None) -> pd.DataFrame:
    """Return the row issues sorted by row, optionally only one severity ("error", "warning")."""
    issues = result.issues
    if severity is not None:
        issues = issues[issues["severity"] == severity]
    return issues.reset_index(drop=True)


def warnings_frame(result) -> pd.DataFrame:
    """Mapping-level issues as a DataFrame (code, field, column, severity, message)."""
    records = [w.to_dict() for w in result.warnings]
    return pd.DataFrame(records, columns=["code", "field", "column", "severity", "message"])
