"""Step 5, Sync: dry run, start, live progress, result with downloads, and the run history.

The run itself is a worker thread of mapping.sync that makes no streamlit calls; this page only
reads its progress from the journal. Leaving the page or reloading the browser does not stop it,
and the page shows a running run again when the analyst comes back.
"""

import datetime as dt
import logging
import time

import pandas as pd
import streamlit as st

from mapping.config import MappingConfig
from mapping.iterable.errors import RetryableError
from mapping.sync import (
    Journal,
    Target,
    build_summary,
    dry_run,
    progress,
    start_run_in_thread,
    stop_run,
)
from mapping.sync import journal as journal_module
from ui import auth, project, state
from ui.errors import show_error
from ui.run_files import export_to_bytes, persist_input

logger = logging.getLogger("ui.pages.sync")

POLL_SECONDS = 1.0
HISTORY_ROWS = 20
EXPORT_STATUSES = ("failed", "rejected", "skipped")
DRY_RUN_ATTEMPTS = 3
MAX_DRY_RUN_WAIT = 5.0
DRY_RUN = "wb_dry_run"   # (dry_run_key, DryRunReport) of the last dry run
PICKER_FOLLOWS = "wb_history_picker_follows"  # run id the history picker was last pointed at


def target_arguments(connection: state.Connection) -> dict:
    """Return the key and host of the connection, as the sync functions take them."""
    return {"api_key": connection.api_key, "base_url": connection.base_url,
            "region": connection.region}


def input_options(loaded: state.LoadedFile) -> dict:
    """Return the reading options the analyst chose on the Submissions page."""
    return {"encoding": loaded.encoding, "delimiter": loaded.delimiter}


def active_run_id(journal: Journal) -> str | None:
    """Return the run this session follows, else the newest run that is still running."""
    run_id = state.get(state.RUN_ID)
    if run_id:
        return run_id
    for run in journal.list_runs(limit=5):
        if run.state == journal_module.RUNNING:
            return run.run_id
    return None


def start_run(**arguments) -> None:
    """Start a new, resumed or retry run in a worker thread and follow it."""
    try:
        run_id = start_run_in_thread(**arguments)
    except Exception as exc:
        show_error(exc, "Starting the sync")
        return
    state.put(state.RUN_ID, run_id)
    logger.info("started run %s", run_id)
    st.rerun()


@st.fragment(run_every=POLL_SECONDS)
def live_progress(run_id: str) -> None:
    """Show the progress of a running run, read from the journal once a second."""
    current = progress(run_id)
    if current.state != journal_module.RUNNING:
        st.rerun(scope="app")  # the run ended: redraw the page with its result
    total = current.total_rows
    text = f"{current.done:,} of {total:,} rows" if total else f"{current.done:,} rows"
    st.progress(current.fraction or 0.0, text=text)
    speed, eta, sent, problems = st.columns(4)
    speed.metric("Rows per second",
                 f"{current.rows_per_second:,.0f}" if current.rows_per_second else "-")
    eta.metric("Time left", _duration(current.eta_seconds))
    sent.metric("Sent", f"{current.counts.get('sent', 0):,}")
    not_sent = current.counts.get("rejected", 0) + current.counts.get("failed", 0)
    problems.metric("Rejected or failed", f"{not_sent:,}")
    if current.last_error:
        st.warning(f"Last error: {current.last_error}")
    if st.button("Stop", key="sync_stop"):
        if not stop_run(run_id):
            st.info("This run is driven by another app process; stop it there.")


def show_result(journal: Journal, run_id: str) -> None:
    """Show the counts, reasons, new fields and downloads of a run that ended."""
    summary = build_summary(journal, run_id)
    st.subheader(f"Run {run_id}: {summary.state}")
    counts = summary.counts
    columns = st.columns(5)
    for column, status in zip(columns, ("sent", "rejected", "skipped", "failed")):
        column.metric(status.capitalize(), f"{counts.get(status, 0):,}")
    pending = summary.not_yet_sent
    columns[4].metric("Not yet sent", f"{pending:,}")
    if pending:
        st.info(f"{pending:,} rows were not reached before the run stopped. Resume the run in "
                "the history below to send them; rows already answered are not sent again.")
    if summary.last_error:
        st.error(summary.last_error)
    reasons = [
        {"status": status, "reason": reason, "rows": count}
        for status, by_reason in summary.reasons.items()
        for reason, count in by_reason.items()
    ]
    if reasons:
        st.dataframe(pd.DataFrame(reasons), hide_index=True, key="sync_reasons")
    if summary.created_fields:
        st.info("Fields created in the project: " + ", ".join(summary.created_fields))
    if summary.filtered_out_fields:
        st.warning("Fields Iterable dropped (filteredOutFields): "
                   + ", ".join(summary.filtered_out_fields))
    not_sent = sum(counts.get(status, 0) for status in EXPORT_STATUSES)
    if not_sent:
        st.download_button(
            f"Download the {not_sent:,} rows not sent (CSV)",
            data=lambda: _export(run_id), file_name=f"run-{run_id}-not-sent.csv",
            mime="text/csv", key="sync_download_failed",
        )


def _export(run_id: str) -> bytes:
    with Journal() as journal:
        return export_to_bytes(journal, run_id, EXPORT_STATUSES)


def new_run(connection: state.Connection, loaded: state.LoadedFile, config) -> None:
    """Offer Dry run and Start for the loaded file and the session's mapping."""
    st.subheader("New run")
    destination = (f"list {config.list_id} (lists/subscribe)" if config.list_id is not None
                   else "user profiles without a list (users/bulkUpdate)")
    st.markdown(f"**{loaded.name}** ({len(loaded.frame):,} rows) → {connection.label}, "
                f"{destination}")
    path = loaded.path or persist_input(loaded.name, loaded.content)
    # Rebuilt with the current class: Streamlit reloads edited modules, and a mapping made
    # before a reload would fail the library's isinstance checks.
    config = MappingConfig.from_json(config.to_json(), source_name="the session's mapping")
    arguments = {"input_path": path, "config": config, "input_options": input_options(loaded),
                 **target_arguments(connection)}
    dry, start = st.columns(2)
    key = dry_run_key(connection, loaded, config)
    if dry.button("Dry run", key="sync_dry_run"):
        try:
            target = Target(connection.api_key, base_url=connection.base_url,
                            region=connection.region)
            report = dry_run_with_retry(path, config, target, input_options(loaded))
        except Exception as exc:
            show_error(exc, "The dry run")
        else:
            state.put(DRY_RUN, (key, report))
    stored = state.get(DRY_RUN)
    if stored is not None and stored[0] != key:
        # Made for another file, mapping or project: its numbers no longer apply.
        state.drop(DRY_RUN)
        stored = None
    if stored is not None:
        show_dry_run(stored[1])
    if start.button("Start sync", key="sync_start", type="primary"):
        start_run(**arguments)


def dry_run_with_retry(path, config: MappingConfig, target: Target, options: dict):
    """Run the dry run, waiting and trying again when the project's rate limit or a passing
    server error refuses the field list it reads (getFields allows 3 requests per second)."""
    for attempt in range(1, DRY_RUN_ATTEMPTS + 1):
        try:
            return dry_run(path, config, target=target, input_options=options)
        except RetryableError as exc:
            if attempt == DRY_RUN_ATTEMPTS:
                raise
            wait = min(exc.retry_after or float(attempt), MAX_DRY_RUN_WAIT)
            logger.info("dry run: %s, trying again in %.1f s", type(exc).__name__, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def dry_run_key(connection: state.Connection, loaded: state.LoadedFile,
                config: MappingConfig) -> tuple:
    """Return what a dry run depends on: the input file, its reading options, the mapping and
    the project. A stored dry run is shown only while this key is unchanged."""
    return (str(loaded.path), id(loaded.submissions), loaded.encoding, loaded.delimiter,
            config.fingerprint(), connection.target, connection.base_url,
            connection.key_fingerprint)


def show_dry_run(report) -> None:
    """Show what a run would send, without sending."""
    total, sendable, skipped, batches = st.columns(4)
    total.metric("Rows", f"{report.total_rows:,}")
    sendable.metric("Would be sent", f"{report.sendable_rows:,}")
    skipped.metric("Skipped", f"{report.skipped_rows:,}")
    batches.metric("Requests", f"{report.batches:,}")
    st.caption(f"About {_duration(report.estimated_seconds)} at {report.rate:g} requests per "
               f"second to {report.endpoint}.")
    if report.skipped_reasons:
        st.caption("Skipped because: " + ", ".join(
            f"{reason} {count:,}" for reason, count in report.skipped_reasons.items()))
    if report.new_fields:
        st.info("New fields: " + ", ".join(f"{k} ({v})" for k, v in report.new_fields.items()))


def history(journal: Journal, connection: state.Connection | None) -> None:
    """List recent runs, with Show, Resume and Retry failed."""
    runs = journal.list_runs(limit=HISTORY_ROWS)
    st.subheader("History")
    if not runs:
        st.caption("No runs yet.")
        return
    st.dataframe(pd.DataFrame([_history_row(run) for run in runs]), hide_index=True,
                 key="sync_history")
    by_id = {run.run_id: run for run in runs}
    follow_in_picker(runs)
    chosen = st.selectbox("Run", list(by_id), key="sync_history_run")
    run = by_id[chosen]
    show, resume, retry = st.columns(3)
    if show.button("Show", key="sync_history_show"):
        state.put(state.RUN_ID, chosen)
        st.rerun()
    can_resume = run.state in (journal_module.INTERRUPTED, journal_module.STOPPED)
    if resume.button("Resume", key="sync_resume", disabled=not can_resume,
                     help="Send the rows the run has not sent yet."):
        if _needs_connection(connection):
            start_run(resume_run_id=chosen, **target_arguments(connection))
    if retry.button("Retry failed", key="sync_retry", disabled=run.state == journal_module.RUNNING,
                    help="A new run for the rows that failed with a retryable reason."):
        if _needs_connection(connection):
            start_run(retry_run_id=chosen, **target_arguments(connection))


def picker_default(runs) -> str:
    """Return the run the history picker should show: this session's run when it is listed,
    else the newest stopped or interrupted run (the one to resume), else the newest run."""
    followed = state.get(state.RUN_ID)
    if any(run.run_id == followed for run in runs):
        return followed
    resumable = (journal_module.INTERRUPTED, journal_module.STOPPED)
    return next((run.run_id for run in runs if run.state in resumable), runs[0].run_id)


def follow_in_picker(runs) -> None:
    """Point the history picker at ``picker_default`` whenever that run changes (a new run,
    a resume, Show) or the current choice is no longer listed. Otherwise the analyst's own
    choice stays."""
    wanted = picker_default(runs)
    listed = {run.run_id for run in runs}
    if state.get(PICKER_FOLLOWS) != wanted or st.session_state.get("sync_history_run") not in listed:
        st.session_state["sync_history_run"] = wanted
        state.put(PICKER_FOLLOWS, wanted)


def _needs_connection(connection: state.Connection | None) -> bool:
    if connection is None:
        st.error("Connect to the project first (Connect page): the key is not stored with runs.")
        return False
    return True


def _history_row(run) -> dict:
    counts = (run.summary or {}).get("counts", {})
    return {
        "run": run.run_id,
        "started": dt.datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M"),
        "state": run.state,
        "kind": run.kind,
        "input": run.input_name,
        "list": run.list_id,
        "rows": run.total_rows,
        "sent": counts.get("sent"),
        "not sent": sum(counts.get(s, 0) for s in EXPORT_STATUSES) if counts else None,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {seconds}s"


def main() -> None:
    auth.stop_unless_logged_in()
    st.title("Sync")
    connection = project.connection()
    loaded = state.get(state.SUBMISSIONS)
    config = state.get(state.MAPPING)
    with Journal() as journal:
        run_id = active_run_id(journal)
        if run_id is not None:
            run = journal.get_run(run_id)
            if run.state == journal_module.RUNNING:
                st.subheader(f"Run {run_id} is running")
                live_progress(run_id)
            else:
                show_result(journal, run_id)
        if connection is None or loaded is None or config is None:
            st.info("To start a run: connect a project, load a file and map it first.")
        elif config.identifier_field() is None:
            st.warning(f"{config.identifier} is not mapped: map it on the Mapping page first.")
        elif run_id is None or journal.get_run(run_id).state != journal_module.RUNNING:
            new_run(connection, loaded, config)
        history(journal, connection)


main()
