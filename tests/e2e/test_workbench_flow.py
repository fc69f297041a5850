"""The workbench in a real browser: the analyst's whole path from login to synced users.

One `streamlit run app.py` serves every test here (fixture `app_server`); each test opens a new
browser context, so it starts logged out. The flow test saves a screenshot of each step to
docs/screenshots/ (shown in the README) and checks the app's own sandbox over HTTP.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sqlite3
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from mapping.iterable.sandbox import SANDBOX_API_KEY
from tests.e2e import steps
from tests.e2e.conftest import REPO_ROOT
from ui.credentials import COOKIE_NAME

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.e2e

SAMPLE_FILE = REPO_ROOT / "sample_data" / "submissions.csv"
SAMPLE_ROWS = 360
LIST_ID = 102
LIST_LABEL = re.compile(rf"^Spring sale pop-up \(id {LIST_ID}")
STATIC_FIELD = ("signupSource", "spring-sale-popup")
NEW_FIELD = ("Browser", "browser")        # file column -> new Iterable field typed in the grid
KNOWN_USER = ("lukas.schmidt@example.org", "Chrome")   # first row of the sample, its browser
# Latency the app's sandbox adds to every /api/ request while the sync runs, so that the run
# is still going when the page is reloaded (a sample sync is one request).
SYNC_LATENCY_MS = 12_000
PROGRESS_TEXT = re.compile(rf"^\d+ of {SAMPLE_ROWS} rows$")
RUN_HEADING = re.compile(r"^Run (\S+) is running$")
SANDBOX_URL_TEXT = re.compile(r"Sandbox at (http://127\.0\.0\.1:\d+)")


def sandbox_request(method: str, base_url: str, path: str, **kwargs) -> httpx.Response:
    """Call the app's sandbox (its fixed demo key) and fail the test on an error status."""
    response = httpx.request(method, f"{base_url}{path}", headers={"Api-Key": SANDBOX_API_KEY},
                             timeout=30.0, **kwargs)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response


def set_sandbox_latency(base_url: str, latency_ms: int) -> None:
    """Make the app's sandbox delay every /api/ request by this much (0 to stop)."""
    sandbox_request("POST", base_url, "/_sandbox/faults", json={"latency_ms": latency_ms})


def connect_sandbox(page: Page) -> None:
    """On the Connect page, connect to the local sandbox (unless the session already is)."""
    connected = page.get_by_text(re.compile(r"^Connected to Sandbox"))
    if connected.count() == 0:
        steps.keyed(page, "connect_sandbox").get_by_role("button", name="Connect").click()
    expect(connected).to_be_visible()
    steps.wait_until_idle(page)


def sandbox_base_url(page: Page) -> str:
    """Return the base URL of the app's sandbox, as the Sandbox page shows it."""
    steps.open_step(page, "Sandbox", "Sandbox")
    caption = steps.text_of_prefix(page, "Sandbox at ")
    match = SANDBOX_URL_TEXT.search(caption)
    assert match, f"the Sandbox page shows no loopback URL: {caption!r}"
    return match.group(1)


def upload_sample(page: Page) -> None:
    """On the Submissions page, upload the sample file through the file chooser."""
    page.locator(".st-key-submissions_source").get_by_text("Upload a file").click()
    steps.upload_file(page, "submissions_upload", SAMPLE_FILE)
    expect(page.get_by_role("heading", name=re.compile(
        rf"^{re.escape(SAMPLE_FILE.name)}: {SAMPLE_ROWS} rows"))).to_be_visible()
    steps.wait_until_idle(page)


def map_sample(page: Page) -> None:
    """On the Mapping page: pick the list, map one more column in the grid, add a static field."""
    steps.choose_option(page, "mapping_list", LIST_LABEL)
    expect(steps.keyed(page, "mapping_list").get_by_role("combobox")).to_have_value(LIST_LABEL)

    # The Browser column is a system column, hidden until "Show more fields" is on.
    steps.keyed(page, "mapping_show_more").locator("label").click()
    expect(steps.keyed(page, "mapping_show_more").get_by_role("switch")).to_be_checked()
    steps.wait_until_idle(page)
    column, target = NEW_FIELD
    steps.type_into_cell(page, steps.field_table(page), column, "New field name", target)
    # The sample's dates read either way (01/03/2026), and its phone numbers without +49 are German.
    steps.type_into_cell(page, steps.field_table(page), "Subscribed at", "Date order", "DMY")
    steps.type_into_cell(page, steps.field_table(page), "Phone number", "Phone region", "DE")
    steps.scroll_grid_to_start(steps.field_table(page))  # for the screenshot
    expect(page.get_by_text(re.compile(r"^New fields a sync would create: .*"
                                       + re.escape(f"{target} (string)")))).to_be_visible()

    name, value = STATIC_FIELD
    steps.keyed(page, "mapping_static_name").get_by_role("textbox").fill(name)
    steps.keyed(page, "mapping_static_value").get_by_role("textbox").fill(value)
    steps.keyed(page, "mapping_static_add").get_by_role("button").click()
    expect(page.get_by_text(f"'{value}'", exact=True)).to_be_visible()
    steps.wait_until_idle(page)


def check_preview(page: Page) -> None:
    """Check that Preview shows the subscribe request body with the mapped and static fields."""
    expect(page.get_by_text("POST /api/lists/subscribe").first).to_be_visible()
    body = page.locator('[data-testid="stCode"]').first
    expect(body).to_contain_text(f'"listId": {LIST_ID}')
    expect(body).to_contain_text(f'"{STATIC_FIELD[0]}": "{STATIC_FIELD[1]}"')
    expect(body).to_contain_text(f'"{NEW_FIELD[1]}": "{KNOWN_USER[1]}"')
    expect(body).to_contain_text(KNOWN_USER[0])


def running_run_id(page: Page) -> str:
    """Wait for the Sync page's "Run ... is running" heading and return the run id."""
    heading = page.get_by_role("heading", name=RUN_HEADING)
    expect(heading).to_be_visible(timeout=30_000)
    return RUN_HEADING.match((heading.text_content() or "").strip()).group(1)


def wait_for_batch_in_flight(journal_path, run_id: str) -> None:
    """Wait until the run's journal shows a batch that was sent and has no response yet.

    The journal belongs to the app's process, so the test only reads it, through a read-only
    SQLite connection. A writable connection may checkpoint and remove the write-ahead log when
    it closes.
    """
    deadline = time.monotonic() + SYNC_LATENCY_MS / 1000
    uri = f"file:{journal_path}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        while True:
            in_flight = connection.execute(
                "SELECT COUNT(*) FROM batches WHERE run_id = ? AND state = 'in_flight'",
                (run_id,)).fetchone()[0]
            if in_flight:
                return
            state = connection.execute("SELECT state FROM runs WHERE run_id = ?",
                                       (run_id,)).fetchone()
            assert state and state[0] == "running", (
                f"run {run_id} ended before its batch was seen in flight")
            assert time.monotonic() < deadline, f"run {run_id} sent no batch"
            time.sleep(0.05)
    finally:
        connection.close()


def wait_for_result(page: Page, run_id: str) -> None:
    """Wait until the run has ended, then make sure its result is on the page."""
    expect(page.get_by_role("heading", name=RUN_HEADING)).to_have_count(
        0, timeout=SYNC_LATENCY_MS * 4)
    steps.wait_until_idle(page)
    result = page.get_by_role("heading", name=re.compile(rf"^Run {re.escape(run_id)}: "))
    if result.count() == 0:
        # A session that did not start the run shows it through the history's Show button.
        steps.choose_option(page, "sync_history_run", re.compile(rf"^{re.escape(run_id)}\b"))
        steps.keyed(page, "sync_history_show").get_by_role("button").click()
    expect(result).to_be_visible()
    steps.wait_until_idle(page)


def metric_value(page: Page, label: str) -> int:
    """Return the number shown by the metric with this label (first match)."""
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.get_by_text(label, exact=True)).first
    value = metric.locator('[data-testid="stMetricValue"]').text_content() or ""
    return int(value.replace(",", "").strip())


def download_not_sent(page: Page, tmp_path) -> list[dict[str, str]]:
    """Download the rows not sent (CSV) from the run result and return its records."""
    # A click while the page is still redrawing the finished run lands on a button that is
    # being replaced, and no download starts.
    steps.wait_until_idle(page)
    button = steps.keyed(page, "sync_download_failed").get_by_role("button")
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    text = target.read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def log_in_if_form_shown(page: Page, app_server) -> bool:
    """After a reload: log in when the form shows (see test_login_survives_reload)."""
    page.wait_for_selector('[data-testid="stMain"]')
    steps.wait_until_idle(page)
    if not steps.login_form_shown(page):
        return False
    logger.warning("the reload asked for the login again")
    steps.log_in(page, app_server.username, app_server.password)
    return True


def test_full_flow_with_reload_mid_sync(page, app_server, screenshots, tmp_path):
    """Log in, connect the sandbox, upload, map (grid edit + static field), preview, sync,
    reload while the sync runs, see it continue, download the rows not sent, and find the
    users in the sandbox."""
    page.goto("/")
    expect(steps.login_field(page, "Username")).to_be_visible()
    steps.wait_until_idle(page)
    steps.login_field(page, "Username").fill(app_server.username)
    steps.save_screenshot(page, screenshots / "01-login.png")
    steps.log_in(page, app_server.username, app_server.password)

    steps.expect_title(page, "Connect")
    connect_sandbox(page)
    steps.save_screenshot(page, screenshots / "02-connect.png")
    sandbox_url = sandbox_base_url(page)
    members_before = sandbox_request("GET", sandbox_url, "/_sandbox/users",
                                     params={"listId": LIST_ID}).json()["total"]
    assert members_before == 0, "the app's sandbox should start empty in a fresh home"

    steps.open_step(page, "2. Submissions", "Submissions")
    upload_sample(page)
    steps.save_screenshot(page, screenshots / "03-submissions.png")

    steps.open_step(page, "3. Mapping", "Mapping")
    map_sample(page)
    steps.save_screenshot(page, screenshots / "04-mapping.png")

    steps.open_step(page, "4. Preview", "Preview")
    check_preview(page)
    # One row beside its request body, then the issues table, fits one screenshot.
    steps.keyed(page, "preview_mode").get_by_text("One row").click()
    expect(page.get_by_text("Row 2: request body")).to_have_count(0)
    steps.wait_until_idle(page)
    steps.save_screenshot(page, screenshots / "05-preview.png")

    steps.open_step(page, "5. Sync", "Sync")
    # The sandbox delays every /api/ request that arrives while the latency is set. Keep it set
    # until the run's request is on its way (the journal marks its batch in flight), then lift
    # it so that the reloaded page's own requests are not held.
    set_sandbox_latency(sandbox_url, SYNC_LATENCY_MS)
    try:
        steps.keyed(page, "sync_start").get_by_role("button").click()
        run_id = running_run_id(page)
        wait_for_batch_in_flight(app_server.home / "journal.sqlite", run_id)
    finally:
        set_sandbox_latency(sandbox_url, 0)
    expect(page.get_by_text(PROGRESS_TEXT)).to_be_visible()
    steps.save_screenshot(page, screenshots / "06-sync-running.png")

    page.reload()
    log_in_if_form_shown(page, app_server)
    assert running_run_id(page) == run_id, (
        "after the reload the Sync page shows no running run (if the run had already ended, "
        "raise SYNC_LATENCY_MS)")
    expect(page.get_by_text(PROGRESS_TEXT)).to_be_visible()
    steps.save_screenshot(page, screenshots / "07-sync-after-reload.png")
    wait_for_result(page, run_id)

    sent = metric_value(page, "Sent")
    not_sent = sum(metric_value(page, label) for label in ("Rejected", "Skipped", "Failed"))
    assert sent + not_sent == SAMPLE_ROWS, "the result's counts do not add up to the file's rows"
    assert sent > 0, "no row of the sample was sent"
    assert not_sent > 0, "the sample's rows with bad emails were not reported as not sent"
    steps.save_screenshot(page, screenshots / "08-sync-result.png")

    records = download_not_sent(page, tmp_path)
    assert len(records) == not_sent, "the download does not contain every row that was not sent"
    with SAMPLE_FILE.open(encoding="utf-8", newline="") as sample:
        sample_header = next(csv.reader(sample))
    assert list(records[0]) == [*sample_header, "row", "status", "reason", "message"]
    assert {record["status"] for record in records} <= {"rejected", "skipped", "failed"}
    assert "invalid_email" in {record["reason"] for record in records}
    # Cells a spreadsheet would run as a formula (the sample's "+44 ..." phone) get a quote.
    phones = [record["Phone number"] for record in records if record["Phone number"]]
    assert not [phone for phone in phones if phone.startswith(("=", "+", "-", "@"))]
    assert any(phone.startswith("'+") for phone in phones)

    members = sandbox_request("GET", sandbox_url, "/_sandbox/users",
                              params={"listId": LIST_ID, "limit": 1000}).json()
    # The duplicates policy skips repeated emails, so each row sent is one user of the list.
    assert members["total"] == sent, "the list does not contain one user per row sent"
    by_email = {user["email"]: user for user in members["users"]}
    email, browser_name = KNOWN_USER
    assert email in by_email, f"{email} is not in list {LIST_ID} of the sandbox"
    fields = by_email[email]["dataFields"]
    assert fields.get(STATIC_FIELD[0]) == STATIC_FIELD[1]
    assert fields.get(NEW_FIELD[1]) == browser_name

    # The same check on the Sandbox page, after connecting again if the session needs it.
    steps.open_step(page, "1. Connect", "Connect")
    connect_sandbox(page)
    steps.open_step(page, "Sandbox", "Sandbox")
    steps.keyed(page, "sandbox_user_email").get_by_role("textbox").fill(email)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator('[data-testid="stCode"]').first).to_contain_text(STATIC_FIELD[1])
    steps.save_screenshot(page, screenshots / "09-sandbox.png")

    tracebacks = app_server.tracebacks()
    assert not tracebacks, "the app printed tracebacks:\n\n" + "\n\n".join(tracebacks[:3])


def test_deep_link_requires_login(page, app_server):
    """/mapping opened logged out shows only the login form; after login, the Mapping page."""
    page.goto("/mapping")
    expect(steps.login_field(page, "Username")).to_be_visible()
    steps.wait_until_idle(page)
    expect(page.get_by_role("heading", name="Mapping", exact=True)).to_have_count(0)
    expect(page.locator('[data-testid="stSidebar"]')).to_have_count(0)
    expect(page.get_by_text("Load a submissions file first.")).to_have_count(0)

    steps.log_in(page, app_server.other_username, app_server.password)
    steps.expect_title(page, "Mapping")
    assert page.url.rstrip("/").endswith("/mapping")
    assert not steps.login_form_shown(page)
    expect(page.get_by_text("Load a submissions file first.")).to_be_visible()


def wait_for_cookie(page: Page, name: str, timeout_seconds: float = 10.0) -> None:
    """Wait until the browser has a cookie with this name, or until the timeout.

    A component writes the login cookie in the browser after the script run. When the cookie
    never comes, the caller's own check reports it.
    """
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if any(cookie["name"] == name for cookie in page.context.cookies()):
            return
        page.wait_for_timeout(100)


def test_login_survives_reload(page, app_server):
    """A reload keeps the analyst logged in (the re-login cookie), on the same page."""
    page.goto("/")
    steps.log_in(page, app_server.other_username, app_server.password)
    steps.expect_title(page, "Connect")
    wait_for_cookie(page, COOKIE_NAME)
    page.reload()
    page.wait_for_selector('[data-testid="stMain"]')
    steps.expect_title(page, "Connect")
    assert not steps.login_form_shown(page), (
        "the reload showed the login form again: the re-login cookie was not stored "
        f"(cookies: {sorted(c['name'] for c in page.context.cookies())})"
    )


def test_pages_stay_on_loopback(page, app_server, outside_requests):
    """Every page of the workbench loads only from the app itself (no CDN, no fonts)."""
    page.goto("/")
    steps.log_in(page, app_server.other_username, app_server.password)
    steps.expect_title(page, "Connect")
    connect_sandbox(page)
    for link, heading in (("2. Submissions", "Submissions"), ("3. Mapping", "Mapping"),
                          ("4. Preview", "Preview"), ("5. Sync", "Sync"),
                          ("Sandbox", "Sandbox")):
        steps.open_step(page, link, heading)
    assert not outside_requests, (
        "the app made the browser load from outside 127.0.0.1 (blocked here, but a user's "
        f"browser would send it): {sorted(set(outside_requests))}")


def test_logout_survives_reload(page, app_server):
    """After Log out, a reload shows the login form again instead of logging back in."""
    page.goto("/")
    steps.log_in(page, app_server.other_username, app_server.password)
    steps.expect_title(page, "Connect")
    wait_for_cookie(page, COOKIE_NAME)

    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Log out").click()
    expect(steps.login_field(page, "Username")).to_be_visible()
    steps.wait_until_idle(page)

    page.reload()
    page.wait_for_selector('[data-testid="stMain"]')
    steps.wait_until_idle(page)
    expect(steps.login_field(page, "Username")).to_be_visible()
    expect(page.locator('[data-testid="stSidebar"]')).to_have_count(0)
