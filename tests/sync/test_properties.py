"""Property tests: random inputs, random injected faults, random interruptions, then resumes.

When the run is over, every input row has exactly one final status and the counts add up.
Every row marked sent is in the sandbox with exactly its mapped fields. No row reached the
sandbox twice: the sandbox counts, per identifier, the accepted requests that carried it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping import submissions, transform
from mapping.iterable import IterableClient
from mapping.iterable.sandbox import Faults
from mapping.sync import Journal, SyncSettings, Target, create_run, execute_run, prepare_resume
from mapping.sync.journal import RETRYABLE_REASONS
from tests.sync.support import PEOPLE_COLUMNS, admin_post, mapping, received, sandbox_user, write_csv

ROW = st.fixed_dictionaries({
    "kind": st.sampled_from(["ok", "ok", "ok", "ok", "invalid", "forgotten"]),
    "name": st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=10),
    "points": st.one_of(st.none(), st.integers(-10**9, 10**9)),
    "upper": st.booleans(),
})

CASE = st.fixed_dictionaries({
    "rows": st.lists(ROW, min_size=1, max_size=30),
    "list_id": st.sampled_from([101, None]),
    "batch_size": st.integers(1, 6),
    "workers": st.integers(1, 3),
    "type_conflict": st.booleans(),
    "stop_after_rows": st.one_of(st.none(), st.integers(1, 25)),
    "faults": st.fixed_dictionaries({
        "error_429_rate": st.sampled_from([0.0, 0.1, 0.25]),
        "error_5xx_rate": st.sampled_from([0.0, 0.1, 0.2]),
        "drop_rate": st.sampled_from([0.0, 0.05, 0.1]),
        "seed": st.integers(0, 10_000),
    }),
})


@pytest.mark.slow
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=CASE)
def test_sync_random_faults_and_resumes(fast_sandbox, case):
    admin_post(fast_sandbox, "/_sandbox/reset", {})
    fast_sandbox.set_faults(Faults())
    with TemporaryDirectory() as folder:
        _check_case(fast_sandbox, Path(folder), case)


def _check_case(sandbox, folder: Path, case: dict) -> None:
    rows = _input_rows(case["rows"])
    source = write_csv(folder / "in.csv", rows, PEOPLE_COLUMNS)
    for index, spec in enumerate(case["rows"]):
        if spec["kind"] == "forgotten":
            admin_post(sandbox, "/_sandbox/forget", {"email": f"person{index}@example.com"})
    config = mapping(case["list_id"])
    target = Target(sandbox.api_key, base_url=sandbox.base_url)
    run_settings = SyncSettings(
        batch_size=case["batch_size"], workers=case["workers"], rate=1000, max_attempts=12,
        backoff_base=0.001, backoff_cap=0.005, max_retry_after=0.01, chunksize=7,
    )
    with Journal(folder / "journal.sqlite") as journal:
        run_id = create_run(source, config, target, journal=journal, settings=run_settings)
        if case["type_conflict"]:
            _create_points_as_string(sandbox)
        sandbox.set_faults(Faults(**case["faults"]))
        _run_to_the_end(run_id, target, journal, case["stop_after_rows"])
        sandbox.set_faults(Faults())
        _check_outcomes(sandbox, journal, run_id, source, config, case)


def _input_rows(specs: list[dict]) -> list[dict]:
    rows = []
    for index, spec in enumerate(specs):
        email = f"person{index}@example.com"
        if spec["upper"]:
            email = email.capitalize().replace("example", "Example")
        if spec["kind"] == "invalid":
            email = f"person{index} at example.com"
        points = "" if spec["points"] is None else str(spec["points"])
        rows.append({"Email": email, "First name": spec["name"], "Points": points})
    return rows


def _create_points_as_string(sandbox) -> None:
    with IterableClient(sandbox.api_key, base_url=sandbox.base_url) as client:
        client.update_user(email="someone.else@example.com", data_fields={"points": "many"})


def _run_to_the_end(run_id, target, journal, stop_after_rows) -> None:
    stop = threading.Event()

    def maybe_stop(progress):
        if stop_after_rows is not None and progress.done >= stop_after_rows:
            stop.set()

    summary = execute_run(run_id, target, journal=journal, on_progress=maybe_stop, stop=stop)
    for _ in range(10):
        if summary.state != "interrupted":
            break
        prepare_resume(run_id, target, journal=journal)
        summary = execute_run(run_id, target, journal=journal)
    assert summary.state == "finished", summary


def _check_outcomes(sandbox, journal, run_id, source, config, case) -> None:
    records = list(journal.rows(run_id))
    total = len(case["rows"])
    counts = journal.counts(run_id)
    assert [r.row for r in records] == list(range(1, total + 1))
    assert counts["pending"] == 0
    assert sum(counts.values()) == total

    expected = _mapped_items(source, config, journal.get_run(run_id).project_fields)
    sent_identifiers = set()
    for record, spec in zip(records, case["rows"], strict=True):
        _check_status(record, spec, case)
        if record.status == "sent":
            sent_identifiers.add(record.identifier)
            _check_in_sandbox(sandbox, expected[record.row], case["list_id"])

    endpoint = "lists/subscribe" if case["list_id"] else "users/bulkUpdate"
    counts_received = received(sandbox, endpoint)
    assert set(counts_received) == sent_identifiers
    assert set(counts_received.values()) <= {1}


def _check_status(record, spec, case) -> None:
    if record.status == "failed":
        assert record.reason in RETRYABLE_REASONS
        return
    if spec["kind"] == "invalid":
        assert (record.status, record.reason) == ("skipped", "invalid_email")
    elif spec["kind"] == "forgotten":
        assert (record.status, record.reason) == ("rejected", "forgotten")
    elif case["type_conflict"] and spec["points"] is not None:
        assert record.status == "rejected"
        assert record.reason in ("type_mismatch", "invalid_data")
    else:
        assert record.status == "sent", record


def _mapped_items(source, config, project_fields) -> dict[int, dict]:
    frame = submissions.load(source).frame
    result = transform.apply(frame, config, project_fields)
    return {row: item for row, item in zip(result.row_numbers, result.items, strict=True)}


def _check_in_sandbox(sandbox, item: dict, list_id) -> None:
    user = sandbox_user(sandbox, item["email"])
    assert user is not None, item["email"]
    assert user["dataFields"] == {**item.get("dataFields", {}), "email": item["email"]}
    if list_id:
        assert list_id in user["listIds"]
