"""A new browser session (a reload) picks up the last file, mapping and sandbox connection."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import (
    APP_PATH,
    GOOD_KEY,
    connect_iterable,
    connected_with_file,
    edit_field_table,
    logged_in,
    open_mapping,
)
from ui.workspace import load_workspace, workspace_path


def test_new_session_restores_file_mapping_and_sandbox(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {1: {"New field name": "givenName"}})

    reloaded = AppTest.from_file(str(APP_PATH), default_timeout=60)
    logged_in(reloaded)
    assert reloaded.session_state["wb_submissions"].name == "submissions.csv"
    assert len(reloaded.session_state["wb_submissions"].frame) == 4
    fields = {f.source: f.target for f in reloaded.session_state["wb_mapping"].fields}
    assert fields["First name"] == "givenName"
    assert reloaded.session_state["wb_connection"].target == "sandbox"
    reloaded.switch_page("app_pages/3_mapping.py").run()
    assert reloaded.data_editor[0].value.loc[1, "New field name"] == "givenName"


def test_workspace_never_contains_the_key(app, iterable_at_sandbox):
    logged_in(app)
    connect_iterable(app, GOOD_KEY)
    app.run()
    text = workspace_path("analyst").read_text()
    assert GOOD_KEY not in text
    assert load_workspace("analyst")["sandbox"] is False
    assert oct(workspace_path("analyst").stat().st_mode & 0o777) == "0o600"


def test_unreadable_workspace_is_ignored(app):
    path = workspace_path("analyst")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    logged_in(app)
    assert not app.exception
    assert "Connect" in [title.value for title in app.title]


def test_restore_toast_lists_all_parts(app):
    connected_with_file(app)
    open_mapping(app)
    reloaded = AppTest.from_file(str(APP_PATH), default_timeout=60)
    logged_in(reloaded)
    toasts = [toast.value for toast in reloaded.toast]
    assert toasts == ["Restored from your last session: the mapping, submissions.csv and the "
                      "sandbox connection."]
