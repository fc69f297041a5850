"""The sync engine against the sandbox over loopback HTTP: outcomes, faults, stops, resumes."""

from __future__ import annotations

import threading

import httpx
import pytest

from mapping.iterable import IterableClient
from mapping.iterable.sandbox import Faults
from mapping.sync import (
    Journal,
    SyncConfigError,
    Target,
    create_run,
    dry_run,
    execute_run,
    prepare_resume,
    prepare_retry,
    progress,
    start_run_in_thread,
    wait_for_run,
)
from tests.sync.support import (
    PEOPLE_COLUMNS,
    admin_get,
    admin_post,
    mapping,
    people,
    received,
    sandbox_user,
    write_csv,
)


def _run(tmp_path, rows, config, target, journal, settings, **kwargs):
    source = write_csv(tmp_path / "in.csv", rows, PEOPLE_COLUMNS)
    run_id = create_run(source, config, target, journal=journal, settings=settings)
    return execute_run(run_id, target, journal=journal, **kwargs)


def test_run_sends_every_row_to_list(tmp_path, fast_sandbox, target, journal,
                                                quick_settings):
    summary = _run(tmp_path, people(10), mapping(101), target, journal, quick_settings)

    assert summary.state == "finished"
    assert summary.all_sent
    assert summary.counts["sent"] == 10
    assert summary.batches == 3
    members = admin_get(fast_sandbox, "/_sandbox/users", listId=101)
    assert members["total"] == 10
    user = sandbox_user(fast_sandbox, "person3@example.com")
    assert user["dataFields"]["firstName"] == "Name 3"
    assert user["dataFields"]["points"] == 3
    assert set(received(fast_sandbox, "lists/subscribe").values()) == {1}


def test_run_rejects_rows_named_in_buckets(
    tmp_path, fast_sandbox, target, journal, quick_settings
):
    admin_post(fast_sandbox, "/_sandbox/forget", {"email": "person2@example.com"})
    rows = people(6)
    rows[2]["Email"] = "PERSON2@Example.com"  # matched case-insensitively
    rows[4]["Email"] = "not-an-email"  # caught before sending
    summary = _run(tmp_path, rows, mapping(None), target, journal, quick_settings)

    statuses = {r.row: (r.status, r.reason) for r in journal.rows(summary.run_id)}
    assert statuses[3] == ("rejected", "forgotten")
    assert statuses[5] == ("skipped", "invalid_email")
    assert sum(summary.counts.values()) == 6
    assert summary.counts["sent"] == 4
    assert summary.reasons == {"rejected": {"forgotten": 1}, "skipped": {"invalid_email": 1}}
    assert not summary.all_sent


def test_type_conflict_bisects_to_rows(
    tmp_path, fast_sandbox, target, journal, quick_settings
):
    rows = people(8)
    for index in (1, 2, 3, 5, 6):
        rows[index]["Points"] = ""  # no value: the field is left out of these users
    source = write_csv(tmp_path / "in.csv", rows, PEOPLE_COLUMNS)
    settings = quick_settings.merged({"batch_size": 8})
    run_id = create_run(source, mapping(None), target, journal=journal, settings=settings)
    # Someone creates `points` as a string after the run read the project's fields.
    with IterableClient(fast_sandbox.api_key, base_url=fast_sandbox.base_url) as client:
        client.update_user(email="other@example.com", data_fields={"points": "many"})

    summary = execute_run(run_id, target, journal=journal)

    outcome = {r.row: r for r in journal.rows(run_id)}
    for row in (1, 5, 8):
        assert outcome[row].status == "rejected"
        assert outcome[row].reason == "type_mismatch"
        assert "points" in outcome[row].message
        assert "string" in outcome[row].message
    assert all(outcome[row].status == "sent" for row in (2, 3, 4, 6, 7))
    assert summary.requests > summary.batches
    assert sandbox_user(fast_sandbox, "person3@example.com") is not None
    assert sandbox_user(fast_sandbox, "person4@example.com") is None


def test_retry_failed_sends_failed_rows(
    tmp_path, fast_sandbox, target, journal, quick_settings
):
    source = write_csv(tmp_path / "in.csv", people(5), PEOPLE_COLUMNS)
    run_id = create_run(source, mapping(101), target, journal=journal,
                        settings=quick_settings.merged({"max_attempts": 2}))
    fast_sandbox.set_faults(Faults(error_5xx_rate=1.0))
    summary = execute_run(run_id, target, journal=journal)
    assert summary.state == "finished"
    assert summary.counts["failed"] == 5
    assert summary.reasons == {"failed": {"server_error": 5}}
    assert all(r.attempts == 2 for r in journal.rows(summary.run_id))

    fast_sandbox.set_faults(Faults())
    retry_id = prepare_retry(summary.run_id, target, journal=journal)
    retried = execute_run(retry_id, target, journal=journal)
    assert retried.all_sent
    assert retried.total_rows == 5
    assert retried.parent_run_id == summary.run_id
    assert journal.counts(summary.run_id)["failed"] == 5  # the first run's record is kept
    with pytest.raises(SyncConfigError, match="nothing to retry"):
        prepare_retry(retry_id, target, journal=journal)


def test_unknown_list_stops_run(
    tmp_path, fast_sandbox, target, journal, quick_settings
):
    source = write_csv(tmp_path / "in.csv", people(6), PEOPLE_COLUMNS)
    run_id = create_run(source, mapping(999), target, journal=journal, settings=quick_settings)
    summary = execute_run(run_id, target, journal=journal)
    assert summary.state == "failed"
    assert "999" in summary.last_error
    assert f"--resume {run_id}" in summary.last_error
    assert journal.counts(run_id)["pending"] == 6

    with pytest.raises(SyncConfigError, match="mapping changed"):
        prepare_resume(run_id, target, journal=journal, config=mapping(101))


def test_resume_sends_no_row_twice(
    tmp_path, fast_sandbox, target, journal, quick_settings
):
    source = write_csv(tmp_path / "in.csv", people(40), PEOPLE_COLUMNS)
    run_id = create_run(source, mapping(None), target, journal=journal,
                        settings=quick_settings.merged({"workers": 2}))
    stop = threading.Event()

    def stop_after_some(current):
        if current.counts["sent"] >= 8:
            stop.set()

    first = execute_run(run_id, target, journal=journal, on_progress=stop_after_some, stop=stop)
    assert first.state == "interrupted"
    assert 8 <= first.counts["sent"] < 40
    assert first.counts["pending"] > 0

    prepare_resume(run_id, target, journal=journal)
    second = execute_run(run_id, target, journal=journal)
    assert second.state == "finished"
    assert second.counts["sent"] == 40
    counts = received(fast_sandbox, "users/bulkUpdate")
    assert len(counts) == 40
    assert set(counts.values()) == {1}


def test_resume_reads_moved_input(tmp_path, fast_sandbox, target, journal, quick_settings):
    source = write_csv(tmp_path / "in.csv", people(12), PEOPLE_COLUMNS)
    run_id = create_run(source, mapping(101), target, journal=journal,
                        settings=quick_settings.merged({"workers": 1}))
    stop = threading.Event()
    first = execute_run(run_id, target, journal=journal, stop=stop,
                        on_progress=lambda current: stop.set() if current.done else None)
    assert first.state == "interrupted"
    moved = source.rename(tmp_path / "moved.csv")
    with pytest.raises(SyncConfigError, match="cannot read the input file"):
        prepare_resume(run_id, target, journal=journal)

    prepare_resume(run_id, target, journal=journal, input_path=moved)
    resumed = execute_run(run_id, target, journal=journal)
    assert resumed.state == "finished"
    assert resumed.counts["sent"] == 12
    assert journal.get_run(run_id).input_path == str(moved)


def test_resume_rejects_changed_input(tmp_path, fast_sandbox, target, journal,
                                             quick_settings):
    source = write_csv(tmp_path / "in.csv", people(5), PEOPLE_COLUMNS)
    run_id = create_run(source, mapping(999), target, journal=journal, settings=quick_settings)
    execute_run(run_id, target, journal=journal)
    write_csv(source, people(6), PEOPLE_COLUMNS)
    with pytest.raises(SyncConfigError, match="input file changed"):
        prepare_resume(run_id, target, journal=journal)


def test_resume_rejects_finished_run(tmp_path, fast_sandbox, target, journal,
                                          quick_settings):
    summary = _run(tmp_path, people(2), mapping(101), target, journal, quick_settings)
    with pytest.raises(SyncConfigError, match="already finished.*--retry-failed"):
        prepare_resume(summary.run_id, target, journal=journal)


def test_summary_lists_created_and_dropped_fields(tmp_path, fast_sandbox, target, journal,
                                                     quick_settings):
    created = _run(tmp_path, people(3), mapping(None), target, journal, quick_settings)
    assert created.created_fields == ["points"]

    fast_sandbox.set_drop_unknown_fields(True)
    config = mapping(None).model_copy(deep=True)
    config.fields[1].target = "nickname"
    rows = people(3, start=10)
    source = write_csv(tmp_path / "second.csv", rows, PEOPLE_COLUMNS)
    run_id = create_run(source, config, target, journal=journal, settings=quick_settings)
    dropped = execute_run(run_id, target, journal=journal)
    assert dropped.filtered_out_fields == ["nickname"]


def test_duplicates_across_chunks_send_last(tmp_path, fast_sandbox, target,
                                                         journal, quick_settings):
    rows = people(12)
    rows[10]["Email"] = "PERSON1@example.com"
    rows[10]["First name"] = "Later"
    summary = _run(tmp_path, rows, mapping(101), target, journal,
                   quick_settings.merged({"chunksize": 5}))
    statuses = {r.row: (r.status, r.reason) for r in journal.rows(summary.run_id)}
    assert statuses[2] == ("skipped", "duplicate")
    assert statuses[11] == ("sent", None)
    assert sandbox_user(fast_sandbox, "person1@example.com")["dataFields"]["firstName"] == "Later"


def test_thread_run_progress_from_journal(tmp_path, fast_sandbox,
                                                           quick_settings):
    source = write_csv(tmp_path / "in.csv", people(20), PEOPLE_COLUMNS)
    journal_path = tmp_path / "app-journal.sqlite"
    run_id = start_run_in_thread(
        source, mapping(101), api_key=fast_sandbox.api_key, base_url=fast_sandbox.base_url,
        settings=quick_settings, journal_path=journal_path,
    )
    assert wait_for_run(run_id, timeout=60)
    final = progress(run_id, journal_path)
    assert final.state == "finished"
    assert final.counts["sent"] == 20
    assert final.fraction == 1.0


def test_dry_run_sends_nothing(tmp_path, fast_sandbox, target, quick_settings):
    rows = people(9)
    rows[0]["Email"] = "broken"
    source = write_csv(tmp_path / "in.csv", rows, PEOPLE_COLUMNS)
    report = dry_run(source, mapping(None), target=target, settings=quick_settings)
    assert (report.total_rows, report.sendable_rows, report.skipped_rows) == (9, 8, 1)
    assert report.batches == 2
    assert report.new_fields == {"points": "long"}
    assert report.skipped_reasons == {"invalid_email": 1}
    endpoints = admin_get(fast_sandbox, "/_sandbox/requests")["endpoints"]
    assert set(endpoints) == {"GET /api/users/getFields"}


# ------------------------------------------------------------------ faults the sandbox lacks


class ScriptedIterable:
    """A mock transport: getFields succeeds, then each write gets the next scripted response."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.writes = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/users/getFields":
            return httpx.Response(200, json={"fields": {"email": "string"}})
        with self.lock:
            self.writes += 1
            answer = self.answers.pop(0) if self.answers else self.answers_default()
        return answer

    @staticmethod
    def answers_default():
        return httpx.Response(200, json={"successCount": 1, "failCount": 0})


def _scripted_target(answers):
    script = ScriptedIterable(answers)
    return Target("test-key-not-real", base_url="http://127.0.0.1:9",
                  transport=httpx.MockTransport(script)), script


def test_revoked_key_stops_run_keeps_outcomes(tmp_path, journal,
                                                                 quick_settings):
    ok = httpx.Response(200, json={"successCount": 4, "failCount": 0})
    bad_key = httpx.Response(401, json={"msg": "Invalid API key", "code": "BadApiKey",
                                        "params": {}})
    target, script = _scripted_target([ok, bad_key])
    source = write_csv(tmp_path / "in.csv", people(12), PEOPLE_COLUMNS)
    settings = quick_settings.merged({"workers": 1})
    run_id = create_run(source, mapping(None), target, journal=journal, settings=settings)
    summary = execute_run(run_id, target, journal=journal)

    assert summary.state == "failed"
    assert "key" in summary.last_error.lower()
    assert summary.counts["sent"] == 4
    assert summary.counts["pending"] == 8
    assert script.writes == 2  # nothing after the 401

    resumed_target, _ = _scripted_target([])
    prepare_resume(run_id, resumed_target, journal=journal)
    resumed = execute_run(run_id, resumed_target, journal=journal)
    assert resumed.state == "finished"
    assert resumed.counts["sent"] == 12


def test_retry_after_then_row_sent(tmp_path, fast_sandbox, target, journal, quick_settings):
    source = write_csv(tmp_path / "in.csv", people(12), PEOPLE_COLUMNS)
    settings = quick_settings.merged({"max_attempts": 20})
    run_id = create_run(source, mapping(None), target, journal=journal, settings=settings)
    fast_sandbox.set_faults(Faults(error_429_rate=0.5, retry_after_seconds=0.01, seed=7))
    summary = execute_run(run_id, target, journal=journal)
    assert summary.all_sent
    assert summary.requests > summary.batches
    assert max(r.attempts for r in journal.rows(run_id)) > 1


def test_rate_limit_to_the_end_fails_rows(tmp_path, fast_sandbox, target, journal,
                                          quick_settings):
    source = write_csv(tmp_path / "in.csv", people(2), PEOPLE_COLUMNS)
    run_id = create_run(source, mapping(None), target, journal=journal, settings=quick_settings)
    fast_sandbox.set_faults(Faults(error_429_rate=1.0))
    summary = execute_run(run_id, target, journal=journal)
    assert summary.reasons == {"failed": {"rate_limited": 2}}
    assert summary.state == "finished"


def test_journal_and_logs_hold_no_secrets(tmp_path, fast_sandbox, quick_settings,
                                                    caplog):
    secret = "recognisable-fake-key-7c1d2e3f4a5b"
    fast_sandbox.add_key(secret, "server_side")
    target = Target(secret, base_url=fast_sandbox.base_url)
    journal_path = tmp_path / "secret-check.sqlite"
    caplog.set_level("DEBUG", logger="mapping.sync")
    with Journal(journal_path) as journal:
        summary = _run(tmp_path, people(6), mapping(101), target, journal, quick_settings)
        assert summary.all_sent
        assert journal.get_run(summary.run_id).key_fingerprint
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("secret-check.sqlite*"))
    assert secret.encode() not in stored
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert secret not in logged
    assert "@example.com" not in logged
    assert summary.run_id in logged


def test_oversized_row_skipped_others_sent(tmp_path, fast_sandbox, target, journal,
                                           quick_settings):
    rows = people(5)
    rows[2]["First name"] = "x" * 3000
    settings = quick_settings.merged({"max_body_bytes": 2000})
    summary = _run(tmp_path, rows, mapping(101), target, journal, settings)
    statuses = {r.row: (r.status, r.reason) for r in journal.rows(summary.run_id)}
    assert statuses[3] == ("skipped", "value_too_long")
    assert summary.counts["sent"] == 4
    assert summary.state == "finished"


def test_stop_before_send_leaves_rows_unsent(tmp_path, fast_sandbox, target, journal,
                                            quick_settings):
    stopped = threading.Event()
    stopped.set()

    summary = _run(tmp_path, people(10), mapping(101), target, journal, quick_settings,
                   stop=stopped)

    assert summary.state == "interrupted"
    assert summary.counts["sent"] == 0
    assert summary.total_rows == 10
    assert summary.not_yet_sent == 10
