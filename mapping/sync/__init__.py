"""Bulk sync of mapped rows into Iterable, with a journal that makes runs resumable.

    from mapping.sync import run_sync, resume_run, retry_failed, start_run_in_thread
    summary = run_sync("submissions.csv", config, api_key=key, base_url=sandbox_url)

    run_id = start_run_in_thread("submissions.csv", config, api_key=key)   # the app
    progress = journal.progress(run_id)       # counts by status, rows/s, ETA, last error, state

`sync()` is the notebook shortcut: a mapping file path or a MappingConfig, and the key.
"""

from __future__ import annotations

import os
from typing import Any

from mapping.sync import journal
from mapping.sync.dryrun import DryRunReport, dry_run
from mapping.sync.engine import SyncSummary, build_summary
from mapping.sync.export import escape_cell, export_rows
from mapping.sync.journal import Journal, JournalError, Progress, default_journal_path, progress
from mapping.sync.runs import (
    create_run,
    execute_run,
    is_running_here,
    prepare_resume,
    prepare_retry,
    resume_run,
    retry_failed,
    run_sync,
    start_run_in_thread,
    stop_run,
    wait_for_run,
)
from mapping.sync.settings import SyncSettings, Target
from mapping.sync.source import SyncConfigError

__all__ = [
    "DryRunReport",
    "Journal",
    "JournalError",
    "Progress",
    "SyncConfigError",
    "SyncSettings",
    "SyncSummary",
    "Target",
    "build_summary",
    "create_run",
    "default_journal_path",
    "dry_run",
    "escape_cell",
    "execute_run",
    "export_rows",
    "is_running_here",
    "journal",
    "prepare_resume",
    "prepare_retry",
    "progress",
    "resume_run",
    "retry_failed",
    "run_sync",
    "start_run_in_thread",
    "stop_run",
    "sync",
    "wait_for_run",
]


def sync(
    input_path: str | os.PathLike,
    config: Any,
    *,
    api_key: str,
    base_url: str | None = None,
    region: str = "us",
    **settings: Any,
) -> SyncSummary:
    """Send a submissions file with a mapping (file path or MappingConfig); returns the summary.

    Keyword settings are those of SyncSettings, e.g. ``batch_size=500, rate=2``.
    """
    return run_sync(
        input_path, config, api_key=api_key, base_url=base_url, region=region,
        settings=SyncSettings(**settings).check(),
    )
