"""Streamlit entry point of the Iterable mapping workbench: login gate, navigation, sidebar.

Run with ``streamlit run app.py``. Every page is registered with ``st.navigation`` on every run,
so a deep link such as ``/mapping`` selects its page. The page only runs once the session is
logged in. Until then the login form is shown instead, and after login the linked page runs.
"""

import logging

import streamlit as st

from ui import auth, navigation, sidebar
from ui.errors import show_error
from ui.logs import configure_logging
from ui.session_restore import restore_workspace, save_workspace_if_changed

logger = logging.getLogger("ui.app")

# No page_icon: a material icon as favicon is fetched from fonts.gstatic.com, outside loopback.
st.set_page_config(page_title="Iterable mapping workbench", layout="wide")
configure_logging()

# Hidden built-in menu: the sidebar draws its own links, and only after login.
current_page = st.navigation(navigation.build_pages(), position="hidden")

if auth.require_login():
    restore_workspace()
    try:
        current_page.run()
    except Exception as exc:  # st.stop and st.rerun are BaseException and pass through
        show_error(exc, f"The {current_page.title} page")
    # Drawn after the page, so that "still missing" reflects the page's edits of this run.
    sidebar.render_sidebar(current_page.title)
    save_workspace_if_changed()
