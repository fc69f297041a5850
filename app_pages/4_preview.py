"""Step 4, Preview: the exact request body per row, every issue, and what a sync would do."""

import json
import logging

import pandas as pd
import streamlit as st

from mapping import payload, transform
from ui import auth, project, readiness, state, widgets
from ui.errors import show_error

logger = logging.getLogger("ui.pages.preview")

FIRST_ROWS = "First rows"
ISSUE_ROWS = "Rows with issues"
ONE_ROW = "One row"
MAX_SHOWN_ROWS = 20
MAX_ISSUE_TABLE_ROWS = 5_000


def full_result(loaded: state.LoadedFile, config, fields: dict[str, str]):
    """Transform the whole file once per mapping and file; reruns reuse the result."""
    key = readiness.result_key(loaded, config, fields)
    cached = state.get(readiness.PREVIEW_RESULT)
    if cached is not None and cached[0] == key:
        return cached[1]
    with st.spinner(f"Applying the mapping to {len(loaded.frame):,} rows..."):
        result = transform.apply(loaded.frame, config, fields)
    state.put(readiness.PREVIEW_RESULT, (key, result))
    return result


def request_body(result, position: int, config) -> tuple[str, str]:
    """Return (endpoint, body text) of the request that would carry this one row."""
    item = result.items[position]
    batch = next(payload.batches(
        [item], [result.row_numbers[position]], list_id=config.list_id,
        create_new_fields=config.options.create_new_fields,
    ))
    return batch.endpoint, batch.body.decode("utf-8")


def show_row(loaded: state.LoadedFile, result, position: int, config) -> None:
    """Show the source row beside the request body that would send it, or why it is not sent."""
    row_number = result.row_numbers[position]
    source_column, body_column = st.columns(2)
    source = loaded.frame.iloc[position]
    source_column.markdown(f"**Row {row_number}: source**")
    source_column.dataframe(
        pd.DataFrame({"column": source.index, "value": source.astype("string").values}),
        hide_index=True, key=f"preview_source_{row_number}",
    )
    body_column.markdown(f"**Row {row_number}: request body**")
    if result.items.texts[position] is None:
        reasons = result.issues[result.issues["row"] == row_number]
        body_column.warning("Not sent: " + "; ".join(reasons["message"].astype(str)) if len(reasons)
                            else "Not sent.")
        return
    endpoint, body = request_body(result, position, config)
    body_column.caption(f"POST /api/{endpoint}, sent as compact JSON")
    body_column.code(json.dumps(json.loads(body), indent=2, ensure_ascii=False), language="json")


def pick_rows(result) -> list[int]:
    """Return the positions to show: the first rows, rows with issues, or one chosen row."""
    mode = st.radio("Show", [FIRST_ROWS, ISSUE_ROWS, ONE_ROW], key="preview_mode",
                    horizontal=True)
    total = len(result.row_numbers)
    if mode == FIRST_ROWS:
        count = st.slider("Rows", 1, min(MAX_SHOWN_ROWS, total), min(3, total),
                          key="preview_count")
        return list(range(count))
    if mode == ISSUE_ROWS:
        rows = result.issues["row"].drop_duplicates().head(MAX_SHOWN_ROWS).tolist()
        if not rows:
            st.success("No row has an issue.")
        position_of = {row: position for position, row in enumerate(result.row_numbers)}
        return [position_of[row] for row in rows if row in position_of]
    row = st.number_input("Row number (1 = first data row)", 1, total, 1, key="preview_row")
    return [int(row) - 1]


def issues_table(result) -> None:
    """Show every row issue, filterable by code, severity, column and text."""
    issues = result.issues
    st.subheader(f"Issues ({len(issues):,})")
    if not len(issues):
        st.success("No issues: every row can be sent.")
        return
    codes_column, severity_column, search_column = st.columns(3)
    codes = codes_column.multiselect("Code", sorted(issues["code"].dropna().unique()),
                                     key="preview_issue_codes")
    severities = severity_column.multiselect("Severity", ["error", "warning"],
                                             key="preview_issue_severity")
    search = search_column.text_input("Contains", key="preview_issue_search")
    shown = issues
    if codes:
        shown = shown[shown["code"].isin(codes)]
    if severities:
        shown = shown[shown["severity"].isin(severities)]
    if search:
        text = shown[["column", "field", "value", "message"]].astype("string").fillna("")
        mask = text.apply(lambda column: column.str.contains(search, case=False, regex=False))
        shown = shown[mask.any(axis=1)]
    st.caption(f"{len(shown):,} of {len(issues):,} issues"
               + (f"; the first {MAX_ISSUE_TABLE_ROWS:,} are shown" if len(shown) >
                  MAX_ISSUE_TABLE_ROWS else ""))
    st.dataframe(shown.head(MAX_ISSUE_TABLE_ROWS), hide_index=True, key="preview_issues")


def main() -> None:
    auth.stop_unless_logged_in()
    st.title("Preview")
    loaded = state.get(state.SUBMISSIONS)
    config = state.get(state.MAPPING)
    if loaded is None or config is None:
        st.info("Load a submissions file and map its columns first.")
        st.page_link("app_pages/3_mapping.py", label="Go to Mapping")
        return
    if config.identifier_field() is None:
        st.warning(f"{config.identifier} is not mapped: map it on the Mapping page first.")
        st.page_link("app_pages/3_mapping.py", label="Go to Mapping")
        return
    try:
        result = full_result(loaded, config, project.project_fields())
    except Exception as exc:
        show_error(exc, "Applying the mapping")
        return
    widgets.outcome_counts(result.sent_count, result.blocked_count, result.merged)
    widgets.mapping_warnings(result.warnings)
    if result.new_fields:
        st.subheader("New fields")
        st.dataframe(pd.DataFrame({"field": list(result.new_fields),
                                   "type": list(result.new_fields.values())}),
                     hide_index=True, key="preview_new_fields")
    st.subheader("Rows")
    for position in pick_rows(result):
        show_row(loaded, result, position, config)
    issues_table(result)
    st.page_link("app_pages/5_sync.py", label="Next: sync")


main()
