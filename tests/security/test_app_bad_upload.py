"""Bad uploads get a sentence on the page, never a traceback.

Runs the real app with streamlit's AppTest: log in, upload a submissions file the readers
cannot use on the Submissions page, or a broken mapping file on the Mapping page, and check
the text the page shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import auth
from ui.connection import stop_local_sandboxes
from ui.credentials import write_credentials_file
from ui.throttle import LoginThrottle

pytestmark = pytest.mark.timeout(120)

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
SUBMISSIONS_PAGE = "app_pages/2_submissions.py"
MAPPING_PAGE = "app_pages/3_mapping.py"
USERNAME = "security-analyst"
PASSWORD = "a long test password for the security suite"

GARBAGE = {
    "random bytes as csv": ("export.csv", bytes(range(256)) * 64, "text/csv"),
    "csv named xlsx": (
        "export.xlsx",
        b"Email,Name\nanna@example.com,Anna\n",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "truncated zip named xlsx": (
        "export.xlsx",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 50,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "json nested 100k levels": ("export.json", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "json cut short": ("export.json", b'[{"Email": "anna@exa', "application/json"),
    "empty csv": ("export.csv", b"", "text/csv"),
    "NUL bytes": ("export.csv", b"\x00" * 10_000, "text/csv"),
    "utf-16 jsonl without BOM": (
        "export.jsonl",
        '{"Email": "anna@example.com"}\n'.encode("utf-16-le"),
        "application/json",
    ),
}


@pytest.fixture(autouse=True)
def app_environment(workbench_home):
    write_credentials_file(workbench_home / "credentials.yaml", {USERNAME: PASSWORD}, rounds=4)
    auth.set_login_throttle(LoginThrottle())
    yield
    auth.set_login_throttle(LoginThrottle())
    stop_local_sandboxes()


def open_submissions_page() -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    at.text_input(key="login_username").input(USERNAME)
    at.text_input(key="login_password").input(PASSWORD)
    next(button for button in at.button if button.label == "Log in").click()
    at.run()
    assert at.session_state["authentication_status"] is True
    at.switch_page(SUBMISSIONS_PAGE)
    at.run()
    at.radio(key="submissions_source").set_value("Upload a file")
    at.run()
    return at


def visible_text(at: AppTest) -> str:
    parts = [str(element.value) for element in (*at.markdown, *at.caption, *at.text)]
    parts += [str(element.value) for element in (*at.error, *at.warning, *at.info, *at.success)]
    parts += [str(element.value) for element in at.code]
    return "\n".join(parts)


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_upload_shows_a_sentence(case):
    at = open_submissions_page()
    at.file_uploader(key="submissions_upload").set_value(GARBAGE[case])
    at.run()

    assert not at.exception, [element.value for element in at.exception]
    errors = [str(element.value) for element in (*at.error, *at.warning)]
    assert errors, f"no error or warning shown for {case}; page: {visible_text(at)[:500]}"
    message = errors[0]
    assert "unexpected error" not in message, (
        f"the reader raised something other than SubmissionsError for {case}: {message}"
    )
    assert message.rstrip().endswith((".", "!", "?", ")")), message
    text = visible_text(at)
    assert "Traceback" not in text, text[:800]
    assert 'File "' not in text, text[:800]


GOOD_CSV = ("export.csv", b"Email,First name\nada@example.com,Ada\n", "text/csv")
BAD_MAPPINGS = {
    "unknown key": (b'{"version": 1, "lsit_id": 101}', "lsit_id"),
    "list_id is text": (b'{"version": 1, "list_id": "Newsletter"}', "list_id"),
    "empty target": (
        json.dumps({"version": 1, "fields": [{"source": "Email", "target": ""}]}).encode(),
        "fields[0].target",
    ),
    "target with a comma": (
        json.dumps({"version": 1, "fields": [{"source": "Email", "target": "a,b"}]}).encode(),
        "fields[0].target",
    ),
    "nested 100k levels": (b"[" * 100_000, "nested"),
    "not UTF-8": (b'{"version": 1, "widget": "Fr\xfchling"}', "UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_MAPPINGS))
def test_bad_mapping_file_names_the_key(case):
    at = open_submissions_page()
    at.file_uploader(key="submissions_upload").set_value(GOOD_CSV)
    at.run()
    at.switch_page(MAPPING_PAGE)
    at.run()
    content, key = BAD_MAPPINGS[case]
    at.file_uploader(key="mapping_upload").set_value(("bad.json", content, "application/json"))
    at.run()

    assert not at.exception, [element.value for element in at.exception]
    errors = [str(element.value) for element in at.error]
    assert any(key in error for error in errors), f"no error naming {key!r}: {errors}"
    text = visible_text(at)
    assert "Traceback" not in text, text[:800]
    assert 'File "' not in text, text[:800]
