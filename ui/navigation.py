"""The workbench's pages in step order, registered with ``st.navigation`` by ``app.py``."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Step:
    """One page of the workbench."""

    path: str        # script path relative to app.py
    title: str
    url_path: str    # the deep link, e.g. http://127.0.0.1:8501/mapping


STEPS = (
    Step("app_pages/1_connect.py", "Connect", "connect"),
    Step("app_pages/2_submissions.py", "Submissions", "submissions"),
    Step("app_pages/3_mapping.py", "Mapping", "mapping"),
    Step("app_pages/4_preview.py", "Preview", "preview"),
    Step("app_pages/5_sync.py", "Sync", "sync"),
)
SANDBOX_STEP = Step("app_pages/6_sandbox.py", "Sandbox", "sandbox")
ALL_PAGES = (*STEPS, SANDBOX_STEP)


# The app's root URL ("/") shows Connect too. Streamlit serves its default page at "/" only, so
# the default page is a second entry for the Connect script, registered after the first one.
# Links and page switches by script path resolve to the first entry, the /connect deep link.
START_URL_PATH = "start"


def build_pages() -> list[st.Page]:
    """Return the ``st.Page`` objects of every page, and the default page that shows Connect."""
    # NOTE: no icons. A page's icon becomes the favicon, and material icons as favicons
    # are fetched from fonts.gstatic.com, so the browser would leave loopback.
    pages = [st.Page(step.path, title=step.title, url_path=step.url_path) for step in ALL_PAGES]
    first = STEPS[0]
    pages.append(st.Page(first.path, title=first.title, url_path=START_URL_PATH, default=True))
    return pages


def step_number(title: str) -> int | None:
    """Return the 1-based number of the step with this title (None for the Sandbox page)."""
    for index, step in enumerate(STEPS, start=1):
        if step.title == title:
            return index
    return None
