"""Preview, Sync and Sandbox pages, and the whole flow Connect -> Submissions -> Mapping -> Sync."""

from __future__ import annotations

import csv
import io
import json
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from mapping.config import MappingConfig
from mapping.iterable import IterableClient
from mapping.sync import Journal, run_sync
from tests.app.conftest import (
    APP_PATH,
    connect_iterable,
    connected_with_file,
    errors_of,
    logged_in,
    open_mapping,
    page_texts,
    table_with_column,
    upload_submissions,
)
from ui.connection import local_sandbox
from ui.run_files import export_to_bytes
from ui.uploads import bundled_samples

LIST_ID = 102


def open_page(at, name):
    return at.switch_page(f"app_pages/{name}.py").run()


def wait_for_run_end(at, timeout=60.0):
    """Rerun the Sync page until the followed run has ended (the fragment would poll)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if not any(header.value.endswith("is running") for header in at.subheader):
            return at
        time.sleep(0.2)
    raise AssertionError("the run did not end in time")


def metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_preview_shows_counts_body_and_issues(app):
    connected_with_file(app)
    open_mapping(app)
    app.selectbox(key="mapping_list").set_value(LIST_ID).run()
    open_page(app, "4_preview")
    assert not app.exception
    assert not errors_of(app)
    assert metrics(app)["Would be sent"] == "2"
    assert metrics(app)["Merged (duplicates)"] == "1"
    body = json.loads(app.code[0].value)
    assert body["listId"] == LIST_ID
    # Row 1 is merged into its later duplicate (row 4), so the first body shown is row 2's.
    assert body["subscribers"][0]["email"] == "bob@example.org"
    assert any(warning.value.startswith("Not sent") for warning in app.warning)
    issues = table_with_column(app, "message")
    assert set(issues["code"]) >= {"invalid_email", "duplicate"}


def test_preview_filters_issues_and_picks_rows(app):
    connected_with_file(app)
    open_mapping(app)
    open_page(app, "4_preview")
    app.multiselect(key="preview_issue_codes").set_value(["invalid_email"]).run()
    assert set(table_with_column(app, "message")["code"]) == {"invalid_email"}
    app.radio(key="preview_mode").set_value("Rows with issues").run()
    assert any("Not sent" in warning.value for warning in app.warning)
    app.radio(key="preview_mode").set_value("One row").run()
    app.number_input(key="preview_row").set_value(2).run()
    assert json.loads(app.code[0].value)["users"][0]["email"] == "bob@example.org"


def test_preview_asks_for_email_first(app):
    connected_with_file(app, content=b"Name,City\nAnn,Paris\n")
    open_mapping(app)
    open_page(app, "4_preview")
    assert any("email is not mapped" in warning.value for warning in app.warning)


def test_sync_page_without_a_file_explains_what_is_missing(app):
    logged_in(app)
    open_page(app, "5_sync")
    assert "connect a project, load a file and map it first" in page_texts(app)


def test_full_flow_syncs_users_into_the_sandbox_list(app):
    connected_with_file(app)
    open_mapping(app)
    app.selectbox(key="mapping_list").set_value(LIST_ID).run()
    app.text_input(key="mapping_static_name").input("signupSource")
    app.text_input(key="mapping_static_value").input("claspo")
    app.button(key="mapping_static_add").click().run()

    open_page(app, "5_sync")
    app.button(key="sync_dry_run").click().run()
    assert metrics(app)["Would be sent"] == "2"
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    assert not errors_of(app)
    result = metrics(app)
    assert result["Sent"] == "2"
    assert result["Skipped"] == "2"
    assert app.download_button(key="sync_download_failed") is not None

    sandbox = local_sandbox()
    with IterableClient(sandbox.api_key, base_url=sandbox.base_url) as client:
        user = client.get_user_by_email("ann@example.com")
        assert client.list_size(LIST_ID) == 2
    assert user["dataFields"]["signupSource"] == "claspo"
    assert user["dataFields"]["firstName"] == "Ann again"  # the last duplicate wins

    open_page(app, "6_sandbox")
    lists = table_with_column(app, "users")
    assert int(lists.loc[lists["id"] == LIST_ID, "users"].iloc[0]) == 2
    app.text_input(key="sandbox_user_email").input("bob@example.org")
    next(button for button in app.button if button.label == "Look up").click().run()
    assert json.loads(app.code[0].value)["email"] == "bob@example.org"


def test_run_shows_again_after_the_session_is_lost(app):
    connected_with_file(app)
    open_mapping(app)
    open_page(app, "5_sync")
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    run_id = app.session_state["wb_run_id"]
    # A reload starts a new session: the history still lists the run, and Show opens it.
    del app.session_state["wb_run_id"]
    app.run()
    assert run_id in set(table_with_column(app, "run")["run"])
    app.selectbox(key="sync_history_run").set_value(run_id)
    app.button(key="sync_history_show").click().run()
    assert f"Run {run_id}: finished" in [header.value for header in app.subheader]


def test_retry_failed_without_failed_rows_says_so(app):
    connected_with_file(app)
    open_mapping(app)
    open_page(app, "5_sync")
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    app.button(key="sync_retry").click().run()
    assert any("nothing to retry" in error for error in errors_of(app))


def test_sandbox_page_needs_the_sandbox(app):
    logged_in(app)
    open_page(app, "6_sandbox")
    assert "Choose Sandbox (local) on the Connect page" in page_texts(app)


@pytest.mark.skipif(not bundled_samples(), reason="sample_data/ has no sample file yet")
def test_bundled_sample_with_its_mapping_file_syncs(app):
    logged_in(app)
    app.button(key="connect_sandbox").click().run()
    open_page(app, "2_submissions")
    app.button(key="submissions_load_sample").click().run()
    open_mapping(app)
    mapping_file = bundled_samples()[0].parent / "mapping.json"
    app.file_uploader(key="mapping_upload").upload(
        "mapping.json", mapping_file.read_bytes(), "application/json").run()
    assert not errors_of(app)
    open_page(app, "5_sync")
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    sent = int(metrics(app)["Sent"].replace(",", ""))
    assert sent >= 300
    sandbox = local_sandbox()
    with IterableClient(sandbox.api_key, base_url=sandbox.base_url) as client:
        assert client.list_size(app.session_state["wb_mapping"].list_id) == sent


def test_read_only_key_is_diagnosed_when_the_sync_writes(app, iterable_at_sandbox):
    iterable_at_sandbox.add_key("read-only-key-000000000000", "read_only", "us")
    logged_in(app)
    connect_iterable(app, "read-only-key-000000000000")
    upload_submissions(app)
    open_mapping(app)
    open_page(app, "5_sync")
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    shown = " ".join(errors_of(app))
    assert "read" in shown, shown
    assert "write" in shown, shown
    assert "read-only-key-000000000000" not in page_texts(app)


def test_dry_run_dropped_after_changes(app):
    connected_with_file(app)
    open_mapping(app)
    open_page(app, "5_sync")
    app.button(key="sync_dry_run").click().run()
    assert metrics(app)["Would be sent"] == "2"
    app.run()
    assert "Would be sent" in metrics(app)  # kept while nothing changed

    open_mapping(app)
    app.selectbox(key="mapping_list").set_value(LIST_ID).run()
    open_page(app, "5_sync")
    assert "Would be sent" not in metrics(app)

    app.button(key="sync_dry_run").click().run()
    assert metrics(app)["Would be sent"] == "2"
    upload_submissions(app, "three.csv", b"Email\nx@example.com\ny@example.com\nz@example.com\n")
    open_page(app, "5_sync")
    assert "Would be sent" not in metrics(app)
    app.button(key="sync_dry_run").click().run()
    assert metrics(app)["Would be sent"] == "3"


def history_choice(at) -> str:
    return at.selectbox(key="sync_history_run").value


def test_history_picker_follows_session_run(app):
    connected_with_file(app)
    open_mapping(app)
    open_page(app, "5_sync")
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    first = app.session_state["wb_run_id"]
    assert history_choice(app) == first

    # Another browser session starts a newer run; this session still shows its own.
    other = AppTest.from_file(str(APP_PATH), default_timeout=60)
    logged_in(other)  # restores the sandbox, the file and the mapping
    open_page(other, "5_sync")
    other.button(key="sync_start").click().run()
    wait_for_run_end(other)
    second = other.session_state["wb_run_id"]
    app.run()
    assert history_choice(app) == first

    # A new run of this session becomes the picker's choice.
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    third = app.session_state["wb_run_id"]
    assert third not in (first, second)
    assert history_choice(app) == third


def test_not_sent_export_row_and_message(app):
    connected_with_file(app)
    open_mapping(app)
    open_page(app, "5_sync")
    app.button(key="sync_start").click().run()
    wait_for_run_end(app)
    run_id = app.session_state["wb_run_id"]
    with Journal() as journal:
        text = export_to_bytes(journal, run_id, ("failed", "rejected", "skipped")).decode()
    records = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["Email", "First name", "Phone number", "Country code", "Browser",
                      "Subscribed at", "row", "status", "reason", "message"]
    by_row = {record["row"]: record for record in records}
    assert by_row["3"]["Email"] == "not an email"
    assert by_row["3"]["reason"] == "invalid_email"
    assert by_row["3"]["message"]  # a sentence, not only the code
    assert by_row["1"]["status"] == "skipped"  # merged into its later duplicate, row 4


def test_stopped_run_shows_rows_not_reached(app, tmp_path):
    connected_with_file(app)
    open_mapping(app)
    source = tmp_path / "submissions.csv"
    source.write_bytes(app.session_state["wb_submissions"].content)
    config = app.session_state["wb_mapping"]
    assert isinstance(config, MappingConfig)
    stopped = threading.Event()
    stopped.set()  # stop before the first batch: every sendable row stays unsent
    sandbox = local_sandbox()
    run_sync(source, config, api_key=sandbox.api_key, base_url=sandbox.base_url, stop=stopped)

    open_page(app, "5_sync")
    app.button(key="sync_history_show").click().run()

    shown = metrics(app)
    assert shown["Sent"] == "0"
    assert shown["Not yet sent"] == "4"  # the whole file: nothing was read before the stop
    assert "not reached" in page_texts(app)
