"""Login gate: the form, wrong passwords, throttling, deep links and logout."""

from __future__ import annotations

import logging

import pytest

from tests.app.conftest import PASSWORD, USERNAME, logged_in, page_texts, submit_login
from ui import auth
from ui.auth import WRONG_LOGIN_MESSAGE
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
