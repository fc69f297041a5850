"""Page registration: every step has its own deep link, and the root URL shows Connect."""

from __future__ import annotations

import pytest

from tests.app.conftest import logged_in
from ui import navigation


@pytest.fixture
def registered(monkeypatch) -> list:
    """The pages app.py registers with st.navigation in its runs."""
    pages: list = []
    build = navigation.build_pages

    def recording_build_pages():
        built = build()
        pages[:] = built
        return built

    monkeypatch.setattr(navigation, "build_pages", recording_build_pages)
    return pages


def test_pages_deep_links_and_root(app, registered):
    app.run()
    by_path = {page.url_path: page for page in registered}
    for url_path in ("connect", "submissions", "mapping", "preview", "sync", "sandbox"):
        assert url_path in by_path, url_path
    defaults = [page for page in registered if page.url_path == ""]  # served at "/"
    assert len(defaults) == 1
    assert defaults[0].title == "Connect"
    assert str(defaults[0]._page).endswith("app_pages/1_connect.py")


def test_sidebar_connect_link_deep(app):
    logged_in(app)
    link = next(link for link in app.sidebar.get("page_link") if link.proto.label == "1. Connect")
    assert link.proto.page == "connect"
    assert not app.exception
