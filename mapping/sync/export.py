"""Export the rows of a run that were not sent, with their status and reason, as CSV.

The report contains the analyst's own columns, read again from the run's input file, then the
row's number in that file, its status, reason code and message, and nothing else. Cells that a spreadsheet would run as a
formula (starting with =, +, -, @, a tab or a carriage return) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mapping.sync.journal import FAILED, REJECTED, SKIPPED, Journal
from mapping.sync.source import SyncConfigError, describe_input, iter_frames

logger = logging.getLogger(__name__)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_STATUSES = (FAILED, REJECTED, SKIPPED)
EXPORT_CHUNK_ROWS = 50_000


def escape_cell(value: Any) -> str:
    """Return the cell as text, with an apostrophe in front when a spreadsheet would run it."""
    text = "" if _is_missing(value) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def export_rows(
    journal: Journal,
    run_id: str,
    destination: str | os.PathLike,
    *,
    statuses: Iterable[str] = DEFAULT_STATUSES,
    input_path: str | os.PathLike | None = None,
) -> int:
    """Write the run's rows with these statuses to a CSV file; returns how many were written."""
    run = journal.get_run(run_id)
    selected = {record.row: record for record in journal.rows(run_id, list(statuses))}
    source = describe_input(input_path or run.input_path)
    if source.sha256 != run.input_sha256:
        raise SyncConfigError(
            f"the input file {source.path} changed since run {run_id} read it, so its rows "
            "cannot be matched by number; pass the original file with --input"
        )
    written = 0
    destination = Path(destination)
    with destination.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        header_written = False
        row_offset = 0
        for frame in iter_frames(source.path, run.input_options, EXPORT_CHUNK_ROWS):
            columns = [str(column) for column in frame.columns]
            if not header_written:
                writer.writerow([escape_cell(c) for c in columns + _extra_columns(columns)])
                header_written = True
            for position, values in enumerate(frame.itertuples(index=False, name=None)):
                record = selected.get(row_offset + position + 1)
                if record is None:
                    continue
                cells = [escape_cell(value) for value in values]
                writer.writerow(cells + [
                    str(record.row), record.status, escape_cell(record.reason),
                    escape_cell(record.message or ""),
                ])
                written += 1
            row_offset += len(frame)
    logger.info("run %s: %d rows exported", run_id, written)
    return written


def _extra_columns(columns: list[str]) -> list[str]:
    """'row', 'status', 'reason' and 'message', prefixed with 'sync ' where the file has such a
    column itself."""
    return [f"sync {name}" if name in columns else name
            for name in ("row", "status", "reason", "message")]


def _is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' NA (a missing cell of the input)."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
