"""Mapping page: suggestions, the field table, required email, checks, static fields, files."""

from __future__ import annotations

import json

from tests.app.conftest import (
    SMALL_CSV,
    connected_with_file,
    edit_field_table,
    errors_of,
    open_mapping,
    page_texts,
    table_with_column,
    upload_submissions,
)

EMAIL_ROW, FIRST_NAME_ROW = 0, 1


def mapping(at):
    return at.session_state["wb_mapping"]


def targets(at) -> dict[str, str]:
    return {field.source: field.target for field in mapping(at).fields}


def warnings_of(at) -> list[str]:
    return [str(warning.value) for warning in at.warning]


def test_suggestions_fill_the_table(app):
    connected_with_file(app)
    open_mapping(app)
    assert not app.exception
    assert not errors_of(app)
    assert targets(app)["Email"] == "email"
    assert targets(app)["First name"] == "firstName"
    table = app.data_editor[0].value
    assert table.loc[EMAIL_ROW, "Iterable field"] == "email"
    assert "Browser" not in set(table["Column"])  # a system column, hidden by default


def test_email_is_required_until_mapped(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {EMAIL_ROW: {"Iterable field": None}})
    assert "Email" not in targets(app)
    assert any("email is required" in text for text in warnings_of(app))
    assert any("Email is not mapped" in text for text in page_texts(app).splitlines())
    edit_field_table(app, {EMAIL_ROW: {"Iterable field": "email"}})
    assert targets(app)["Email"] == "email"
    assert not any("email is required" in text for text in warnings_of(app))


def test_new_field_name_wins_and_is_listed_as_new(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {FIRST_NAME_ROW: {"New field name": "givenName"}})
    assert targets(app)["First name"] == "givenName"
    assert "givenName (string)" in page_texts(app)


def test_unusable_field_name_is_explained(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {FIRST_NAME_ROW: {"New field name": "first,name"}})
    assert any("Column 'First name'" in error and "comma" in error for error in errors_of(app))
    assert "First name" not in targets(app)


def test_same_field_twice_is_explained(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {FIRST_NAME_ROW: {"Iterable field": "email"}})
    assert any("already filled from column 'Email'" in error for error in errors_of(app))


def test_type_conflict_with_the_project_is_shown(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {FIRST_NAME_ROW: {"Iterable field": "signupDate"}})
    conflicts = [error for error in errors_of(app)
                 if error.startswith("Type conflict on signupDate")]
    assert len(conflicts) == 1
    assert "is not a date" in conflicts[0]


def test_show_more_fields_reveals_system_columns(app):
    connected_with_file(app)
    open_mapping(app)
    app.toggle(key="mapping_show_more").set_value(True).run()
    table = app.data_editor[0].value
    assert "Browser" in set(table["Column"])
    browser_row = int(table.index[table["Column"] == "Browser"][0])
    edit_field_table(app, {browser_row: {"New field name": "browser"}})
    assert targets(app)["Browser"] == "browser"


def test_edits_survive_leaving_the_page(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {FIRST_NAME_ROW: {"New field name": "givenName"}})
    app.switch_page("app_pages/1_connect.py").run()
    open_mapping(app)
    assert targets(app)["First name"] == "givenName"
    table = app.data_editor[0].value
    assert table.loc[FIRST_NAME_ROW, "New field name"] == "givenName"


def test_static_fields_are_added_and_removed(app):
    connected_with_file(app)
    open_mapping(app)
    app.text_input(key="mapping_static_name").input("signupSource")
    app.text_input(key="mapping_static_value").input("claspo")
    app.button(key="mapping_static_add").click().run()
    assert [(s.target, s.value) for s in mapping(app).static_fields] == [("signupSource", "claspo")]
    app.button(key="mapping_static_remove_0").click().run()
    assert mapping(app).static_fields == []


def test_static_value_of_the_wrong_type_is_explained(app):
    connected_with_file(app)
    open_mapping(app)
    app.text_input(key="mapping_static_name").input("score")
    app.text_input(key="mapping_static_value").input("high")
    app.selectbox(key="mapping_static_type").set_value("long")
    app.button(key="mapping_static_add").click().run()
    assert "'high' is not a whole number" in errors_of(app)[0]
    assert mapping(app).static_fields == []


def test_list_choice_and_create_list(app):
    connected_with_file(app)
    open_mapping(app)
    app.selectbox(key="mapping_list").set_value(102).run()
    assert mapping(app).list_id == 102
    app.text_input(key="mapping_new_list_name").input("Autumn pop-up")
    app.button(key="mapping_create_list").click().run()
    assert not errors_of(app)
    new_id = mapping(app).list_id
    assert new_id not in (None, 102)
    assert "Autumn pop-up" in app.selectbox(key="mapping_list").format_func(new_id)


def test_only_standard_lists_are_offered(app):
    connected_with_file(app)
    open_mapping(app)
    options = app.selectbox(key="mapping_list").options
    assert not any("Engaged last 30 days" in option or "Unsubscribed" in option
                   for option in options)


def test_download_contains_the_mapping_file(app):
    connected_with_file(app)
    open_mapping(app)
    assert app.download_button(key="mapping_download") is not None
    saved = json.loads(mapping(app).to_json())
    assert saved["version"] == 1
    assert saved["fields"][0]["target"] == "email"


def test_loading_a_mapping_file_replaces_the_mapping(app):
    connected_with_file(app)
    open_mapping(app)
    document = {"version": 1, "widget": "Autumn", "list_id": 101, "identifier": "email",
                "fields": [{"source": "Email", "target": "email"},
                           {"source": "First name", "target": "givenName"}],
                "static_fields": [{"target": "signupSource", "value": "claspo"}], "options": {}}
    app.file_uploader(key="mapping_upload").upload(
        "autumn.json", json.dumps(document).encode(), "application/json").run()
    assert not errors_of(app)
    assert mapping(app).widget == "Autumn"
    assert mapping(app).list_id == 101
    assert targets(app) == {"Email": "email", "First name": "givenName"}
    assert app.data_editor[0].value.loc[FIRST_NAME_ROW, "New field name"] == "givenName"


def test_mapping_file_load_sets_widgets(app):
    connected_with_file(app)
    open_mapping(app)
    app.text_input(key="mapping_widget").input("typed before").run()
    document = {"version": 1, "widget": "Autumn", "list_id": 101, "identifier": "email",
                "fields": [{"source": "Email", "target": "email"}]}
    app.file_uploader(key="mapping_upload").upload(
        "autumn.json", json.dumps(document).encode(), "application/json").run()
    assert app.text_input(key="mapping_widget").value == "Autumn"
    assert app.selectbox(key="mapping_list").value == 101
    assert app.session_state["mapping_widget"] == "Autumn"
    assert mapping(app).widget == "Autumn"


def test_bad_mapping_file_names_the_key(app):
    connected_with_file(app)
    open_mapping(app)
    before = mapping(app)
    app.file_uploader(key="mapping_upload").upload(
        "bad.json", b'{"version": 1, "fields": [], "colour": "red"}', "application/json").run()
    assert "colour" in errors_of(app)[0]
    assert mapping(app) == before


def test_sample_issues_are_listed(app):
    connected_with_file(app)
    open_mapping(app)
    issues = table_with_column(app, "code")
    assert "invalid_email" in set(issues["code"])


def test_sidebar_offers_the_mapping_download(app):
    connected_with_file(app)
    assert not [button for button in app.sidebar.get("download_button")]
    open_mapping(app)
    assert app.download_button(key="sidebar_download_mapping") is not None


def test_list_sizes_are_shown_on_request(app):
    connected_with_file(app)
    open_mapping(app)
    picker = app.selectbox(key="mapping_list")
    assert "users)" not in picker.format_func(101)
    app.button(key="mapping_list_sizes").click().run()
    assert not errors_of(app)
    assert app.selectbox(key="mapping_list").format_func(101).endswith(", 0 users)")


OTHER_CSV = (
    "Email address,Vorname,Country code,Newsletter\n"
    "cat@example.com,Cat,DE,yes\n"
    "dan@example.org,Dan,FR,no\n"
).encode()


def test_second_file_fits_mapping(app):
    connected_with_file(app)
    open_mapping(app)
    app.selectbox(key="mapping_list").set_value(102).run()
    app.text_input(key="mapping_static_name").input("signupSource")
    app.text_input(key="mapping_static_value").input("claspo")
    app.button(key="mapping_static_add").click().run()
    assert targets(app)["First name"] == "firstName"

    upload_submissions(app, "other.csv", OTHER_CSV)
    open_mapping(app)
    assert not errors_of(app)
    assert targets(app) == {"Email address": "email", "Vorname": "firstName",
                            "Country code": "countryCode", "Newsletter": "consent"}
    assert mapping(app).widget == "other"
    assert app.text_input(key="mapping_widget").value == "other"
    assert mapping(app).list_id == 102
    assert [s.target for s in mapping(app).static_fields] == ["signupSource"]
    assert "not in file" not in set(app.data_editor[0].value["Kind"])
    notice = " ".join(str(info.value) for info in app.info)
    assert "Email → email" in notice and "First name → firstName" in notice
    assert "Ready to preview and sync." in page_texts(app)


def test_same_columns_keep_mapping(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {FIRST_NAME_ROW: {"New field name": "givenName"}})
    upload_submissions(app, "submissions-copy.csv", SMALL_CSV)
    open_mapping(app)
    assert targets(app)["First name"] == "givenName"
    assert mapping(app).widget == "submissions"


def test_sidebar_missing_column_not_ready(app):
    connected_with_file(app)
    open_mapping(app)
    document = {"version": 1, "widget": "Old", "identifier": "email",
                "fields": [{"source": "Email", "target": "email"},
                           {"source": "Phone", "target": "phoneNumber"}]}
    app.file_uploader(key="mapping_upload").upload(
        "old.json", json.dumps(document).encode(), "application/json").run()
    texts = page_texts(app)
    assert "Ready to preview and sync." not in texts
    assert "The mapping reads the column 'Phone' that submissions.csv does not have" in texts


def test_checks_heading_needs_email(app):
    connected_with_file(app)
    open_mapping(app)
    edit_field_table(app, {EMAIL_ROW: {"Iterable field": None}})
    assert "Checks on the first rows" not in [header.value for header in app.subheader]
    edit_field_table(app, {EMAIL_ROW: {"Iterable field": "email"}})
    assert "Checks on the first rows" in [header.value for header in app.subheader]
    assert any(" issues in the first 4 rows;" in caption.value for caption in app.caption)
