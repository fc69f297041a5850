"""`python -m mapping sync` and `runs` as subprocesses against the sandbox, kill -9 included."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mapping.iterable.sandbox import Faults
from mapping.sync import Journal
from mapping.sync.export import escape_cell
from tests.sync.support import PEOPLE_COLUMNS, mapping, people, received, write_csv

REPO = Path(__file__).resolve().parents[2]


def _cli(args, *, env, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "mapping", *args], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=timeout,
    )


@pytest.fixture
def cli_env(workbench_home, fast_sandbox):
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    env["ITERABLE_API_KEY"] = fast_sandbox.api_key
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def files(tmp_path):
    rows = people(30)
    rows[3]["Email"] = "broken"
    rows[7]["First name"] = "=HYPERLINK(\"http://127.0.0.1\")"
    rows[7]["Email"] = "also broken"
    source = write_csv(tmp_path / "in.csv", rows, PEOPLE_COLUMNS)
    mapping_file = tmp_path / "mapping.json"
    mapping(101).save(mapping_file)
    return source, mapping_file


def test_sync_then_runs_show_and_export(files, cli_env, fast_sandbox, tmp_path):
    source, mapping_file = files
    done = _cli(["sync", "--input", str(source), "--mapping", str(mapping_file),
                 "--base-url", fast_sandbox.base_url, "--batch-size", "7", "--rate", "100"],
                env=cli_env)
    assert done.returncode == 3, done.stderr  # two rows skipped by validation
    assert "sent 28, rejected 0, skipped 2" in done.stdout
    assert fast_sandbox.api_key not in done.stdout + done.stderr

    run_id = done.stderr.split("run ", 1)[1].split()[0]
    listed = _cli(["runs"], env=cli_env)
    assert run_id in listed.stdout
    assert "finished" in listed.stdout

    report = tmp_path / "failed.csv"
    show_result = _cli(["runs", "show", run_id, "--export-failed", str(report)], env=cli_env)
    assert show_result.returncode == 0
    assert "skipped: invalid_email 2" in show_result.stdout
    with report.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == PEOPLE_COLUMNS + ["row", "status", "reason", "message"]
    assert [line[0] for line in lines[1:]] == ["broken", "also broken"]
    assert lines[2][1].startswith("'=HYPERLINK")
    assert all(line[-3:-1] == ["skipped", "invalid_email"] for line in lines[1:])
    assert all(line[-1] for line in lines[1:])  # each row carries a message, not only a code


def test_usage_errors_exit_2_with_a_message(files, cli_env, fast_sandbox):
    source, mapping_file = files
    no_key = {k: v for k, v in cli_env.items() if k != "ITERABLE_API_KEY"}
    missing = _cli(["sync", "--input", str(source), "--mapping", str(mapping_file),
                    "--base-url", fast_sandbox.base_url], env=no_key)
    assert missing.returncode == 2
    assert "ITERABLE_API_KEY is not set" in missing.stderr
    assert "sandbox" in missing.stderr

    wrong_key = {**cli_env, "ITERABLE_API_KEY": "wrong-key-0123456789"}
    rejected = _cli(["sync", "--input", str(source), "--mapping", str(mapping_file),
                    "--base-url", fast_sandbox.base_url], env=wrong_key)
    assert rejected.returncode == 2
    assert "key" in rejected.stderr.lower()
    assert "wrong-key-0123456789" not in rejected.stderr + rejected.stdout

    no_input = _cli(["sync", "--mapping", str(mapping_file)], env=cli_env)
    assert no_input.returncode == 2
    assert "--input FILE" in no_input.stderr

    unknown = _cli(["runs", "show", "no-such-run"], env=cli_env)
    assert unknown.returncode == 2
    assert "no-such-run" in unknown.stderr


def test_dry_run_prints_the_plan_and_sends_nothing(files, cli_env, fast_sandbox):
    source, mapping_file = files
    planned = _cli(["sync", "--input", str(source), "--mapping", str(mapping_file),
                    "--base-url", fast_sandbox.base_url, "--dry-run", "--batch-size", "10"],
                   env=cli_env)
    assert planned.returncode == 0, planned.stderr
    assert "28 would be sent, 2 skipped" in planned.stdout
    assert "3 requests to lists/subscribe" in planned.stdout
    assert "1 new fields would be created: points (long)" in planned.stdout
    assert received(fast_sandbox, "lists/subscribe") == {}


@pytest.mark.slow
def test_sigkill_then_resume_loses_nothing(
    tmp_path, cli_env, fast_sandbox, workbench_home
):
    rows = people(1200)
    source = write_csv(tmp_path / "big.csv", rows, PEOPLE_COLUMNS)
    mapping_file = tmp_path / "mapping.json"
    mapping(None).save(mapping_file)
    fast_sandbox.set_faults(Faults(latency_ms=60))
    command = [sys.executable, "-m", "mapping", "sync", "--input", str(source), "--mapping",
               str(mapping_file), "--base-url", fast_sandbox.base_url, "--batch-size", "20",
               "--rate", "40", "--workers", "3"]
    process = subprocess.Popen(command, cwd=REPO, env=cli_env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    journal_path = workbench_home / "journal.sqlite"
    run_id, answered_before = _wait_for_progress(journal_path, at_least=300)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()

    with Journal(journal_path) as journal:
        run = journal.get_run(run_id)
        assert run.state == "interrupted"
        acknowledged = {r.row: r.identifier for r in journal.rows(run_id, ["sent"])}
        in_flight = journal.rows_in_flight(run_id)
    assert len(acknowledged) >= answered_before
    assert len(acknowledged) < 1200
    at_kill = received(fast_sandbox, "users/bulkUpdate")

    fast_sandbox.set_faults(Faults())
    resumed = _cli(["sync", "--resume", run_id], env=cli_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "sent 1,200, rejected 0, skipped 0, failed 0" in resumed.stdout

    counts = received(fast_sandbox, "users/bulkUpdate")
    assert len(counts) == 1200
    for identifier in acknowledged.values():
        # Recorded as sent before the kill: the resume did not send it again.
        assert counts[identifier] == at_kill[identifier]
    with Journal(journal_path) as journal:
        rows = {r.row: r for r in journal.rows(run_id)}
        assert journal.counts(run_id)["sent"] == 1200
    # A user reached the sandbox twice only when its request was on the wire at the kill, or
    # when a retry followed a failure the sandbox had already applied (at-least-once).
    for row, record in rows.items():
        if counts[record.identifier] > 1:
            assert row in in_flight or record.attempts > 1


def _wait_for_progress(journal_path: Path, *, at_least: int) -> tuple[str, int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal_path.exists():
            with Journal(journal_path) as journal:
                runs = journal.list_runs()
                if runs:
                    sent = journal.counts(runs[0].run_id)["sent"]
                    if sent >= at_least:
                        return runs[0].run_id, sent
        time.sleep(0.05)
    raise AssertionError("the sync made no progress within 60 s")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+49 30", "'+49 30"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), (None, ""), ("a=b", "a=b")],
)
def test_formula_cells_are_escaped(value, expected):
    assert escape_cell(value) == expected


@pytest.mark.slow
def test_ctrl_c_marks_run_interrupted_and_names_resume(tmp_path, cli_env, fast_sandbox,
                                                      workbench_home):
    source = write_csv(tmp_path / "big.csv", people(1000), PEOPLE_COLUMNS)
    mapping_file = tmp_path / "mapping.json"
    mapping(None).save(mapping_file)
    fast_sandbox.set_faults(Faults(latency_ms=60))
    command = [sys.executable, "-m", "mapping", "sync", "--input", str(source), "--mapping",
               str(mapping_file), "--base-url", fast_sandbox.base_url, "--batch-size", "20",
               "--rate", "30"]
    process = subprocess.Popen(command, cwd=REPO, env=cli_env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    run_id, _ = _wait_for_progress(workbench_home / "journal.sqlite", at_least=100)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130
    assert f"python -m mapping sync --resume {run_id}" in stderr
    with Journal(workbench_home / "journal.sqlite") as journal:
        assert journal.get_run(run_id).state == "interrupted"
        assert journal.request_counts(run_id)["unanswered_batches"] == 0
        assert journal.counts(run_id)["pending"] > 0
