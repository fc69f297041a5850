"""Connect page: the sandbox, a key for "Iterable" (pointed at a sandbox), and the error paths."""

from __future__ import annotations

import socket

from tests.app.conftest import GOOD_KEY, connect_iterable, logged_in, page_texts
from ui.connection import BASE_URL_OVERRIDE_VARIABLE

def test_sandbox_connects_and_shows_the_lists_count(app):
    logged_in(app)
    app.button(key="connect_sandbox").click().run()
    assert not app.exception
    assert "Sandbox (local): the project has 5 lists" in app.success[0].value
    connection = app.session_state["wb_connection"]
    assert connection.masked_key.endswith(connection.api_key[-4:])
    assert connection.api_key not in page_texts(app)


def test_iterable_key_connects_and_is_shown_masked(app, iterable_at_sandbox):
    logged_in(app)
    connect_iterable(app, GOOD_KEY)
    assert not app.error
    assert "Iterable (US)" in app.success[0].value
    assert "abcd" in page_texts(app)
    assert GOOD_KEY not in page_texts(app)


def test_bad_key_gives_a_sentence_about_key_and_region(app, iterable_at_sandbox):
    logged_in(app)
    connect_iterable(app, "not-a-key-000000000000")
    message = app.error[0].value
    assert "rejected the key" in message
    assert "region" in message
    assert "not-a-key-000000000000" not in message
    assert "wb_connection" not in app.session_state


def test_empty_key_asks_for_one(app, iterable_at_sandbox):
    logged_in(app)
    connect_iterable(app, "")
    assert "Enter the project's server-side API key" in app.error[0].value


def test_network_failure_says_what_to_do(app, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(BASE_URL_OVERRIDE_VARIABLE, f"http://127.0.0.1:{closed_port}")
    logged_in(app)
    connect_iterable(app, GOOD_KEY)
    message = app.error[0].value
    assert "Could not reach Iterable" in message
    assert "Traceback" not in message


def test_key_from_the_environment_is_offered(app, iterable_at_sandbox, monkeypatch):
    monkeypatch.setenv("ITERABLE_API_KEY", GOOD_KEY)
    logged_in(app)
    app.radio(key="connect_target").set_value("Iterable").run()
    assert app.checkbox(key="connect_use_configured").value is True
    next(button for button in app.button if button.label == "Connect").click().run()
    assert "Iterable (US)" in app.success[0].value
    assert "ITERABLE_API_KEY" in page_texts(app)


def test_replace_key_returns_to_the_form(app, iterable_at_sandbox):
    logged_in(app)
    connect_iterable(app, GOOD_KEY)
    app.button(key="connect_replace").click().run()
    assert "wb_connection" not in app.session_state
    assert app.text_input(key="connect_api_key").value == ""


def test_read_only_key_is_diagnosed_at_the_first_write(app, iterable_at_sandbox):
    iterable_at_sandbox.add_key("read-only-key-000000000000", "read_only", "us")
    logged_in(app)
    connect_iterable(app, "read-only-key-000000000000")
    assert app.success, [error.value for error in app.error]
    app.switch_page("app_pages/2_submissions.py").run()
    app.radio(key="submissions_source").set_value("Upload a file").run()
    app.file_uploader(key="submissions_upload").upload(
        "s.csv", b"Email,First name\na@example.com,Ann\n", "text/csv").run()
    app.switch_page("app_pages/3_mapping.py").run()
    app.text_input(key="mapping_new_list_name").input("Autumn pop-up")
    app.button(key="mapping_create_list").click().run()
    assert any("read" in error.value and "write" in error.value for error in app.error)
    app.switch_page("app_pages/1_connect.py").run()
    assert any("can read but not write" in error.value for error in app.error)
