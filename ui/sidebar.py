"""The sidebar shared by every page: the current step, what is still missing, links, the
mapping download and logout."""

from __future__ import annotations

import streamlit as st

from ui import auth, project, readiness, state
from ui.navigation import SANDBOX_STEP, STEPS, step_number


def missing_items() -> list[str]:
    """Return what the analyst still has to do before a sync, as short sentences."""
    missing = []
    if state.get(state.CONNECTION) is None:
        missing.append("No project connected: choose the sandbox or enter a key on Connect.")
    if state.get(state.SUBMISSIONS) is None:
        missing.append("No submissions file: load one on Submissions.")
    if not _identifier_mapped():
        config = state.get(state.MAPPING)
        identifier = config.identifier if config is not None else "email"
        missing.append(f"{identifier[:1].upper()}{identifier[1:]} is not mapped: map a column "
                       f"to {identifier} on Mapping.")
        return missing
    loaded = state.get(state.SUBMISSIONS)
    if loaded is not None:
        missing.extend(_mapping_problems(loaded, state.get(state.MAPPING)))
    return missing


def _mapping_problems(loaded: state.LoadedFile, config) -> list[str]:
    try:
        fields = project.project_fields()
    except Exception:  # the pages report an unreachable project; the sidebar stays quiet
        fields = {}
    return readiness.mapping_problems(loaded, config, fields)


def render_sidebar(current_title: str) -> None:
    """Draw the sidebar for the page with this title."""
    with st.sidebar:
        _current_step(current_title)
        _missing_list()
        _links()
        _connection_summary()
        _mapping_download()
        st.divider()
        st.caption(f"Logged in as {st.session_state.get('username') or 'unknown user'}")
        auth.logout_button()


def _identifier_mapped() -> bool:
    config = state.get(state.MAPPING)
    return config is not None and config.identifier_field() is not None


def _current_step(current_title: str) -> None:
    number = step_number(current_title)
    if number is None:
        st.markdown(f"**{current_title}**")
    else:
        st.markdown(f"**Step {number} of {len(STEPS)}: {current_title}**")


def _missing_list() -> None:
    missing = missing_items()
    if not missing:
        st.success("Ready to preview and sync.")
        return
    st.markdown("**Still missing**")
    st.markdown("\n".join(f"- {item}" for item in missing))


def _links() -> None:
    for number, step in enumerate(STEPS, start=1):
        st.page_link(step.path, label=f"{number}. {step.title}")
    connection = state.get(state.CONNECTION)
    if connection is not None and connection.target == "sandbox":
        st.page_link(SANDBOX_STEP.path, label=SANDBOX_STEP.title)


def _mapping_download() -> None:
    config = state.get(state.MAPPING)
    if config is not None:
        st.download_button("Download mapping", config.to_json(), file_name="mapping.json",
                           mime="application/json", key="sidebar_download_mapping")


def _connection_summary() -> None:
    connection = state.get(state.CONNECTION)
    if connection is not None:
        st.caption(f"Connected: {connection.label}, key {connection.masked_key}")
