"""Sandbox: what arrived in the local sandbox (lists with sizes, fields with types, a user)."""

import json
import logging

import pandas as pd
import streamlit as st

from ui import auth, project
from ui.connection import find_user, sandbox_overview
from ui.errors import show_error

logger = logging.getLogger("ui.pages.sandbox")


def lists_and_fields(overview: dict) -> None:
    """Show the lists with their sizes and the user fields with their types."""
    st.metric("Users in the sandbox", f"{overview.get('userCount', 0):,}")
    lists = pd.DataFrame([
        {"id": item.get("id"), "name": item.get("name"), "type": item.get("listType"),
         "users": item.get("size")}
        for item in overview.get("lists", [])
    ])
    st.subheader("Lists")
    st.dataframe(lists, hide_index=True, key="sandbox_lists")
    fields = overview.get("fields", {})
    st.subheader("User fields")
    st.dataframe(pd.DataFrame({"field": list(fields), "type": list(fields.values())}),
                 hide_index=True, key="sandbox_fields")


def user_lookup(connection) -> None:
    """Look up one user's profile by email."""
    st.subheader("Look up a user")
    with st.form("sandbox_user_form"):
        email = st.text_input("Email", key="sandbox_user_email")
        submitted = st.form_submit_button("Look up")
    if not submitted:
        return
    if not email.strip():
        st.error("Enter an email address.")
        return
    try:
        user = find_user(connection, email)
    except Exception as exc:
        show_error(exc, "Looking up the user")
        return
    if user is None:
        st.info(f"No user with the email {email.strip()} in the sandbox.")
        return
    st.code(json.dumps(user, indent=2, ensure_ascii=False), language="json")


def main() -> None:
    auth.stop_unless_logged_in()
    st.title("Sandbox")
    connection = project.connection()
    if connection is None or connection.target != "sandbox":
        st.info("This view shows the local sandbox. Choose Sandbox (local) on the Connect page.")
        st.page_link("app_pages/1_connect.py", label="Go to Connect")
        return
    st.caption(f"Sandbox at {connection.base_url}")
    if st.button("Refresh", key="sandbox_refresh"):
        st.rerun()
    try:
        overview = sandbox_overview(connection)
    except Exception as exc:
        show_error(exc, "Reading the sandbox")
        return
    lists_and_fields(overview)
    user_lookup(connection)


main()
