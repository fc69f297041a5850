"""Login gate: the form, wrong passwords, throttling, deep links and logout."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
from streamlit.runtime import context as streamlit_context
from streamlit.testing.v1 import AppTest

from tests.app.conftest import (
    APP_PATH,
    PASSWORD,
    USERNAME,
    logged_in,
    page_texts,
    submit_login,
)
from ui import auth
from ui.auth import WRONG_LOGIN_MESSAGE
from ui.credentials import load_credentials_file
from ui.logouts import issued_before_logout
from ui.throttle import LoginThrottle


class FrozenClock:
    """A clock that does not move unless the test moves it."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def titles(at) -> list[str]:
    return [title.value for title in at.title]


def test_app_opens_on_the_login_form(app):
    app.run()
    assert not app.exception
    assert app.session_state["authentication_status"] is None
    assert titles(app) == ["Iterable mapping workbench"]
    assert app.text_input(key="login_password").proto.type == 1  # password field


def test_correct_password_runs_the_connect_page(app):
    logged_in(app)
    assert not app.exception
    assert app.session_state["authentication_status"] is True
    assert "Connect" in titles(app)


def test_wrong_password_and_unknown_user_get_the_same_message(app):
    app.run()
    submit_login(app, USERNAME, "wrong password")
    wrong_password = [error.value for error in app.error]
    submit_login(app, "nobody", "wrong password")
    unknown_user = [error.value for error in app.error]
    assert wrong_password == unknown_user == [WRONG_LOGIN_MESSAGE]
    assert app.session_state["authentication_status"] is not True


def test_failed_logins_are_logged_without_the_password(app, caplog):
    caplog.set_level(logging.INFO, logger="ui.auth")
    app.run()
    submit_login(app, USERNAME, "secret-guess-123")
    assert "failed login" in caplog.text
    assert "secret-guess-123" not in caplog.text


def test_sixth_wrong_password_is_throttled(app):
    auth.set_login_throttle(LoginThrottle(clock=FrozenClock()))
    app.run()
    for _ in range(5):
        submit_login(app, USERNAME, "wrong password")
        assert [error.value for error in app.error] == [WRONG_LOGIN_MESSAGE]
    submit_login(app, USERNAME, "wrong password")
    assert "Too many failed logins" in app.error[0].value
    # Even the right password is not checked while the delay lasts.
    submit_login(app, USERNAME, PASSWORD)
    assert "Too many failed logins" in app.error[0].value
    assert app.session_state["authentication_status"] is not True


def test_login_works_again_after_the_delay(app):
    clock = FrozenClock()
    auth.set_login_throttle(LoginThrottle(clock=clock))
    app.run()
    for _ in range(5):
        submit_login(app, USERNAME, "wrong password")
    clock.now += 3
    submit_login(app, USERNAME, PASSWORD)
    assert app.session_state["authentication_status"] is True


def test_empty_fields_ask_for_both(app):
    app.run()
    submit_login(app, "", "")
    assert app.error[0].value == "Enter a username and a password."


@pytest.mark.parametrize(
    ("page", "title"),
    [("app_pages/3_mapping.py", "Mapping"), ("app_pages/5_sync.py", "Sync"),
     ("app_pages/6_sandbox.py", "Sandbox")],
)
def test_deep_link_shows_the_login_form_then_its_page(app, page, title):
    app.run()
    app.switch_page(page).run()
    assert title not in titles(app)
    assert app.text_input(key="login_username") is not None
    submit_login(app)
    assert title in titles(app)


def test_logout_returns_to_the_login_form_and_forgets_the_session(app):
    logged_in(app)
    app.button(key="connect_sandbox").click().run()
    assert app.session_state["wb_connection"] is not None
    app.button(key="sidebar_logout").click().run()
    assert titles(app) == ["Iterable mapping workbench"]
    assert "wb_connection" not in app.session_state
    assert "Logged in as" not in page_texts(app)


def test_credentials_file_others_can_read_stops_the_app(app, credentials_file):
    credentials_file.chmod(0o644)
    app.run()
    assert "chmod 600" in app.error[0].value
    assert not app.text_input


class BrowserClient:
    """What Streamlit records of a browser's connection: the cookies and headers it opened with."""

    def __init__(self, cookies: dict[str, str]) -> None:
        self.cookies = cookies
        self.headers = [("Host", "127.0.0.1:8501")]
        self.remote_ip = "127.0.0.1"


def login_cookie(credentials_file, username: str = USERNAME) -> dict[str, str]:
    """A re-login cookie as the app sets it after a password login, issued now."""
    cookie = load_credentials_file(credentials_file)["cookie"]
    expires = time.time() + float(cookie["expiry_days"]) * 86_400
    token = jwt.encode({"username": username, "exp_date": expires}, cookie["key"],
                       algorithm="HS256")
    return {cookie["name"]: token}


@pytest.fixture
def browser_with_cookie(monkeypatch, credentials_file):
    """Every AppTest session opens as a browser that sends a valid login cookie."""
    client = BrowserClient(login_cookie(credentials_file))
    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: client)
    return client


def cookie_requests(at) -> list[dict]:
    """The arguments of the cookie component requests drawn by the last run."""
    requests = []
    for element in at.get("component_instance"):
        instance = element.proto
        if "cookie_manager" in instance.component_name:
            requests.append(json.loads(instance.json_args))
    return requests


def new_session() -> AppTest:
    return AppTest.from_file(str(APP_PATH), default_timeout=60)


def test_cookie_login_new_session(browser_with_cookie, app):
    app.run()
    assert app.session_state["authentication_status"] is True
    assert "Connect" in titles(app)


def test_logout_deletes_login_cookie(browser_with_cookie, app):
    app.run()
    app.button(key="sidebar_logout").click().run()
    assert titles(app) == ["Iterable mapping workbench"]
    deletions = [r for r in cookie_requests(app) if r.get("method") == "delete"]
    assert [r["cookie"] for r in deletions] == ["workbench_auth"]
    # The session itself stays logged out although its cookie header still has the old cookie.
    app.run()
    assert app.session_state["authentication_status"] is not True


def test_reload_after_logout_shows_login(browser_with_cookie, app):
    app.run()
    app.button(key="connect_sandbox").click().run()
    app.button(key="sidebar_logout").click().run()

    # A reload: a new session from a browser that did not delete the cookie.
    reloaded = new_session()
    reloaded.run()
    assert reloaded.session_state["authentication_status"] is not True
    assert titles(reloaded) == ["Iterable mapping workbench"]
    assert "wb_connection" not in reloaded.session_state
    assert [r["cookie"] for r in cookie_requests(reloaded) if r.get("method") == "delete"] == [
        "workbench_auth"]


def test_login_after_logout_sets_new_cookie(app, credentials_file):
    logged_in(app)
    app.button(key="sidebar_logout").click().run()
    time.sleep(0.01)  # the new cookie must be issued after the logout
    submit_login(app)
    assert app.session_state["authentication_status"] is True
    assert [r["method"] for r in cookie_requests(app)].count("set") == 1
    assert issued_before_logout(USERNAME, time.time()) is False


def test_login_log_names_loopback(monkeypatch, app, caplog):
    caplog.set_level(logging.INFO, logger="ui.auth")
    client = BrowserClient({})
    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: client)
    logged_in(app)
    assert "logged in from loopback (this machine)" in caplog.text
    assert "unknown client" not in caplog.text
