"""The run journal: one SQLite file (WAL mode) that records every sync run and every row's outcome.

A run records what was sent where. That is the input file's name, size and sha256, the mapping
as saved and its fingerprint, and the target (base URL, region, list, endpoint and the API key's
short fingerprint, never the key itself). It also records the settings, the project's user
fields as read at the start, start and end times, its state and its summary. Each input row gets one line: its 1-based data row
number, its identifier (email or userId, needed to match Iterable's responses), its status, reason
code, message, the number of attempts and the batch that carried it.

The engine commits each batch's outcome as soon as Iterable's response arrives, so a killed process loses
no acknowledged row. A run left in the state "running" by a process that is gone (its pid is dead,
or its heartbeat stopped) reads as "interrupted", and can be resumed.

Row statuses: pending (not yet acknowledged), sent, rejected (by Iterable), skipped (by
validation before sending) and failed (no response after the retries, or the request was rejected).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
REJECTED = "rejected"
SKIPPED = "skipped"
FAILED = "failed"
FINAL_STATUSES = (SENT, REJECTED, SKIPPED, FAILED)
ALL_STATUSES = (PENDING, *FINAL_STATUSES)

RUNNING = "running"
FINISHED = "finished"
STOPPED = "failed"
INTERRUPTED = "interrupted"

# Reasons of failed rows that a new attempt may fix (`--retry-failed`).
RETRYABLE_REASONS = frozenset({"rate_limited", "server_error", "network_error"})

# A running run whose heartbeat is older than this is taken as interrupted even if its pid
# looks alive (the pid may have been reused, or the process hangs).
HEARTBEAT_TIMEOUT_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent_run_id TEXT,
    state TEXT NOT NULL,
    input_name TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_size INTEGER NOT NULL,
    input_sha256 TEXT NOT NULL,
    input_options TEXT NOT NULL,
    mapping_json TEXT NOT NULL,
    mapping_fingerprint TEXT NOT NULL,
    base_url TEXT NOT NULL,
    region TEXT,
    list_id INTEGER,
    endpoint TEXT NOT NULL,
    key_fingerprint TEXT,
    settings TEXT NOT NULL,
    project_fields TEXT,
    total_rows INTEGER,
    started_at REAL NOT NULL,
    ended_at REAL,
    session_started_at REAL,
    session_done_at_start INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    heartbeat_at REAL,
    last_error TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS rows (
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    identifier TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    batch_id INTEGER,
    PRIMARY KEY (run_id, row)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rows_by_status ON rows (run_id, status);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    users INTEGER NOT NULL,
    body_bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    row_numbers TEXT,
    started_at REAL,
    acked_at REAL,
    error TEXT,
    created_fields TEXT,
    filtered_out_fields TEXT,
    PRIMARY KEY (run_id, batch_id)
);
"""


def default_journal_path() -> Path:
    """$WORKBENCH_HOME/journal.sqlite, else ~/.local/share/iterable-workbench/journal.sqlite."""
    home = os.environ.get("WORKBENCH_HOME")
    base = Path(home) if home else Path.home() / ".local" / "share" / "iterable-workbench"
    return base / "journal.sqlite"


class JournalError(Exception):
    """A journal problem the user must act on, such as an unknown run id."""


@dataclass
class RowOutcome:
    """The outcome of one row, as written to the journal."""

    row: int
    status: str
    reason: str | None = None
    message: str | None = None
    identifier: str | None = None
    attempts: int = 0


@dataclass
class RowRecord:
    """One row line of a run, as read back from the journal."""

    row: int
    identifier: str | None
    status: str
    reason: str | None
    message: str | None
    attempts: int
    batch_id: int | None


@dataclass
class RunRecord:
    """One run as stored, with its state corrected for dead processes."""

    run_id: str
    kind: str
    parent_run_id: str | None
    state: str
    input_name: str
    input_path: str
    input_size: int
    input_sha256: str
    input_options: dict[str, Any]
    mapping_json: str
    mapping_fingerprint: str
    base_url: str
    region: str | None
    list_id: int | None
    endpoint: str
    key_fingerprint: str | None
    settings: dict[str, Any]
    project_fields: dict[str, str] | None
    total_rows: int | None
    started_at: float
    ended_at: float | None
    pid: int | None
    heartbeat_at: float | None
    last_error: str | None
    summary: dict[str, Any] | None
    session_started_at: float | None = None
    session_done_at_start: int = 0


@dataclass
class Progress:
    """Progress of a run: counts by status, speed, time left, last error."""

    run_id: str
    state: str
    total_rows: int | None
    counts: dict[str, int] = field(default_factory=dict)
    done: int = 0
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    last_error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def fraction(self) -> float | None:
        """Share of rows with a final status, 0..1, or None while the total is unknown."""
        if not self.total_rows:
            return None
        return min(1.0, self.done / self.total_rows)


def new_run_id() -> str:
    """Return a short, sortable run id: UTC date and time plus 6 random hex digits."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def process_is_alive(pid: int | None) -> bool:
    """True when a process with this pid exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """A connection to the journal file; safe to share between the threads of one run."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_journal_path()
        _create_private_file(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs

    def create_run(self, **values: Any) -> str:
        """Insert a run (state running, owned by this process) and return its id."""
        run_id = values.pop("run_id", None) or new_run_id()
        now = time.time()
        row = {
            "run_id": run_id,
            "kind": "sync",
            "parent_run_id": None,
            "state": RUNNING,
            "region": None,
            "list_id": None,
            "key_fingerprint": None,
            "project_fields": None,
            "total_rows": None,
            "started_at": now,
            "session_started_at": now,
            "pid": os.getpid(),
            "heartbeat_at": now,
            **values,
        }
        for name in ("input_options", "settings", "project_fields"):
            if row[name] is not None and not isinstance(row[name], str):
                row[name] = json.dumps(row[name], sort_keys=True)
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        with self._lock:
            self._db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", row)
            self._db.commit()
        logger.info("run %s created (%s to %s)", run_id, row["endpoint"], row["base_url"])
        return run_id

    def get_run(self, run_id: str) -> RunRecord:
        """Return the run with this id. Raises JournalError naming the id when there is none."""
        with self._lock:
            found = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            raise JournalError(
                f"no run {run_id!r} in the journal {self.path}; "
                "`python -m mapping runs` lists the runs it holds"
            )
        return _run_record(found)

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """Return the most recent runs first."""
        with self._lock:
            found = self._db.execute(
                "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_run_record(item) for item in found]

    def claim_run(self, run_id: str, key_fingerprint: str | None) -> None:
        """Take over a run for a new session (resume): this pid, state running, clocks reset."""
        done = sum(
            count for status, count in self.counts(run_id).items() if status != PENDING
        )
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE runs SET state = ?, pid = ?, heartbeat_at = ?, session_started_at = ?, "
                "session_done_at_start = ?, ended_at = NULL, last_error = NULL, "
                "key_fingerprint = COALESCE(?, key_fingerprint) WHERE run_id = ?",
                (RUNNING, os.getpid(), now, now, done, key_fingerprint, run_id),
            )
            self._db.commit()

    def set_total_rows(self, run_id: str, total_rows: int) -> None:
        self._update_run(run_id, total_rows=total_rows)

    def set_input_path(self, run_id: str, input_path: str) -> None:
        self._update_run(run_id, input_path=input_path)

    def set_settings(self, run_id: str, settings: dict[str, Any]) -> None:
        self._update_run(run_id, settings=json.dumps(settings, sort_keys=True))

    def heartbeat(self, run_id: str) -> None:
        self._update_run(run_id, heartbeat_at=time.time())

    def set_last_error(self, run_id: str, message: str) -> None:
        self._update_run(run_id, last_error=message)

    def finish_run(
        self, run_id: str, state: str, summary: dict[str, Any], last_error: str | None = None
    ) -> None:
        """Record the final state (finished, failed or interrupted) and the summary."""
        values: dict[str, Any] = {
            "state": state,
            "ended_at": time.time(),
            "summary": json.dumps(summary, sort_keys=True),
        }
        if last_error is not None:
            values["last_error"] = last_error
        self._update_run(run_id, **values)
        logger.info("run %s %s", run_id, state)

    def _update_run(self, run_id: str, **values: Any) -> None:
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self._lock:
            self._db.execute(
                f"UPDATE runs SET {assignments} WHERE run_id = :run_id", {**values, "run_id": run_id}
            )
            self._db.commit()

    # ------------------------------------------------------------------ rows

    def add_rows(self, run_id: str, outcomes: Iterable[RowOutcome]) -> None:
        """Insert rows not yet in the run (pending or skipped); rows already there are kept."""
        values = [
            (run_id, o.row, o.identifier, o.status, o.reason, o.message, o.attempts)
            for o in outcomes
        ]
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO rows (run_id, row, identifier, status, reason, message, "
                "attempts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            self._db.commit()

    def record_outcomes(self, run_id: str, outcomes: Iterable[RowOutcome]) -> None:
        """Set the status, reason and message of rows already in the run."""
        with self._lock:
            self._db.executemany(
                "UPDATE rows SET status = ?, reason = ?, message = ? WHERE run_id = ? AND row = ?",
                [(o.status, o.reason, o.message, run_id, o.row) for o in outcomes],
            )
            self._db.commit()

    def row_statuses(self, run_id: str) -> dict[int, str]:
        """Return row number -> status of every row recorded for the run."""
        with self._lock:
            found = self._db.execute(
                "SELECT row, status FROM rows WHERE run_id = ?", (run_id,)
            ).fetchall()
        return {item[0]: item[1] for item in found}

    def rows(self, run_id: str, statuses: Iterable[str] | None = None) -> Iterator[RowRecord]:
        """Yield the run's rows in row order, optionally only those with the given statuses."""
        query = "SELECT row, identifier, status, reason, message, attempts, batch_id FROM rows "
        query += "WHERE run_id = ?"
        params: list[Any] = [run_id]
        if statuses is not None:
            selected = list(statuses)
            query += f" AND status IN ({', '.join('?' for _ in selected)})"
            params += selected
        query += " ORDER BY row"
        with self._lock:
            found = self._db.execute(query, params).fetchall()
        for item in found:
            yield RowRecord(*item)

    def counts(self, run_id: str) -> dict[str, int]:
        """Status -> number of rows, every status present (zero when none)."""
        with self._lock:
            found = self._db.execute(
                "SELECT status, COUNT(*) FROM rows WHERE run_id = ? GROUP BY status", (run_id,)
            ).fetchall()
        counts = {status: 0 for status in ALL_STATUSES}
        counts.update({item[0]: item[1] for item in found})
        return counts

    def reason_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """Status -> reason -> number of rows, for rows that were not sent."""
        with self._lock:
            found = self._db.execute(
                "SELECT status, COALESCE(reason, ''), COUNT(*) FROM rows "
                "WHERE run_id = ? AND status NOT IN (?, ?) GROUP BY status, reason",
                (run_id, SENT, PENDING),
            ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for status, reason, count in found:
            result.setdefault(status, {})[reason or "unknown"] = count
        return result

    # ------------------------------------------------------------------ batches

    def start_batch(self, run_id: str, rows: list[int], endpoint: str, body_bytes: int) -> int:
        """Record a batch about to be sent, with its row numbers; returns the batch id."""
        with self._lock:
            found = self._db.execute(
                "SELECT COALESCE(MAX(batch_id), 0) + 1 FROM batches WHERE run_id = ?", (run_id,)
            ).fetchone()
            batch_id = int(found[0])
            # The rows are listed on the batch in one insert instead of one update per row.
            # Each row gets its batch id together with its outcome, in record_batch.
            self._db.execute(
                "INSERT INTO batches (run_id, batch_id, endpoint, users, body_bytes, state, "
                "row_numbers, started_at) VALUES (?, ?, ?, ?, ?, 'in_flight', ?, ?)",
                (run_id, batch_id, endpoint, len(rows), body_bytes, json.dumps(rows),
                 time.time()),
            )
            self._db.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (time.time(), run_id)
            )
            self._db.commit()
        return batch_id

    def record_batch(
        self,
        run_id: str,
        batch_id: int,
        outcomes: list[RowOutcome],
        *,
        state: str,
        attempts: int,
        requests: int,
        error: str | None = None,
        created_fields: Iterable[str] = (),
        filtered_out_fields: Iterable[str] = (),
    ) -> None:
        """Commit a batch's response and every row's outcome in one transaction."""
        now = time.time()
        with self._lock:
            self._db.executemany(
                "UPDATE rows SET status = ?, reason = ?, message = ?, attempts = attempts + ?, "
                "batch_id = ? WHERE run_id = ? AND row = ?",
                [
                    (o.status, o.reason, o.message, o.attempts, batch_id, run_id, o.row)
                    for o in outcomes
                ],
            )
            self._db.execute(
                "UPDATE batches SET state = ?, attempts = ?, requests = ?, acked_at = ?, "
                "error = ?, created_fields = ?, filtered_out_fields = ? "
                "WHERE run_id = ? AND batch_id = ?",
                (
                    state,
                    attempts,
                    requests,
                    now,
                    error,
                    json.dumps(sorted(set(created_fields))),
                    json.dumps(sorted(set(filtered_out_fields))),
                    run_id,
                    batch_id,
                ),
            )
            self._db.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (now, run_id))
            self._db.commit()

    def sending_window(self, run_id: str) -> tuple[float | None, float | None]:
        """Return when the run's first batch was sent and its last response recorded."""
        with self._lock:
            found = self._db.execute(
                "SELECT MIN(started_at), MAX(acked_at) FROM batches WHERE run_id = ?", (run_id,)
            ).fetchone()
        return found[0], found[1]

    def rows_in_flight(self, run_id: str) -> set[int]:
        """Return the rows of batches sent without a recorded response (the process died)."""
        with self._lock:
            found = self._db.execute(
                "SELECT row_numbers FROM batches WHERE run_id = ? AND state = 'in_flight'",
                (run_id,),
            ).fetchall()
        return {row for (text,) in found for row in json.loads(text or "[]")}

    def batch_fields(self, run_id: str) -> tuple[list[str], list[str]]:
        """Return the created and the filtered-out field names over all batches of the run."""
        created: set[str] = set()
        filtered: set[str] = set()
        with self._lock:
            found = self._db.execute(
                "SELECT created_fields, filtered_out_fields FROM batches WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        for created_text, filtered_text in found:
            created.update(json.loads(created_text or "[]"))
            filtered.update(json.loads(filtered_text or "[]"))
        return sorted(created), sorted(filtered)

    def request_counts(self, run_id: str) -> dict[str, int]:
        """Batches and HTTP requests of the run (retries and bisect requests included)."""
        with self._lock:
            found = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(requests), 0), "
                "COALESCE(SUM(CASE WHEN state = 'in_flight' THEN 1 ELSE 0 END), 0) "
                "FROM batches WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return {"batches": found[0], "requests": found[1], "unanswered_batches": found[2]}

    # ------------------------------------------------------------------ progress

    def progress(self, run_id: str) -> Progress:
        """Counts by status, rows per second, time left, last error and state of a run."""
        run = self.get_run(run_id)
        counts = self.counts(run_id)
        done = sum(count for status, count in counts.items() if status != PENDING)
        progress = Progress(
            run_id=run_id,
            state=run.state,
            total_rows=run.total_rows,
            counts=counts,
            done=done,
            last_error=run.last_error,
            started_at=run.started_at,
            ended_at=run.ended_at,
        )
        _add_speed(progress, run)
        return progress


def progress(run_id: str, path: str | os.PathLike | None = None) -> Progress:
    """Read a run's progress from the journal file (opens and closes a connection)."""
    with Journal(path) as journal:
        return journal.progress(run_id)


def _add_speed(progress: Progress, run: RunRecord) -> None:
    start = run.session_started_at or run.started_at
    end = run.ended_at or time.time()
    elapsed = end - start
    done_now = progress.done - run.session_done_at_start
    if elapsed <= 0.5 or done_now <= 0:
        return
    progress.rows_per_second = done_now / elapsed
    if run.state == RUNNING and progress.total_rows:
        remaining = max(0, progress.total_rows - progress.done)
        progress.eta_seconds = remaining / progress.rows_per_second


def _run_record(found: sqlite3.Row) -> RunRecord:
    values = dict(found)
    for name in ("input_options", "settings"):
        values[name] = json.loads(values[name] or "{}")
    for name in ("project_fields", "summary"):
        values[name] = json.loads(values[name]) if values[name] else None
    record = RunRecord(**values)
    if record.state == RUNNING and _owner_is_gone(record):
        record.state = INTERRUPTED
    return record


def _owner_is_gone(run: RunRecord) -> bool:
    if not process_is_alive(run.pid):
        return True
    heartbeat = run.heartbeat_at or run.started_at
    return time.time() - heartbeat > HEARTBEAT_TIMEOUT_SECONDS


def _create_private_file(path: Path) -> None:
    """Create the journal (and a missing folder) readable by its owner only.

    The journal contains the analyst's identifiers. SQLite gives the -wal and -shm files the
    mode of the main file, so creating that with 0600 before connecting covers all three.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Open the file only when it does not exist yet. Closing any descriptor of a database file
    # drops every POSIX lock this process holds on it, including those of open SQLite
    # connections (the app polls progress from one thread while a run writes from another).
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
    try:
        os.chmod(path, 0o600)
    except OSError as error:  # pragma: no cover - e.g. a file system without modes
        logger.warning("cannot restrict permissions of %s: %s", path, error.strerror)
