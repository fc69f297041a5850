"""Submissions page: the bundled sample, uploads, reading options, and bad files."""

from __future__ import annotations

import pytest
from streamlit import config as streamlit_config

from tests.app.conftest import (
    SMALL_CSV,
    errors_of,
    logged_in,
    page_texts,
    table_with_column,
    upload_submissions,
)
from ui.uploads import bundled_samples


def test_upload_shows_rows_columns_and_quality(app):
    logged_in(app)
    upload_submissions(app)
    assert not app.exception
    assert not errors_of(app)
    assert "submissions.csv: 4 rows, 6 columns" in [s.value for s in app.subheader]
    rows = table_with_column(app, "Browser")
    assert len(rows) == 4
    profile = table_with_column(app, "examples")
    assert {"kind", "filled", "distinct", "examples"} <= set(profile.columns)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Invalid emails"] == "1"
    assert metrics["Duplicate emails"] == "1"
    assert "Format: **csv**" in page_texts(app)


def test_table_shows_a_sample_of_a_big_file(app):
    big = b"Email\n" + b"".join(f"u{i}@example.com\n".encode() for i in range(1_000))
    logged_in(app)
    upload_submissions(app, content=big)
    assert len(table_with_column(app, "Email")) == 200
    assert "The first 200 of 1,000 rows." in page_texts(app)


@pytest.mark.skipif(not bundled_samples(), reason="sample_data/ has no sample file yet")
def test_bundled_sample_loads(app):
    logged_in(app)
    app.switch_page("app_pages/2_submissions.py").run()
    app.button(key="submissions_load_sample").click().run()
    assert not errors_of(app)
    assert app.session_state["wb_submissions"].name == bundled_samples()[0].name
    assert len(app.session_state["wb_submissions"].frame) >= 300


def test_file_that_is_not_a_table_gives_a_sentence(app):
    logged_in(app)
    upload_submissions(app, name="export.xlsx", content=b"PK\x03\x04 this is not a workbook")
    assert not app.exception
    message = errors_of(app)[0]
    assert message.startswith("Reading export.xlsx failed")
    assert "Traceback" not in message
    assert "wb_submissions" not in app.session_state


def test_upload_over_the_limit_points_to_the_command_line(app):
    previous = streamlit_config.get_option("server.maxUploadSize")
    streamlit_config.set_option("server.maxUploadSize", 1)
    try:
        logged_in(app)
        upload_submissions(app, content=b"Email\n" + b"x@example.com\n" * 90_000)
    finally:
        streamlit_config.set_option("server.maxUploadSize", previous)
    message = errors_of(app)[0]
    assert "at most 1 MB" in message
    assert "python -m mapping sync" in message


def test_reading_options_read_the_file_again(app):
    semicolons = SMALL_CSV.replace(b",", b";")
    logged_in(app)
    upload_submissions(app, content=semicolons)
    app.selectbox(key="submissions_delimiter").set_value(",")
    app.button(key="submissions_reload").click().run()
    loaded = app.session_state["wb_submissions"]
    assert loaded.delimiter == ","
    assert len(loaded.frame.columns) == 1
    app.selectbox(key="submissions_delimiter").set_value(";")
    app.button(key="submissions_reload").click().run()
    assert len(app.session_state["wb_submissions"].frame.columns) == 6


def profile_element(at):
    return next(element for element in at.dataframe if "examples" in element.value.columns
                or "examples" in (element.value.index.names or []))


def test_profile_names_columns_and_percent(app):
    logged_in(app)
    upload_submissions(app)
    element = profile_element(app)
    profile = element.value
    assert "column" in profile.columns  # a visible column, not the hidden index
    assert list(profile["column"])[:2] == ["Email", "First name"]
    assert '"percent"' in element.proto.columns


def test_reader_report_column_plurals(app):
    logged_in(app)
    upload_submissions(app)
    captions = [caption.value for caption in app.caption]
    kinds = next(text for text in captions if "column" in text and "widget" in text)
    assert "1 geolocation column" in kinds
    assert "1 geolocation columns" not in kinds
    assert "widget columns" in kinds


def test_read_error_names_file_once(app):
    logged_in(app)
    upload_submissions(app, name="fake.csv", content=b"\x89PNG\r\n\x1a\n\x00\x00binary\x00")
    message = errors_of(app)[0]
    assert message.startswith("Reading fake.csv failed: ")
    assert message.count("fake.csv") == 1
