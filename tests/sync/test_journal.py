"""The run journal on a real SQLite file: runs, rows, batches, progress, dead processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from mapping.sync.journal import (
    INTERRUPTED,
    RUNNING,
    Journal,
    JournalError,
    RowOutcome,
    default_journal_path,
    progress,
)


def _new_run(journal: Journal, **extra) -> str:
    values = dict(
        input_name="in.csv", input_path="/tmp/in.csv", input_size=10, input_sha256="ab" * 32,
        input_options={}, mapping_json="{}", mapping_fingerprint="cd" * 32,
        base_url="http://127.0.0.1:1", endpoint="users/bulkUpdate", settings={},
    )
    values.update(extra)
    return journal.create_run(**values)


def test_default_path_follows_workbench_home(workbench_home):
    assert default_journal_path() == workbench_home / "journal.sqlite"


def test_journal_is_wal_and_private(tmp_path):
    path = tmp_path / "home" / "j.sqlite"
    with Journal(path) as journal:
        journal.add_rows("any-run", [RowOutcome(1, "pending", identifier="a@x.com")])
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        for file in path.parent.glob("j.sqlite*"):
            assert os.stat(file).st_mode & 0o077 == 0, file
    assert os.stat(path.parent).st_mode & 0o077 == 0


def test_rows_batches_and_progress(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        run_id = _new_run(journal)
        journal.set_total_rows(run_id, 4)
        journal.add_rows(run_id, [
            RowOutcome(1, "pending", identifier="a@x.com"),
            RowOutcome(2, "pending", identifier="b@x.com"),
            RowOutcome(3, "skipped", "invalid_email", "no @", None),
            RowOutcome(4, "pending", identifier="d@x.com"),
        ])
        batch_id = journal.start_batch(run_id, [1, 2], "users/bulkUpdate", 100)
        journal.record_batch(
            run_id, batch_id,
            [RowOutcome(1, "sent", attempts=1), RowOutcome(2, "rejected", "forgotten", "gone", attempts=1)],
            state="answered", attempts=1, requests=1, created_fields=["points"],
        )
        counts = journal.counts(run_id)
        assert counts == {"pending": 1, "sent": 1, "rejected": 1, "skipped": 1, "failed": 0}
        assert journal.reason_counts(run_id) == {
            "rejected": {"forgotten": 1}, "skipped": {"invalid_email": 1}
        }
        assert journal.batch_fields(run_id) == (["points"], [])
        current = journal.progress(run_id)
        assert current.state == RUNNING
        assert current.done == 3
        assert current.total_rows == 4
        assert [r.batch_id for r in journal.rows(run_id)] == [1, 1, None, None]
        second = journal.start_batch(run_id, [4], "users/bulkUpdate", 50)
        assert journal.rows_in_flight(run_id) == {4}
        assert second == 2
    # a second connection (the app's poller) reads the same figures
    assert progress(run_id, tmp_path / "j.sqlite").counts["sent"] == 1


def test_adding_rows_again_keeps_recorded_outcomes(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        run_id = _new_run(journal)
        journal.add_rows(run_id, [RowOutcome(1, "pending")])
        batch_id = journal.start_batch(run_id, [1], "users/bulkUpdate", 10)
        journal.record_batch(run_id, batch_id, [RowOutcome(1, "sent")], state="answered",
                             attempts=1, requests=1)
        journal.add_rows(run_id, [RowOutcome(1, "pending")])
        assert journal.row_statuses(run_id) == {1: "sent"}


def test_dead_process_run_is_interrupted(tmp_path):
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead_pid = int(child.stdout)
    with Journal(tmp_path / "j.sqlite") as journal:
        run_id = _new_run(journal, pid=dead_pid)
        assert journal.get_run(run_id).state == INTERRUPTED
        alive = _new_run(journal)
        assert journal.get_run(alive).state == RUNNING


def test_stale_heartbeat_run_is_interrupted(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        run_id = _new_run(journal, heartbeat_at=1.0)
        assert journal.get_run(run_id).state == INTERRUPTED


def test_unknown_run_id_message(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        with pytest.raises(JournalError, match=r"no run 'nope'.*python -m mapping runs"):
            journal.get_run("nope")
