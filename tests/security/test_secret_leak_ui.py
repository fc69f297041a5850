"""Secret-leak test, app: a full sync through the pages leaves no trace of the key.

The app runs in streamlit's AppTest with WORKBENCH_ITERABLE_BASE_URL pointing its "Iterable"
connections at a loopback sandbox, where a fake key is registered. After login the test
connects with that key on the Connect page, uploads a CSV on Submissions, sets the mapping, and
runs the Preview page, a dry run and a real sync to the end. Then it tries a wrong key on the
Connect page, and a session whose key was revoked after Connect tries a dry run and a sync.

Every text element of every page run, the log records, every file under WORKBENCH_HOME
(journal, logs, stored inputs), the temporary folder and the failed-row export are searched.
None may contain a trace of either key, and the only visible form is the masked one (the last
four characters).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mapping.config import MappingConfig
from tests.security._leak_sample import EMAILS, HEADER, MAPPING, ROWS
from tests.security._leaks import find_in_files, find_in_text, fingerprint, new_fake_key
from ui import auth
from ui.connection import stop_local_sandboxes
from ui.credentials import write_credentials_file
from ui.records import Connection
from ui.throttle import LoginThrottle

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
USERNAME = "leak-analyst"
PASSWORD = "another long password for the leak test"
RUN_WAIT_SECONDS = 60


class PageRecorder:
    """Runs the app and keeps the visible text of every run."""

    def __init__(self) -> None:
        self.at = AppTest.from_file(str(APP_PATH), default_timeout=60)
        self.texts: list[str] = []

    def run(self) -> AppTest:
        self.at.run()
        self.texts.append(visible_text(self.at))
        assert not self.at.exception, [element.value for element in self.at.exception]
        return self.at

    def page(self, path: str) -> AppTest:
        self.at.switch_page(path)
        return self.run()

    def click(self, key: str) -> AppTest:
        self.at.button(key=key).click()
        return self.run()

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts)


def visible_text(at: AppTest) -> str:
    parts: list[str] = []
    for group in (at.markdown, at.caption, at.text, at.code, at.latex, at.title, at.header,
                  at.subheader, at.error, at.warning, at.info, at.success, at.exception,
                  at.json, at.toast):
        parts += [str(element.value) for element in group]
    parts += [f"{m.label} {m.value} {m.delta}" for m in at.metric]
    parts += [element.value.to_csv() for element in at.dataframe]
    parts += [str(element.label) for element in at.button]
    parts += [str(getattr(e, "value", "")) for e in at.get("download_button")]
    for widget in (*at.selectbox, *at.radio):
        parts += [str(option) for option in getattr(widget, "options", [])]
    return "\n".join(parts)


def csv_upload() -> tuple[str, bytes, str]:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    return ("leak-check.csv", text.getvalue().encode("utf-8"), "text/csv")


def connection_for(sandbox, key: str) -> Connection:
    return Connection(
        target="iterable", region="us", base_url=sandbox.base_url, api_key=key,
        key_source="entered on this page", key_fingerprint=fingerprint(key), lists_count=5,
    )


def wait_for_run_end(recorder: PageRecorder, home: Path) -> None:
    from mapping.sync.journal import RUNNING, Journal

    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while True:
        with Journal(home / "journal.sqlite") as journal:
            states = [run.state for run in journal.list_runs(limit=10)]
        if states and RUNNING not in states:
            break
        assert time.monotonic() < deadline, f"the run did not end: {states}"
        time.sleep(0.2)
    recorder.run()


@pytest.fixture
def logged_in(workbench_home):
    write_credentials_file(workbench_home / "credentials.yaml", {USERNAME: PASSWORD}, rounds=4)
    auth.set_login_throttle(LoginThrottle())
    recorder = PageRecorder()
    recorder.run()
    recorder.at.text_input(key="login_username").input(USERNAME)
    recorder.at.text_input(key="login_password").input(PASSWORD)
    next(button for button in recorder.at.button if button.label == "Log in").click()
    recorder.run()
    assert recorder.at.session_state["authentication_status"] is True
    yield recorder
    auth.set_login_throttle(LoginThrottle())
    stop_local_sandboxes()


def connect_on_the_page(recorder: PageRecorder, key: str) -> None:
    """Choose Iterable on the Connect page, paste ``key`` and press Connect."""
    at = recorder.at
    recorder.page("app_pages/1_connect.py")
    at.radio(key="connect_target").set_value("Iterable")
    recorder.run()
    at.text_input(key="connect_api_key").input(key)
    next(button for button in at.button if button.label == "Connect").click()
    recorder.run()


def sync_through_the_pages(recorder: PageRecorder, key: str, home: Path) -> None:
    at = recorder.at
    connect_on_the_page(recorder, key)
    assert at.session_state["wb_connection"] is not None, recorder.texts[-1][:500]

    recorder.page("app_pages/2_submissions.py")
    at.radio(key="submissions_source").set_value("Upload a file")
    recorder.run()
    at.file_uploader(key="submissions_upload").set_value(csv_upload())
    recorder.run()
    assert at.session_state["wb_submissions"] is not None, recorder.texts[-1][:500]

    at.session_state["wb_mapping"] = MappingConfig.from_json(json.dumps(MAPPING))
    recorder.page("app_pages/3_mapping.py")
    recorder.page("app_pages/4_preview.py")
    recorder.page("app_pages/5_sync.py")
    recorder.click("sync_dry_run")
    recorder.click("sync_start")
    wait_for_run_end(recorder, home)


def try_a_wrong_key(recorder: PageRecorder, wrong_key: str) -> None:
    """Replace the key with one the sandbox does not know; Connect must refuse it."""
    recorder.page("app_pages/1_connect.py")
    recorder.click("connect_replace")
    connect_on_the_page(recorder, wrong_key)
    assert "wb_connection" not in recorder.at.session_state, "a wrong key connected"


def use_a_revoked_key(recorder: PageRecorder, sandbox, revoked_key: str, home: Path) -> None:
    """A session whose key stopped working after Connect runs a dry run and a sync."""
    recorder.at.session_state["wb_connection"] = Connection(
        target="iterable", region="us", base_url=sandbox.base_url, api_key=revoked_key,
        key_source="entered on this page", key_fingerprint=fingerprint(revoked_key),
        lists_count=5,
    )
    recorder.at.session_state["wb_run_id"] = None
    recorder.page("app_pages/5_sync.py")
    recorder.click("sync_dry_run")
    recorder.click("sync_start")
    wait_for_run_end(recorder, home)


def test_ui_sync_leaves_no_trace_of_the_key(
    logged_in, sandbox, workbench_home, caplog, tmp_path, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    private_temp = tmp_path / "temp"
    private_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_temp))
    monkeypatch.setenv("WORKBENCH_ITERABLE_BASE_URL", sandbox.base_url)
    key = new_fake_key()
    sandbox.add_key(key, "server_side")
    recorder = logged_in

    sync_through_the_pages(recorder, key, workbench_home)
    assert "finished" in recorder.texts[-1], recorder.texts[-1][:800]
    assert "Sent 2" in recorder.texts[-1], recorder.texts[-1][:800]
    masked = "•" * 8 + key[-4:]
    assert any(masked in text for text in recorder.texts), "the Connect page shows the masked key"

    wrong_key = new_fake_key()
    try_a_wrong_key(recorder, wrong_key)
    assert "rejected the key" in recorder.texts[-1], recorder.texts[-1][:800]
    revoked_key = new_fake_key()
    use_a_revoked_key(recorder, sandbox, revoked_key, workbench_home)
    assert "rejected the API key" in recorder.all_text, "the revoked key is reported"
    assert fingerprint(revoked_key) in recorder.all_text, "the key is named by fingerprint"

    export = export_failed_rows(workbench_home, tmp_path)
    visible = recorder.all_text.replace(masked, "")
    for secret in (key, wrong_key, revoked_key):
        assert find_in_text(visible, secret) == []
        for record in caplog.records:
            assert find_in_text(record.getMessage(), secret) == [], record.getMessage()
        assert find_in_files(secret, workbench_home, export, private_temp) == {}

    logged = [record.getMessage() for record in caplog.records]
    logged += (workbench_home / "logs" / "app.log").read_text(encoding="utf-8").splitlines()
    for email in EMAILS:
        naming = [line for line in logged if email.split("@")[0] in line]
        assert naming == [], f"log lines name a person by email: {naming[:3]}"


def export_failed_rows(home: Path, folder: Path) -> Path:
    from mapping.sync.journal import Journal
    from ui.run_files import export_to_bytes

    with Journal(home / "journal.sqlite") as journal:
        first = journal.list_runs(limit=10)[-1].run_id
        data = export_to_bytes(journal, first, ("failed", "rejected", "skipped"))
    path = folder / "export.csv"
    path.write_bytes(data)
    return path
