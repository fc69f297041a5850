"""The login gate every page passes through, and the logout button.

streamlit-authenticator 0.4 keeps the login state (``st.session_state["authentication_status"]``),
checks bcrypt hashes and signs the re-login cookie. This module draws its own login form so that
each attempt passes the throttle (``ui.throttle``) before the password is checked, and so that the
message never reveals whether the username exists.

The re-login cookie is set and deleted by a small browser component that stays drawn until the
browser confirms the change. Log out also records the time per user (``ui.logouts``), and a
cookie issued before a user's last logout is refused, so a reload after Log out always shows the
login form, even when the browser never ran the deletion.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import sys
from functools import lru_cache

import bcrypt
import jwt
import streamlit as st
import streamlit_authenticator as stauth

from ui import logouts, state
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
# The pending change of the browser's login cookie: {"method": "set", "token": ...} after a
# password login, {"method": "delete"} after Log out. It is drawn on every run until the
# browser reports it done, because a rerun that starts first would remove it unsent.
_COOKIE_REQUEST = "wb_login_cookie_request"
_COOKIE_SERIAL = "login_cookie_serial"  # no wb_ prefix: it counts on across logouts
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
        _send_cookie_request(authenticator)
        return True
    _try_cookie_login(authenticator)
    if st.session_state.get("authentication_status"):
        return True
    logged_in = _login_form(authenticator)
    # After the form: in the run that logs in, the request is already the new cookie.
    _send_cookie_request(authenticator)
    return logged_in


def logout_button() -> None:
    """Draw the logout button (in the sidebar the caller opened); a click logs the session out.

    The work happens in the button's callback, before the next run starts, so that this next run
    draws the login form together with the request that deletes the browser's login cookie.
    """
    if st.session_state.get(_AUTHENTICATOR_KEY) is None:
        return
    if not st.session_state.get("authentication_status"):
        return
    st.button("Log out", key="sidebar_logout", on_click=_log_out)


def _log_out() -> None:
    authenticator = st.session_state.get(_AUTHENTICATOR_KEY)
    username = st.session_state.get("username")
    if authenticator is not None:
        # Clears the login from the session and sets the authenticator's "logout" flag, which
        # stops this session from logging in again from the cookie it was opened with.
        authenticator.authentication_controller.logout()
    if username:
        try:
            logouts.record_logout(username)
        except OSError as exc:
            logger.warning("could not record the logout of %r: %s", username, exc)
    # This also clears the restored-workspace marker, so the next login restores the workspace.
    state.clear_workbench_state()
    st.session_state[_COOKIE_REQUEST] = {"method": "delete", "serial": _serial()}
    logger.info("user %r logged out", username)


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
        token = authenticator.cookie_controller.get_cookie()
        if not token:
            return
        if _issued_before_logout(authenticator, token):
            logger.info("rejected a login cookie of %r issued before the last logout",
                        token.get("username"))
            # The session keeps the cookie header it was opened with: stop reading it (the
            # authenticator's own flag) and have the browser delete the cookie once.
            st.session_state["logout"] = True
            st.session_state[_COOKIE_REQUEST] = {"method": "delete", "serial": _serial()}
            return
        authenticator.login(location="unrendered")
    except Exception as exc:  # a cookie for a removed user, a malformed token, ...
        logger.info("re-login from cookie failed: %s", type(exc).__name__)


def _issued_before_logout(authenticator: stauth.Authenticate, token: dict) -> bool:
    # The token carries only its expiry; it was issued the cookie's lifetime before that.
    lifetime_days = float(authenticator.cookie_controller.cookie_model.cookie_expiry_days or 0)
    issued_at = float(token.get("exp_date", 0)) - lifetime_days * 86_400
    return logouts.issued_before_logout(str(token.get("username", "")), issued_at)


def _send_cookie_request(authenticator: stauth.Authenticate) -> None:
    """Draw the pending cookie change (an invisible component); forget it once it ran.

    The component runs in the browser, sets or deletes the cookie on the path "/", and reports
    True, which reruns the script; that run sees the True and stops drawing it.
    """
    request = st.session_state.get(_COOKIE_REQUEST)
    if not request:
        return
    model = authenticator.cookie_controller.cookie_model
    arguments = {"method": request["method"], "cookie": model.cookie_name}
    if request["method"] == "set":
        arguments.update(value=request["token"], options={
            "path": "/", "expires": request["expires"], "sameSite": "strict"})
    done = model.cookie_manager.cookie_manager(
        **arguments, key=f"login_cookie_{request['method']}_{request['serial']}", default=False)
    if done:
        st.session_state.pop(_COOKIE_REQUEST, None)


def _request_cookie(authenticator: stauth.Authenticate) -> None:
    """Ask the browser to store a login cookie for the session's user, issued now."""
    model = authenticator.cookie_controller.cookie_model
    days = float(model.cookie_expiry_days or 0)
    if days <= 0:
        return
    expires = dt.datetime.now() + dt.timedelta(days=days)
    token = jwt.encode({"username": st.session_state["username"], "exp_date": expires.timestamp()},
                       model.cookie_key, algorithm="HS256")
    st.session_state[_COOKIE_REQUEST] = {"method": "set", "token": token,
                                         "expires": expires.isoformat(), "serial": _serial()}


def _serial() -> int:
    # A new component key per request, so a second login after a logout is a new request.
    serial = st.session_state.get(_COOKIE_SERIAL, 0) + 1
    st.session_state[_COOKIE_SERIAL] = serial
    return serial


def _login_form(authenticator: stauth.Authenticate) -> bool:
    # The form lives in a placeholder that a successful login clears, so the page can run in
    # the same script run. A st.rerun() here would drop the component that sets the cookie.
    placeholder = st.empty()
    with placeholder.container():
        logged_in = _draw_login_form(authenticator)
    if logged_in:
        placeholder.empty()
        _request_cookie(authenticator)
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
    """Return the client's address for the log and the throttle.

    Streamlit reports the socket's peer address, but None for a loopback peer. So a session with
    request headers but no address is a browser on this machine. Proxies' forwarding headers are
    not trusted.
    """
    try:
        address = st.context.ip_address
        has_headers = bool(st.context.headers)
    except Exception:  # pragma: no cover - older Streamlit without st.context.ip_address
        address, has_headers = None, False
    if isinstance(address, str) and address:
        return address
    return "loopback (this machine)" if has_headers else "unknown client"


def stop_unless_logged_in() -> None:
    """Stop a page script that runs without a login (each page calls it first, as a second lock)."""
    if not st.session_state.get("authentication_status"):
        st.warning("Log in first: open the app's start page.")
        st.stop()
