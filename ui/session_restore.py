"""Picking up the analyst's last file, mapping and sandbox connection in a new browser session.

A browser reload starts a new Streamlit session with empty session state. After login the app
restores what ``ui.workspace`` saved for the user; after each page run it saves any change.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import streamlit as st

from mapping.config import MappingConfig
from ui import state
from ui.connection import connect
from ui.loading import read_submissions
from ui.workspace import load_workspace, save_workspace

logger = logging.getLogger(__name__)

_RESTORED = "wb_workspace_restored"
_SAVED = "wb_workspace_saved"
_RESTORED_PARTS = "wb_workspace_restored_parts"


def restore_workspace() -> None:
    """Load the user's saved workspace once per session (after login)."""
    if st.session_state.get(_RESTORED):
        return
    username = st.session_state.get("username")
    workspace = load_workspace(username) if username else None
    if not workspace:
        st.session_state[_RESTORED] = True
        return
    # Each step skips what the session already has. The flag is set only at the end, because
    # a rerun request (a widget event, the login cookie being stored) can interrupt this run at
    # any streamlit call. What earlier runs restored is kept in the session for the message.
    restored = st.session_state.setdefault(_RESTORED_PARTS, [])
    for step in (_restore_mapping, _restore_file, _restore_sandbox):
        part = step(workspace)
        if part:
            restored.append(part)
    if isinstance(workspace.get("run_id"), str) and not state.get(state.RUN_ID):
        state.put(state.RUN_ID, workspace["run_id"])
    st.session_state[_RESTORED] = True
    st.session_state[_SAVED] = current_workspace()
    st.session_state.pop(_RESTORED_PARTS, None)
    logger.info("restored the workspace of %r: %s", username, ", ".join(restored) or "nothing")
    if restored:
        st.toast("Restored from your last session: " + _joined(restored) + ".")


def _joined(parts: list[str]) -> str:
    """Return "a", "a and b" or "a, b and c"."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def save_workspace_if_changed() -> None:
    """Save the session's mapping, file and sandbox connection when they changed."""
    username = st.session_state.get("username")
    if not username:
        return
    workspace = current_workspace()
    if workspace == st.session_state.get(_SAVED):
        return
    try:
        save_workspace(username, workspace)
    except OSError as exc:
        logger.warning("could not save the workspace of %r: %s", username, exc)
        return
    st.session_state[_SAVED] = workspace
    logger.debug("saved the workspace of %r", username)


def current_workspace() -> dict[str, Any]:
    """Return the parts of the session worth keeping across a reload (never the API key)."""
    config = state.get(state.MAPPING)
    loaded = state.get(state.SUBMISSIONS)
    connection = state.get(state.CONNECTION)
    return {
        "mapping": config.to_json() if config is not None else None,
        "input": None if loaded is None or loaded.path is None else {
            "name": loaded.name, "path": str(loaded.path),
            "encoding": loaded.encoding, "delimiter": loaded.delimiter,
        },
        "sandbox": connection is not None and connection.target == "sandbox",
        "run_id": state.get(state.RUN_ID),
    }


def _restore_mapping(workspace: dict[str, Any]) -> str | None:
    text = workspace.get("mapping")
    if not text or state.get(state.MAPPING) is not None:
        return None
    try:
        state.put(state.MAPPING, MappingConfig.from_json(text, source_name="saved mapping"))
    except ValueError as exc:
        logger.warning("saved mapping not restored: %s", exc)
        return None
    state.reset_field_table()
    return "the mapping"


def _restore_file(workspace: dict[str, Any]) -> str | None:
    saved = workspace.get("input")
    if not isinstance(saved, dict) or state.get(state.SUBMISSIONS) is not None:
        return None
    path = Path(str(saved.get("path", "")))
    if not path.is_file():
        return None
    try:
        with st.spinner(f"Reading {saved.get('name')} again..."):
            record = read_submissions(str(saved.get("name") or path.name), path.read_bytes(),
                                      encoding=saved.get("encoding"),
                                      delimiter=saved.get("delimiter"))
    except (OSError, ValueError) as exc:
        logger.warning("saved input %s not restored: %s", path.name, exc)
        return None
    state.put(state.SUBMISSIONS, record)
    return record.name


def _restore_sandbox(workspace: dict[str, Any]) -> str | None:
    if not workspace.get("sandbox") or state.get(state.CONNECTION) is not None:
        return None
    try:
        state.put(state.CONNECTION, connect("sandbox"))
    except Exception as exc:
        logger.warning("sandbox connection not restored: %s", exc)
        return None
    return "the sandbox connection"
