"""Step 2, Submissions: load the bundled sample or an uploaded export, and look at it."""

import logging

import streamlit as st

from ui import auth, readiness, state, widgets
from ui.errors import show_error
from ui.loading import read_submissions
from ui.uploads import (
    DELIMITER_CHOICES,
    ENCODING_CHOICES,
    UPLOAD_TYPES,
    UploadTooLargeError,
    bundled_samples,
    check_upload_size,
)

logger = logging.getLogger("ui.pages.submissions")

PREVIEW_ROWS = 200
AUTO = "Detect automatically"


def load_file(name: str, content: bytes, *, encoding: str | None = None,
              delimiter: str | None = None) -> None:
    """Read the file with the library's reader and keep it in the session."""
    try:
        with st.spinner(f"Reading {name}..."):
            record = read_submissions(name, content, encoding=encoding, delimiter=delimiter)
    except Exception as exc:
        show_error(exc, f"Reading {name}", subject=name)
        return
    previous = state.get(state.SUBMISSIONS)
    state.put(state.SUBMISSIONS, record)
    state.reset_field_table()
    readiness.fit_mapping_to_new_file(previous, record)


def choose_source() -> None:
    """Let the analyst pick the bundled sample or upload a file."""
    source = st.radio("Source", ["Bundled sample", "Upload a file"], key="submissions_source",
                      horizontal=True)
    if source == "Bundled sample":
        samples = bundled_samples()
        if not samples:
            st.error("No sample file was found in sample_data/; upload a file instead.")
            return
        sample = st.selectbox("Sample file", samples, format_func=lambda path: path.name,
                              key="submissions_sample")
        if st.button("Load sample", key="submissions_load_sample"):
            load_file(sample.name, sample.read_bytes())
        return
    upload_form()


def upload_form() -> None:
    """Draw the file uploader and read a newly uploaded file once, not on every rerun."""
    limit = int(st.get_option("server.maxUploadSize"))
    uploaded = st.file_uploader(
        "Submissions file (CSV, TSV, JSON, JSON Lines or XLSX)",
        type=UPLOAD_TYPES,
        key="submissions_upload",
        help=f"Up to {limit} MB in the browser. For larger exports use the command line: "
             "`python -m mapping preview|sync --input FILE --mapping MAPPING.json`.",
    )
    if uploaded is None or state.get("wb_upload_id") == uploaded.file_id:
        return
    state.put("wb_upload_id", uploaded.file_id)
    try:
        check_upload_size(uploaded.name, uploaded.size, limit)
    except UploadTooLargeError as exc:
        st.error(str(exc))
        return
    load_file(uploaded.name, uploaded.getvalue())


def reading_options(loaded: state.LoadedFile) -> None:
    """Override the detected encoding or delimiter and read the file again."""
    with st.expander("Reading options"):
        encoding = st.selectbox("Encoding", [AUTO, *ENCODING_CHOICES], key="submissions_encoding")
        delimiter = st.selectbox("Delimiter", [AUTO, *DELIMITER_CHOICES],
                                 format_func=lambda d: DELIMITER_CHOICES.get(d, d),
                                 key="submissions_delimiter")
        if st.button("Read again with these options", key="submissions_reload"):
            load_file(loaded.name, loaded.content,
                      encoding=None if encoding == AUTO else encoding,
                      delimiter=None if delimiter == AUTO else delimiter)
            st.rerun()


def profile_table(profile) -> None:
    """Show one row per column: its name first, then kind, role, filled share (as a
    percentage), distinct values and examples."""
    if profile is None:
        return
    table = profile.reset_index()
    first = table.columns[0]
    table = table.rename(columns={first: "column"}) if first != "column" else table
    st.dataframe(
        table, hide_index=True, key="submissions_profile",
        column_config={
            "column": st.column_config.TextColumn("column", pinned=True),
            "filled": st.column_config.NumberColumn(
                "filled", format="percent", help="Share of rows with a value in this column."),
        },
    )


def show_loaded(loaded: state.LoadedFile) -> None:
    """Reader report, a sample of the rows, the column profile and the data-quality summary."""
    report = loaded.report
    frame = loaded.frame
    st.subheader(f"{loaded.name}: {len(frame):,} rows, {len(frame.columns)} columns")
    widgets.reader_report(report)
    reading_options(loaded)

    st.subheader("Rows")
    shown = min(PREVIEW_ROWS, len(frame))
    st.caption(f"The first {shown:,} of {len(frame):,} rows.")
    st.dataframe(frame.head(PREVIEW_ROWS), key="submissions_rows")

    st.subheader("Columns")
    profile_table(loaded.profile)

    st.subheader("Data quality")
    widgets.quality_summary(loaded.quality)


def main() -> None:
    auth.stop_unless_logged_in()
    st.title("Submissions")
    choose_source()
    loaded = state.get(state.SUBMISSIONS)
    if loaded is None:
        st.info("Load the bundled sample or upload an export of widget submissions.")
        return
    show_loaded(loaded)
    st.page_link("app_pages/3_mapping.py", label="Next: map the columns")


main()
