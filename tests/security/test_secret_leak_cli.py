"""Secret-leak test, command line: a full sync with a recognisable fake key leaves no trace of it.

A fake key ("leakcheck-" + 24 hex digits) is registered in a sandbox. `python -m mapping -v sync`
runs against it as a subprocess with WORKBENCH_HOME in a temporary folder. Then come a dry run,
`runs`, `runs show --export-failed`, and two failing syncs (unknown list, unregistered key).
Afterwards every file under WORKBENCH_HOME and the work folder (journal bytes, logs, mapping,
exported CSV) and everything printed are searched for the key: zero hits. The log lines must
name rows by run id and row number, never by email address. The failed-row report may contain
only what the input file contained.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security._leak_sample import EMAILS, HEADER, MAPPING, ROWS
from tests.security._leaks import find_in_files, find_in_text, fingerprint, new_fake_key

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d+ [A-Z]+ [\w.]+: ", re.MULTILINE)

@dataclass
class Outcome:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def work(tmp_path, workbench_home, sandbox):
    key = new_fake_key()
    sandbox.add_key(key, "server_side")
    folder = tmp_path / "work"
    (folder / "temp").mkdir(parents=True)
    with (folder / "submissions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    (folder / "mapping.json").write_text(json.dumps(MAPPING), encoding="utf-8")
    wrong_list = dict(MAPPING, list_id=987654)
    (folder / "wrong-list.json").write_text(json.dumps(wrong_list), encoding="utf-8")
    return {"key": key, "folder": folder, "home": workbench_home, "sandbox": sandbox}


def run_cli(args: list[str], *, key: str | None, home: Path, cwd: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if k != "ITERABLE_API_KEY"}
    env["WORKBENCH_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    env["TMPDIR"] = str(cwd / "temp")  # Temporary files land in the searched folder.
    if key is not None:
        env["ITERABLE_API_KEY"] = key
    command = [sys.executable, "-m", "mapping", "-v", *args]
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=150, check=False
    )
    return Outcome(command, done.returncode, done.stdout, done.stderr)


def run_ids(home: Path) -> list[str]:
    with sqlite3.connect(home / "journal.sqlite") as connection:
        return [row[0] for row in connection.execute("SELECT run_id FROM runs ORDER BY started_at")]


def test_cli_sync_leaves_no_trace_of_the_key(work):
    key, folder, home, sandbox = work["key"], work["folder"], work["home"], work["sandbox"]
    sync_args = ["sync", "--input", str(folder / "submissions.csv"), "--base-url",
                 sandbox.base_url, "--no-progress"]
    outcomes = [run_cli([*sync_args, "--mapping", str(folder / "mapping.json")],
                        key=key, home=home, cwd=folder)]
    assert outcomes[0].returncode in (0, 3), outcomes[0]
    first_run = run_ids(home)[0]
    dry_run = run_cli([*sync_args, "--dry-run", "--mapping", str(folder / "mapping.json")],
                      key=key, home=home, cwd=folder)
    assert dry_run.returncode == 0, dry_run

    report = folder / "failed-rows.csv"
    outcomes.append(run_cli(["runs"], key=None, home=home, cwd=folder))
    outcomes.append(run_cli(["runs", "show", first_run, "--json", "--export-failed", str(report)],
                            key=None, home=home, cwd=folder))
    outcomes.append(run_cli([*sync_args, "--mapping", str(folder / "wrong-list.json")],
                            key=key, home=home, cwd=folder))
    wrong_key = new_fake_key()
    outcomes.append(run_cli([*sync_args, "--mapping", str(folder / "mapping.json")],
                            key=wrong_key, home=home, cwd=folder))
    assert outcomes[3].returncode != 0, outcomes[3]
    assert outcomes[4].returncode != 0, outcomes[4]

    outcomes.append(dry_run)
    for outcome in outcomes:
        for secret in (key, wrong_key):
            assert find_in_text(outcome.stdout + outcome.stderr, secret) == [], (
                f"{outcome.command[3:5]} printed the key"
            )
    for secret in (key, wrong_key):
        assert find_in_files(secret, home, folder) == {}
    assert (home / "journal.sqlite").exists()
    assert report.exists()

    printed = "".join(outcome.stderr + outcome.stdout for outcome in outcomes)
    assert fingerprint(key) in printed or fingerprint(key) in journal_text(home), (
        "the key is named by its fingerprint somewhere"
    )
    check_logs_name_rows_not_emails(outcomes, home)
    check_failed_row_report(report)


def journal_text(home: Path) -> str:
    return (home / "journal.sqlite").read_bytes().decode("utf-8", "replace")


def check_logs_name_rows_not_emails(outcomes: list[Outcome], home: Path) -> None:
    log_lines = [line for outcome in outcomes for line in outcome.stderr.splitlines()
                 if LOG_LINE.match(line)]
    log_lines += [line for path in sorted((home / "logs").glob("*")) if path.is_file()
                  for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    assert log_lines, "verbose mode logged nothing"
    for email in EMAILS:
        leaking = [line for line in log_lines if email.split("@")[0] in line]
        assert leaking == [], f"log lines name a person by email: {leaking[:3]}"


def check_failed_row_report(report: Path) -> None:
    with report.open(newline="", encoding="utf-8-sig") as handle:
        table = list(csv.reader(handle))
    header, body = table[0], table[1:]
    assert header[: len(HEADER)] == HEADER, header
    extra = header[len(HEADER):]
    assert extra == ["row", "status", "reason", "message"], (
        f"the report adds more than the row's number, status, reason and message: {extra}"
    )
    originals = {tuple(unescaped(cell) for cell in row) for row in ROWS}
    assert body, "the run had skipped rows; the report lists none"
    for row in body:
        assert tuple(unescaped(cell) for cell in row[: len(HEADER)]) in originals, row
        for cell in row[: len(HEADER)]:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (
                f"formula-like cell not escaped: {cell!r}"
            )


def unescaped(cell: str) -> str:
    """The cell as the input file had it, without the apostrophe the export adds."""
    if cell.startswith("'") and cell[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return cell[1:]
    return cell
