"""Start, resume and retry runs, in the foreground or in a worker thread.

- `run_sync` starts a new run and sends the whole input.
- `resume_run` continues an interrupted (or stopped) run with the rows that have no recorded
  response yet. It raises SyncConfigError when the input file or the mapping changed since the run started.
- `retry_failed` starts a new run, tied to the old one, for the rows that failed with a reason
  a new attempt may fix (rate limited, server error, network error).
- `start_run_in_thread` does any of these in a background thread and returns the run id at
  once. The app then polls `journal.progress(run_id)` and calls no engine code from the page.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from mapping.sync.engine import ProgressCallback, RunExecution, SyncSummary
from mapping.sync.journal import (
    FAILED,
    FINISHED,
    PENDING,
    RETRYABLE_REASONS,
    RUNNING,
    Journal,
    RowOutcome,
    RunRecord,
)
from mapping.sync.settings import SyncSettings, Target, endpoint_for
from mapping.sync.source import InputFile, SyncConfigError, describe_input

logger = logging.getLogger(__name__)

_THREADS: dict[str, tuple[threading.Thread, threading.Event]] = {}
_THREADS_LOCK = threading.Lock()


# ---------------------------------------------------------------------- creating runs


def create_run(
    input_path: str | os.PathLike,
    config: Any,
    target: Target,
    *,
    journal: Journal,
    settings: SyncSettings | None = None,
    input_options: dict[str, Any] | None = None,
) -> str:
    """Check the input and the key, record a new run and return its id (nothing sent yet).

    Reads the project's user fields once (which also proves the key and host work); raises
    SyncConfigError or a FatalError of the client naming the problem.
    """
    settings = (settings or SyncSettings()).check()
    source = describe_input(input_path)
    with target.client(settings.timeout) as client:
        project_fields = read_project_fields(client, settings)
        return _insert_run(
            journal, source, config, client, settings, input_options or {},
            project_fields=project_fields,
        )


def read_project_fields(client: Any, settings: SyncSettings) -> dict[str, str]:
    """Read the project's user fields, retried like a batch when the failure is retryable."""
    from mapping.iterable.errors import RetryableError
    from mapping.sync.pacing import RetryPolicy

    policy = RetryPolicy(settings.max_attempts, settings.backoff_base, settings.backoff_cap,
                         settings.max_retry_after)
    attempt = 0
    while True:
        attempt += 1
        try:
            return client.get_fields()
        except RetryableError as error:
            if not policy.should_retry(attempt):
                raise
            delay = policy.delay(attempt, error.retry_after)
            logger.info("reading the project's fields failed (%s); next attempt in %.2f s",
                        type(error).__name__, delay)
            time.sleep(delay)


def _insert_run(
    journal: Journal,
    source: InputFile,
    config: Any,
    client: Any,
    settings: SyncSettings,
    input_options: dict[str, Any],
    *,
    project_fields: dict[str, str] | None,
    kind: str = "sync",
    parent_run_id: str | None = None,
) -> str:
    return journal.create_run(
        kind=kind,
        parent_run_id=parent_run_id,
        input_name=source.name,
        input_path=str(source.path),
        input_size=source.size,
        input_sha256=source.sha256,
        input_options=input_options,
        mapping_json=config.to_json(),
        mapping_fingerprint=config.fingerprint(),
        base_url=client.base_url,
        region=client.region,
        list_id=config.list_id,
        endpoint=endpoint_for(config.list_id),
        key_fingerprint=client.key_fingerprint,
        settings=settings.to_dict(),
        project_fields=project_fields,
    )


def prepare_resume(
    run_id: str,
    target: Target,
    *,
    journal: Journal,
    input_path: str | os.PathLike | None = None,
    config: Any = None,
    setting_overrides: dict[str, Any] | None = None,
) -> str:
    """Check that a run can be resumed unchanged and take it over for this process."""
    run = journal.get_run(run_id)
    _check_resumable(run)
    source = _check_same_input(run, input_path)
    if str(source.path) != run.input_path:
        journal.set_input_path(run_id, str(source.path))  # the same file, moved
    _check_same_mapping(run, config)
    _check_same_target(run, target)
    if setting_overrides:
        settings = SyncSettings.from_dict(run.settings).merged(setting_overrides).check()
        journal.set_settings(run_id, settings.to_dict())
    with target.client() as client:
        journal.claim_run(run_id, client.key_fingerprint)
    logger.info("run %s resumed", run_id)
    return run_id


def prepare_retry(
    run_id: str,
    target: Target,
    *,
    journal: Journal,
    input_path: str | os.PathLike | None = None,
    setting_overrides: dict[str, Any] | None = None,
) -> str:
    """Record a new run for the rows of `run_id` that failed with a retryable reason."""
    from mapping.config import MappingConfig

    parent = journal.get_run(run_id)
    if parent.state == RUNNING:
        raise SyncConfigError(
            f"run {run_id} is still running (process {parent.pid}); wait for it to end"
        )
    rows = [r for r in journal.rows(run_id, [FAILED]) if r.reason in RETRYABLE_REASONS]
    if not rows:
        raise SyncConfigError(
            f"run {run_id} has no rows that failed with a retryable reason "
            f"({', '.join(sorted(RETRYABLE_REASONS))}); nothing to retry"
        )
    source = _check_same_input(parent, input_path)
    config = MappingConfig.from_json(parent.mapping_json, source_name="the run's mapping")
    settings = SyncSettings.from_dict(parent.settings).merged(setting_overrides or {}).check()
    with target.client(settings.timeout) as client:
        new_id = _insert_run(
            journal, source, config, client, settings, parent.input_options,
            project_fields=parent.project_fields, kind="retry", parent_run_id=run_id,
        )
    journal.add_rows(new_id, [RowOutcome(r.row, PENDING, identifier=r.identifier) for r in rows])
    journal.set_total_rows(new_id, len(rows))
    logger.info("run %s retries %d failed rows of run %s", new_id, len(rows), run_id)
    return new_id


def _check_resumable(run: RunRecord) -> None:
    if run.state == RUNNING:
        raise SyncConfigError(
            f"run {run.run_id} is still running (process {run.pid}); it cannot be resumed twice"
        )
    if run.state == FINISHED:
        raise SyncConfigError(
            f"run {run.run_id} already finished; to send its failed rows again use "
            f"--retry-failed {run.run_id}"
        )


def _check_same_input(run: RunRecord, input_path: str | os.PathLike | None) -> InputFile:
    path = Path(input_path) if input_path is not None else Path(run.input_path)
    source = describe_input(path)
    if source.sha256 != run.input_sha256:
        raise SyncConfigError(
            f"the input file changed since run {run.run_id} started: {source.path} has sha256 "
            f"{source.sha256[:12]}..., the run read {run.input_sha256[:12]}... "
            f"({run.input_size} bytes); restore the original file or start a new run"
        )
    return source


def _check_same_mapping(run: RunRecord, config: Any) -> None:
    if config is None:
        return
    if config.fingerprint() != run.mapping_fingerprint:
        raise SyncConfigError(
            f"the mapping changed since run {run.run_id} started (fingerprint "
            f"{config.fingerprint()[:12]}... now, {run.mapping_fingerprint[:12]}... then); resume "
            "without --mapping to use the run's own mapping, or start a new run"
        )


def _check_same_target(run: RunRecord, target: Target) -> None:
    if target.base_url is None:
        return
    with target.client() as client:
        base_url = client.base_url
    if base_url != run.base_url:
        raise SyncConfigError(
            f"run {run.run_id} sent to {run.base_url}, not {base_url}; resume it against the "
            "same host, or start a new run"
        )


# ---------------------------------------------------------------------- running


def execute_run(
    run_id: str,
    target: Target,
    *,
    journal: Journal,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> SyncSummary:
    """Send the run's pending rows; returns its summary (state finished, failed or interrupted)."""
    run = journal.get_run(run_id)
    settings = SyncSettings.from_dict(run.settings)
    with target.client(settings.timeout) as client:
        execution = RunExecution(run, journal, client, on_progress=on_progress, stop=stop)
        return execution.execute()


def run_sync(
    input_path: str | os.PathLike,
    config: Any,
    *,
    api_key: str,
    base_url: str | None = None,
    region: str = "us",
    settings: SyncSettings | None = None,
    journal_path: str | os.PathLike | None = None,
    input_options: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    transport: Any = None,
) -> SyncSummary:
    """Start a new run and send the whole input in the calling thread."""
    target = Target(api_key, base_url=base_url, region=region, transport=transport)
    with Journal(journal_path) as journal:
        run_id = create_run(
            input_path, _as_config(config), target, journal=journal, settings=settings,
            input_options=input_options,
        )
        return execute_run(run_id, target, journal=journal, on_progress=on_progress, stop=stop)


def resume_run(
    run_id: str,
    *,
    api_key: str,
    base_url: str | None = None,
    region: str = "us",
    journal_path: str | os.PathLike | None = None,
    input_path: str | os.PathLike | None = None,
    config: Any = None,
    setting_overrides: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    transport: Any = None,
) -> SyncSummary:
    """Continue an interrupted run in the calling thread."""
    with Journal(journal_path) as journal:
        target = target_for_run(journal, run_id, api_key, base_url, region, transport)
        prepare_resume(
            run_id, target, journal=journal, input_path=input_path,
            config=_as_config(config) if config is not None else None,
            setting_overrides=setting_overrides,
        )
        return execute_run(run_id, target, journal=journal, on_progress=on_progress, stop=stop)


def retry_failed(
    run_id: str,
    *,
    api_key: str,
    base_url: str | None = None,
    region: str = "us",
    journal_path: str | os.PathLike | None = None,
    input_path: str | os.PathLike | None = None,
    setting_overrides: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    transport: Any = None,
) -> SyncSummary:
    """Send again, as a new run, the rows of `run_id` that failed with a retryable reason."""
    with Journal(journal_path) as journal:
        target = target_for_run(journal, run_id, api_key, base_url, region, transport)
        new_id = prepare_retry(
            run_id, target, journal=journal, input_path=input_path,
            setting_overrides=setting_overrides,
        )
        return execute_run(new_id, target, journal=journal, on_progress=on_progress, stop=stop)


def target_for_run(journal, run_id, api_key, base_url, region, transport) -> Target:
    """Return the target given, else the host the run used, so a resume goes to the same host."""
    run = journal.get_run(run_id)
    if base_url is None:
        base_url = run.base_url
        region = run.region or region
    return Target(api_key, base_url=base_url, region=region, transport=transport)


def _as_config(config: Any) -> Any:
    from mapping.config import MappingConfig

    if isinstance(config, MappingConfig):
        return config
    return MappingConfig.load(config)


# ---------------------------------------------------------------------- background threads


def start_run_in_thread(
    input_path: str | os.PathLike | None = None,
    config: Any = None,
    *,
    api_key: str,
    base_url: str | None = None,
    region: str = "us",
    settings: SyncSettings | None = None,
    journal_path: str | os.PathLike | None = None,
    input_options: dict[str, Any] | None = None,
    resume_run_id: str | None = None,
    retry_run_id: str | None = None,
    transport: Any = None,
) -> str:
    """Prepare a run (new, resumed or retry) here, send it in a daemon thread, return its id.

    Problems found before sending (bad key, changed input, ...) raise here. The thread makes no
    UI calls; follow it with `journal.progress(run_id)`, stop it with `stop_run(run_id)`.
    """
    overrides = settings.to_dict() if settings is not None and resume_run_id else None
    with Journal(journal_path) as journal:
        if resume_run_id:
            target = target_for_run(journal, resume_run_id, api_key, base_url, region, transport)
            run_id = prepare_resume(
                resume_run_id, target, journal=journal, setting_overrides=overrides
            )
        elif retry_run_id:
            target = target_for_run(journal, retry_run_id, api_key, base_url, region, transport)
            run_id = prepare_retry(retry_run_id, target, journal=journal)
        else:
            target = Target(api_key, base_url=base_url, region=region, transport=transport)
            run_id = create_run(
                input_path, _as_config(config), target, journal=journal, settings=settings,
                input_options=input_options,
            )
    stop = threading.Event()
    thread = threading.Thread(
        target=_run_in_background,
        args=(run_id, target, journal_path, stop),
        name=f"sync-run-{run_id}",
        daemon=True,
    )
    with _THREADS_LOCK:
        _THREADS[run_id] = (thread, stop)
    thread.start()
    return run_id


def _run_in_background(run_id: str, target: Target, journal_path, stop) -> None:
    try:
        with Journal(journal_path) as journal:
            execute_run(run_id, target, journal=journal, stop=stop)
    except Exception as error:
        logger.exception("run %s: the background sync ended with an error", run_id)
        _mark_failed(run_id, journal_path, error)


def _mark_failed(run_id: str, journal_path, error: Exception) -> None:
    from mapping.sync.engine import build_summary

    try:
        with Journal(journal_path) as journal:
            run = journal.get_run(run_id)
            if run.state in (RUNNING, "interrupted"):
                message = f"{error}"
                summary = build_summary(journal, run_id, state="failed", last_error=message)
                journal.finish_run(run_id, "failed", summary.to_dict(), last_error=message)
    except Exception:  # pragma: no cover - the journal itself is unusable
        logger.exception("run %s: could not record the error in the journal", run_id)


def stop_run(run_id: str) -> bool:
    """Ask a run started in this process to stop after its requests in flight."""
    with _THREADS_LOCK:
        entry = _THREADS.get(run_id)
    if entry is None:
        return False
    entry[1].set()
    return True


def wait_for_run(run_id: str, timeout: float | None = None) -> bool:
    """Wait for a background run of this process to end; True when it has ended."""
    with _THREADS_LOCK:
        entry = _THREADS.get(run_id)
    if entry is None:
        return True
    entry[0].join(timeout)
    return not entry[0].is_alive()


def is_running_here(run_id: str) -> bool:
    """Return whether a background thread of this process is working on the run."""
    with _THREADS_LOCK:
        entry = _THREADS.get(run_id)
    return entry is not None and entry[0].is_alive()
