"""Reusable page parts: the reader's report, the data-quality summary, issue tables, counts."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def count_phrase(count: int, noun: str) -> str:
    """Return "1 issue" or "3 issues" (thousands separated); ``noun`` is the singular."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def reader_report(report: Any) -> None:
    """Show how the reader read the file: format, encoding, delimiter, fixed headers, warnings."""
    parts = [f"Format: **{report.format}**"]
    if report.encoding:
        parts.append(f"encoding: **{report.encoding}**")
    if report.delimiter:
        parts.append(f"delimiter: **{DELIMITER_NAMES.get(report.delimiter, report.delimiter)}**")
    st.markdown(", ".join(parts))
    kinds = pd.Series([column.kind for column in report.columns]).value_counts()
    st.caption(", ".join(count_phrase(count, f"{kind} column") for kind, count in kinds.items()))
    for fix in report.header_fixes:
        st.info(f"Header fixed: {fix}")
    for warning in report.warnings:
        st.warning(warning)


def quality_summary(summary: dict[str, Any]) -> None:
    """Show invalid, missing and duplicate emails and the columns with empty values."""
    if not summary.get("email_column"):
        st.warning("No column looks like an email address; map the email column by hand on "
                   "the Mapping page.")
    else:
        st.caption(f"Checked column: {summary['email_column']}")
    invalid, missing, duplicates = st.columns(3)
    invalid.metric("Invalid emails", summary.get("invalid_emails", 0))
    missing.metric("Empty emails", summary.get("missing_emails", 0))
    duplicates.metric("Duplicate emails", summary.get("duplicate_emails", 0))
    empty = {name: count for name, count in summary.get("empty_values", {}).items() if count}
    if empty:
        st.caption("Empty values per column: " + ", ".join(
            f"{name} {count:,}" for name, count in sorted(empty.items(), key=lambda i: -i[1])))


def outcome_counts(sendable: int, skipped: int, merged: int) -> None:
    """Three metrics: rows that would be sent, skipped for issues, merged as duplicates."""
    sent_column, skipped_column, merged_column = st.columns(3)
    sent_column.metric("Would be sent", f"{sendable:,}")
    skipped_column.metric("Skipped (issues)", f"{skipped:,}")
    merged_column.metric("Merged (duplicates)", f"{merged:,}")


def mapping_warnings(warnings: list[Any]) -> None:
    """Show mapping-level problems: errors block every row, warnings only inform."""
    for warning in warnings:
        text = f"{warning.field}: {warning.message}" if warning.field else warning.message
        if warning.severity == "error":
            st.error(text)
        else:
            st.warning(text)
