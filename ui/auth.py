"""The login gate every page passes through, and the logout button.

streamlit-authenticator 0.4 keeps the login state (``st.session_state["authentication_status"]``),
checks bcrypt hashes and signs the re-login cookie. This module draws its own login form so that
each attempt passes the throttle (``ui.throttle``) before the password is checked, and so that the
message never reveals whether the username exists.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
from functools import lru_cache

import bcrypt
import streamlit as st
import streamlit_authenticator as stauth

from ui import state
from ui.credentials import (
    CredentialsError,
    credentials_path,
    ensure_credentials_file,
    load_credentials_file,
)
from ui.throttle import LoginThrottle

logger = logging.getLogger(__name__)

WRONG_LOGIN_MESSAGE = "Username or password is incorrect."
_AUTHENTICATOR_KEY = "wb_authenticator"
_throttle = LoginThrottle()


def set_login_throttle(throttle: LoginThrottle) -> None:
    """Replace the process-wide throttle (tests pass one with a fake clock)."""
    global _throttle
    _throttle = throttle


def login_throttle() -> LoginThrottle:
    """Return the process-wide throttle shared by all browser sessions."""
    return _throttle


def require_login() -> bool:
    """Show the login form unless the session is logged in; return True when it is."""
    authenticator = _authenticator()
    if authenticator is None:
        return False
    if st.session_state.get("authentication_status"):
        return True
    _try_cookie_login(authenticator)
    if st.session_state.get("authentication_status"):
        return True
    return _login_form(authenticator)


def logout_button() -> None:
    """Draw the logout button in the sidebar; after a click, clear the session's work and rerun."""
    authenticator = st.session_state.get(_AUTHENTICATOR_KEY)
    if authenticator is None or not st.session_state.get("authentication_status"):
        return
    username = st.session_state.get("username")
    authenticator.logout(button_name="Log out", location="sidebar", key="sidebar_logout")
    if not st.session_state.get("authentication_status"):
        logger.info("user %r logged out", username)
        state.clear_workbench_state()
        st.rerun()


def _authenticator() -> stauth.Authenticate | None:
    authenticator = st.session_state.get(_AUTHENTICATOR_KEY)
    if authenticator is not None:
        return authenticator
    path = credentials_path()
    try:
        ensure_credentials_file(path, announce=_print_to_terminal)
        document = load_credentials_file(path)
    except CredentialsError as exc:
        logger.error("login unavailable: %s", exc)
        st.error(str(exc))
        return None
    cookie = document["cookie"]
    authenticator = stauth.Authenticate(
        copy.deepcopy(document["credentials"]),
        cookie.get("name", "workbench_auth"),
        cookie["key"],
        float(cookie.get("expiry_days", 7)),
        auto_hash=False,
        login_sleep_time=0,
    )
    st.session_state[_AUTHENTICATOR_KEY] = authenticator
    return authenticator


def _print_to_terminal(message: str) -> None:
    # The one-time password goes to the terminal of `streamlit run`, never to a log file.
    print(message, file=sys.stderr, flush=True)


def _try_cookie_login(authenticator: stauth.Authenticate) -> None:
    try:
        authenticator.login(location="unrendered")
    except Exception as exc:  # a cookie for a removed user, a malformed token, ...
        logger.info("re-login from cookie failed: %s", type(exc).__name__)


def _login_form(authenticator: stauth.Authenticate) -> bool:
    # The form lives in a placeholder that a successful login clears, so the page can run in
    # the same script run. A st.rerun() here would drop the component that sets the cookie.
    placeholder = st.empty()
    with placeholder.container():
        logged_in = _draw_login_form(authenticator)
    if logged_in:
        placeholder.empty()
        authenticator.cookie_controller.set_cookie()
    return logged_in


def _draw_login_form(authenticator: stauth.Authenticate) -> bool:
    st.title("Iterable mapping workbench")
    with st.form("login", clear_on_submit=True):
        st.subheader("Log in")
        username = st.text_input("Username", key="login_username", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="login_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Log in")
    st.caption(
        "On the first start the terminal running `streamlit run` printed the password of "
        "the user `admin`."
    )
    return submitted and _check_login(authenticator, username, password)


def _check_login(authenticator: stauth.Authenticate, username: str, password: str) -> bool:
    if not username.strip() or not password:
        st.error("Enter a username and a password.")
        return False
    client = _client_id()
    wait = _throttle.seconds_to_wait(username, client)
    if wait > 0:
        logger.warning("login for username %r from %s throttled for %.0f s", username, client, wait)
        st.error(f"Too many failed logins. Wait {math.ceil(wait)} seconds, then try again.")
        return False
    if _password_matches(authenticator, username, password):
        _throttle.record_success(username)
        logger.info("user %r logged in from %s", st.session_state.get("username"), client)
        return True
    failures = _throttle.record_failure(username, client)
    logger.warning(
        "failed login for username %r from %s (%d failures in the last 10 minutes)",
        username, client, failures,
    )
    st.error(WRONG_LOGIN_MESSAGE)
    return False


def _password_matches(authenticator: stauth.Authenticate, username: str, password: str) -> bool:
    known = authenticator.authentication_controller.authentication_model.credentials["usernames"]
    if username.strip().lower() not in known:
        # Spend the same bcrypt time as for a real user so timing does not reveal who exists.
        bcrypt.checkpw(password.encode("utf-8"), _dummy_hash())
        return False
    return bool(authenticator.authentication_controller.login(username, password))


@lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"not a password of anyone", bcrypt.gensalt(12))


def _client_id() -> str:
    # Streamlit reports the socket's peer address; proxies' forwarding headers are not trusted.
    try:
        address = st.context.ip_address
    except Exception:  # pragma: no cover - older Streamlit without st.context.ip_address
        address = None
    return address if isinstance(address, str) and address else "unknown client"


def stop_unless_logged_in() -> None:
    """Stop a page script that runs without a login (each page calls it first, as a second lock)."""
    if not st.session_state.get("authentication_status"):
        st.warning("Log in first: open the app's start page.")
        st.stop()
