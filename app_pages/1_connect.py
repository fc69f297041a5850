"""Step 1, Connect: choose the local sandbox or an Iterable project, and check the key."""

import logging

import streamlit as st

from mapping.iterable.errors import BadApiKeyError, IterableError, NetworkError
from ui import auth, project, state
from ui.connection import configured_key, connect
from ui.errors import show_error

logger = logging.getLogger("ui.pages.connect")

SANDBOX = "Sandbox (local)"
ITERABLE = "Iterable"
REGION_LABELS = {"us": "US (api.iterable.com)", "eu": "EU (api.eu.iterable.com)"}


def connect_error_message(exc: Exception, region: str) -> str:
    """Return the sentence shown when Connect fails."""
    if isinstance(exc, BadApiKeyError):
        other = "EU" if region == "us" else "US"
        return (
            f"Iterable rejected the key in the {region.upper()} region (401 BadApiKey). Check "
            "that you pasted the whole server-side key, and that the project is in this region: "
            f"a key of an {other} project only works with region {other}."
        )
    if isinstance(exc, NetworkError):
        return (
            f"Could not reach Iterable ({exc}). Check the network connection, or choose "
            f"{SANDBOX!r} to work without one."
        )
    if isinstance(exc, (IterableError, ValueError)):
        return str(exc)
    return ""


def run_connect(target: str, region: str, api_key: str, key_source: str) -> None:
    """Validate the key, store the connection, and show what happened."""
    try:
        connection = connect(target, region=region, api_key=api_key, key_source=key_source)
    except Exception as exc:
        message = connect_error_message(exc, region)
        if message:
            logger.info("connect failed: %s", type(exc).__name__)
            st.error(message)
        else:
            show_error(exc, "Connecting")
        return
    project.forget_project_data()
    state.put(state.CONNECTION, connection)
    st.rerun()


def show_connected(connection: state.Connection) -> None:
    """Show the connected project: lists count, masked key, Replace key and Disconnect."""
    st.success(
        f"Connected to {connection.label}: the project has {connection.lists_count} lists."
    )
    st.markdown(f"API key: `{connection.masked_key}` (from {connection.key_source})")
    if connection.can_write is False:
        st.error(
            "This key can read but not write: Iterable refused the first write. Create a "
            "server-side key with write access in Iterable (Integrations > API keys), then use "
            "Replace key."
        )
    replace, disconnect = st.columns(2)
    if connection.target == "iterable" and replace.button("Replace key", key="connect_replace"):
        state.drop(state.CONNECTION)
        project.forget_project_data()
        st.session_state["connect_target"] = ITERABLE  # show the key form again
        st.session_state["connect_region"] = connection.region
        st.rerun()
    if disconnect.button("Disconnect", key="connect_disconnect"):
        state.drop(state.CONNECTION)
        project.forget_project_data()
        st.rerun()


def iterable_form() -> None:
    """Region and key for a real Iterable project; the key field is cleared after submit."""
    preset = configured_key(st.secrets)
    with st.form("connect_form", clear_on_submit=True):
        region = st.radio(
            "Region", list(REGION_LABELS), format_func=REGION_LABELS.get, key="connect_region",
            horizontal=True,
        )
        use_preset = False
        if preset is not None:
            use_preset = st.checkbox(f"Use the key from {preset[1]}", value=True,
                                     key="connect_use_configured")
        api_key = st.text_input(
            "API key", type="password", key="connect_api_key",
            help="A server-side key of the project. It stays in this session's memory only.",
        )
        submitted = st.form_submit_button("Connect")
    if submitted:
        if use_preset and not api_key:
            run_connect("iterable", region, preset[0], preset[1])
        else:
            run_connect("iterable", region, api_key, "entered on this page")


def sandbox_form() -> None:
    """Offer the sandbox, which needs no key because it runs inside this app on loopback."""
    st.caption(
        "A local Iterable-compatible server with a seeded demo project. It starts inside this "
        "app on 127.0.0.1, and its data lives in the workbench home folder."
    )
    if st.button("Connect", key="connect_sandbox"):
        run_connect("sandbox", "us", "", "sandbox demo key")


def main() -> None:
    auth.stop_unless_logged_in()
    st.title("Connect")
    connection = state.get(state.CONNECTION)
    if connection is not None:
        show_connected(connection)
        return
    target = st.radio("Connect to", [SANDBOX, ITERABLE], key="connect_target", horizontal=True)
    if target == SANDBOX:
        sandbox_form()
    else:
        iterable_form()


main()
