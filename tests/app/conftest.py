"""Fixtures for the AppTest suite: a known login, a fresh throttle, and sandbox cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import auth
from ui.connection import BASE_URL_OVERRIDE_VARIABLE, stop_local_sandboxes
from ui.credentials import write_credentials_file
from ui.throttle import LoginThrottle

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
USERNAME = "analyst"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def credentials_file(workbench_home):
    """A credentials file with one known user (cheap bcrypt cost to keep the tests fast)."""
    path = workbench_home / "credentials.yaml"
    write_credentials_file(path, {USERNAME: PASSWORD}, rounds=4)
    return path


@pytest.fixture(autouse=True)
def fresh_throttle():
    """A new login throttle per test, so failures of one test do not slow down the next."""
    auth.set_login_throttle(LoginThrottle())
    yield
    auth.set_login_throttle(LoginThrottle())


@pytest.fixture(autouse=True)
def stop_app_sandboxes():
    """Stop the sandboxes the app started during a test."""
    yield
    stop_local_sandboxes()


@pytest.fixture
def app():
    """The workbench app, not yet run."""
    return AppTest.from_file(str(APP_PATH), default_timeout=60)


def submit_login(at: AppTest, username: str = USERNAME, password: str = PASSWORD) -> AppTest:
    """Fill in the login form and submit it."""
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    next(button for button in at.button if button.label == "Log in").click()
    return at.run()


def logged_in(at: AppTest) -> AppTest:
    """Run the app and log in with the known user."""
    at.run()
    return submit_login(at)


def page_texts(at: AppTest) -> str:
    """All markdown, captions, alerts and titles of the last run, as one string."""
    parts = [element.value for element in at.markdown]
    parts += [element.value for element in at.caption]
    parts += [str(element.value) for element in (*at.error, *at.warning, *at.info, *at.success)]
    parts += [element.value for element in (*at.title, *at.header, *at.subheader)]
    return "\n".join(str(part) for part in parts)


SMALL_CSV = (
    "Email,First name,Phone number,Country code,Browser,Subscribed at\n"
    "ann@example.com,Ann,+49 151 1234567,DE,Chrome,2026-03-01 10:00:00\n"
    "bob@example.org,Bob,,FR,Firefox,2026-03-02 11:30:00\n"
    "not an email,Cyd,,ES,Safari,2026-03-03 09:15:00\n"
    "ann@example.com,Ann again,,DE,Chrome,2026-03-04 12:00:00\n"
).encode()


def upload_submissions(at: AppTest, name: str = "submissions.csv", content: bytes = SMALL_CSV
                       ) -> AppTest:
    """Open the Submissions page and upload a file."""
    at.switch_page("app_pages/2_submissions.py").run()
    at.radio(key="submissions_source").set_value("Upload a file").run()
    at.file_uploader(key="submissions_upload").upload(name, content, "text/csv")
    return at.run()


def connected_with_file(at: AppTest, content: bytes = SMALL_CSV) -> AppTest:
    """Log in, connect the app's sandbox and upload a file."""
    logged_in(at)
    at.button(key="connect_sandbox").click().run()
    return upload_submissions(at, content=content)


def open_mapping(at: AppTest) -> AppTest:
    """Switch to the Mapping page."""
    return at.switch_page("app_pages/3_mapping.py").run()


def field_editor_key(at: AppTest) -> str:
    """The widget key of the Mapping page's field table in its current version."""
    return next(editor.key for editor in at.data_editor if editor.key.startswith("mapping_fields"))


def edit_field_table(at: AppTest, edited_rows: dict[int, dict]) -> AppTest:
    """Apply cell edits to the field table (as the browser would send them) and rerun."""
    at.session_state[field_editor_key(at)] = {
        "edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def errors_of(at: AppTest) -> list[str]:
    """The error messages of the last run."""
    return [str(error.value) for error in at.error]


def table_with_column(at: AppTest, column: str):
    """The first dataframe of the last run that has this column (st.dataframe has no key
    in the element tree unless selections are on)."""
    for element in at.dataframe:
        frame = element.value
        if column in frame.columns or column in (frame.index.names or []):
            return frame
    raise AssertionError(f"no table with a column {column!r}")


GOOD_KEY = "good-server-side-key-1234567890abcd"


@pytest.fixture
def iterable_at_sandbox(sandbox, monkeypatch):
    """Point the "Iterable" choice at a loopback sandbox that accepts GOOD_KEY."""
    sandbox.add_key(GOOD_KEY, "server_side", "us")
    monkeypatch.setenv(BASE_URL_OVERRIDE_VARIABLE, sandbox.base_url)
    return sandbox


def connect_iterable(at: AppTest, key: str, region: str = "us") -> AppTest:
    """Choose "Iterable" on the Connect page, enter a key and press Connect."""
    at.radio(key="connect_target").set_value("Iterable").run()
    at.radio(key="connect_region").set_value(region)
    at.text_input(key="connect_api_key").input(key)
    next(button for button in at.button if button.label == "Connect").click()
    return at.run()
