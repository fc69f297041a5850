"""Session-state keys of the workbench and helpers to read, write and clear them.

Every key the app stores starts with ``wb_`` so that logout can clear the session's work (the
API key included) in one sweep.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.records import Connection, LoadedFile

__all__ = ["Connection", "LoadedFile", "clear_workbench_state", "drop", "get", "put",
           "reset_field_table"]

PREFIX = "wb_"

CONNECTION = "wb_connection"            # Connection, set by the Connect page
PROJECT_FIELDS = "wb_project_fields"    # dict[str, str] field -> type, from getFields
PROJECT_LISTS = "wb_project_lists"      # list of IterableList, from GET /api/lists
LIST_SIZES = "wb_list_sizes"            # dict[int, int], filled on request (rate-limited call)
SUBMISSIONS = "wb_submissions"          # LoadedFile, set by the Submissions page
MAPPING = "wb_mapping"                  # MappingConfig, edited on the Mapping page
EDITOR_VERSION = "wb_editor_version"    # int; bumped to reset the field table after a load
RUN_ID = "wb_run_id"                    # id of the sync run this session started or resumed


def get(key: str, default: Any = None) -> Any:
    """Return the value stored under a workbench key."""
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    """Store a value under a workbench key."""
    st.session_state[key] = value


def drop(*keys: str) -> None:
    """Remove workbench keys (missing ones are ignored)."""
    for key in keys:
        st.session_state.pop(key, None)


def clear_workbench_state() -> None:
    """Forget everything the session stored under ``wb_`` keys (called on logout)."""
    for key in [k for k in st.session_state.keys() if str(k).startswith(PREFIX)]:
        del st.session_state[key]


def reset_field_table() -> None:
    """Make the Mapping page rebuild its field table from the current mapping."""
    st.session_state[EDITOR_VERSION] = st.session_state.get(EDITOR_VERSION, 0) + 1
