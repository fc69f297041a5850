"""Fixtures of the browser tests: a real `streamlit run` of app.py and Debian's Chromium.

The app runs as a subprocess on a free loopback port with its own WORKBENCH_HOME (credentials
file with a known user, run journal, the app's sandbox), and Playwright drives Chromium against
it. Chromium is never downloaded: the tests use the system's `chromium` executable. Without one
they skip, unless WORKBENCH_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails.

The server's output goes to a log file whose last lines are attached to a failed test's report.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ui.credentials import CREDENTIALS_FILE_NAME, write_credentials_file

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
README_SCREENSHOT_DIR = REPO_ROOT / "docs" / "screenshots"
# Set to 1 to refresh the README's screenshots; otherwise a run leaves the work tree unchanged.
UPDATE_SCREENSHOTS_VARIABLE = "WORKBENCH_UPDATE_SCREENSHOTS"
VIEWPORT = {"width": 1280, "height": 900}
E2E_USERNAME = "analyst"
OTHER_USERNAME = "reviewer"
STARTUP_TIMEOUT_SECONDS = 60.0
LOG_TAIL_LINES = 60
EXPECT_TIMEOUT_MS = 15_000
ACTION_TIMEOUT_MS = 20_000
REQUIRE_BROWSER_VARIABLE = "WORKBENCH_REQUIRE_BROWSER"
INSTALL_HINT = (
    "No Chromium executable was found (looked for `chromium` and `chromium-browser` on PATH). "
    "Install Debian's package with `apt-get install chromium` to run the browser tests; "
    "`playwright install` is not needed."
)
# Without these flags Chromium contacts Google services in the background. Only loopback is
# allowed here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--no-default-browser-check",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
]


@dataclass
class AppServer:
    """A running `streamlit run app.py` and where to find what it wrote."""

    base_url: str
    home: Path
    log_path: Path
    username: str          # the flow test's analyst
    other_username: str    # a second user, so other tests start from an empty workspace
    password: str          # both users' password (random per test session)

    def log_text(self) -> str:
        """Return the server's whole output so far ("" when the log cannot be read)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tracebacks(self) -> list[str]:
        """Return the Python tracebacks the server printed (uncaught errors of pages or threads)."""
        blocks = []
        lines = self.log_text().splitlines()
        for index, line in enumerate(lines):
            if line.startswith("Traceback (most recent call last)"):
                end = next((i for i in range(index + 1, len(lines))
                            if lines[i] and not lines[i].startswith(" ")), len(lines) - 1)
                blocks.append("\n".join(lines[index:end + 1]))
        return blocks

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last lines of the server's output (for failure reports)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no server log: {exc.strerror})"
        return "\n".join(text.splitlines()[-lines:])


def find_chromium() -> str | None:
    """Return the path of the system's Chromium executable, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_required() -> bool:
    """True when a missing browser must fail the tests (CI) instead of skipping them."""
    return os.environ.get(REQUIRE_BROWSER_VARIABLE, "").strip() == "1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Poll Streamlit's health endpoint until it returns "ok", or fail the test naming the log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with status {process.returncode} before it was "
                        f"ready; its output is in {log_path}")
        try:
            response = httpx.get(f"{base_url}/_stcore/health", timeout=2.0)
            if response.status_code == 200 and response.text.strip() == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit was not healthy after {STARTUP_TIMEOUT_SECONDS:.0f} s; "
                f"its output is in {log_path}")


def stop_process(process: subprocess.Popen) -> None:
    """Terminate the server, and kill it if it has not exited 10 seconds later."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Return the system Chromium's path, or skip (fail in CI) when there is none."""
    path = find_chromium()
    if path is None:
        if browser_required():
            pytest.fail(f"{INSTALL_HINT} ({REQUIRE_BROWSER_VARIABLE}=1 makes this a failure.)")
        pytest.skip(INSTALL_HINT)
    return path


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, chromium_executable) -> Iterator[AppServer]:
    """`streamlit run app.py` on a free loopback port with a private WORKBENCH_HOME."""
    home = tmp_path_factory.mktemp("e2e-home")
    password = secrets.token_urlsafe(16)
    # Low bcrypt cost: the hash is only for this throwaway home.
    write_credentials_file(home / CREDENTIALS_FILE_NAME,
                           {E2E_USERNAME: password, OTHER_USERNAME: password}, rounds=4)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Outside pytest's rotating temp folders, so the log outlives later pytest sessions.
    log_path = Path(tempfile.mkdtemp(prefix="workbench-e2e-")) / "streamlit.log"
    environment = {
        **os.environ,
        "WORKBENCH_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("ITERABLE_API_KEY", None)

    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    logger.info("started streamlit (pid %d) at %s, log %s", process.pid, base_url, log_path)

    try:
        wait_until_healthy(base_url, process, log_path)
        yield AppServer(base_url, home, log_path, E2E_USERNAME, OTHER_USERNAME, password)
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def browser(chromium_executable):
    """One headless Chromium for the session, driven by Playwright's sync API."""
    from playwright.sync_api import expect, sync_playwright

    # A script run of a cold server (first imports) or of a busy CI machine takes seconds.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def outside_requests() -> list[str]:
    """URLs outside loopback that the page tried to load (each was blocked)."""
    return []


@pytest.fixture
def page(request, browser, app_server, outside_requests):
    """A fresh browser context (no cookies) and page at 1280x900.

    Every request to a host other than 127.0.0.1 is aborted and recorded in
    ``outside_requests``, so a test can assert that the app stays on loopback.
    """
    from tests.e2e.steps import is_loopback

    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True,
                                  base_url=app_server.base_url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)

    def guard(route):
        url = route.request.url
        if is_loopback(url):
            route.continue_()
            return
        outside_requests.append(url)
        logger.warning("blocked a browser request outside loopback: %s", url)
        route.abort()

    context.route("**/*", guard)
    new_page = context.new_page()
    try:
        yield new_page
        if getattr(request.node, "e2e_call_failed", False):
            save_failure_screenshot(new_page, app_server, request.node.name)
    finally:
        context.close()


def save_failure_screenshot(page, server: AppServer, test_name: str) -> None:
    """Keep what the browser showed when a test failed, next to the server log."""
    from tests.e2e.steps import save_screenshot

    path = server.log_path.with_name(f"failure-{test_name}.png")
    try:
        save_screenshot(page, path, wait=False)
    except Exception as exc:  # the page may be gone, and the log still helps
        logger.warning("no failure screenshot for %s: %s", test_name, exc)
        return
    logger.warning("failure screenshot of %s: %s", test_name, path)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """The folder for step screenshots: docs/screenshots/ when refreshing them, else a temp one."""
    if os.environ.get(UPDATE_SCREENSHOTS_VARIABLE) == "1":
        README_SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        return README_SCREENSHOT_DIR
    return tmp_path_factory.mktemp("screenshots")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of the streamlit log to the report of a failed browser test."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    item.e2e_call_failed = True
    server = item.funcargs.get("app_server") if hasattr(item, "funcargs") else None
    if isinstance(server, AppServer):
        report.sections.append(("streamlit log (last lines)", server.log_tail()))
