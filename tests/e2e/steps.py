"""What an analyst does in the workbench, as Playwright steps the browser tests share.

Widgets are found by the accessible names a person reads (labels, button texts, headings) or by
the `st-key-<key>` class Streamlit gives every element that has a widget key.

The field table is an `st.data_editor`, which draws a canvas grid (glide-data-grid). Behind the
canvas the grid keeps an accessible table with an id per cell (`glide-cell-<column>-<row>`) and
`aria-selected` on the selected cell. So a cell is reached by clicking the first cell and moving
with the arrow keys, and then edited with the keyboard.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

logger = logging.getLogger(__name__)

SCREENSHOT_WIDTH = 1280
MIN_SCREENSHOT_HEIGHT = 900
MAX_SCREENSHOT_HEIGHT = 2600
LOOPBACK_URL = re.compile(r"^(https?|wss?)://127\.0\.0\.1(:\d+)?(/|$)")
RUNNING_ICON = '[data-testid="stStatusWidgetRunningIcon"]'
SKELETON = '[data-testid="stSkeleton"]'
GRID_CELL_ID = re.compile(r"glide-cell-(\d+)-(\d+)")
MAX_GRID_MOVES = 60
# Streamlit's data grid draws a 35 px header row and 35 px data rows (measured in Streamlit 1.67).
GRID_HEADER_HEIGHT = 35
GRID_ROW_HEIGHT = 35


def is_loopback(url: str) -> bool:
    """Return True for URLs the browser may load: loopback, and page-local data: and blob: URLs."""
    return bool(LOOPBACK_URL.match(url)) or url.startswith(("data:", "blob:", "about:"))


def wait_until_idle(page: Page, timeout_ms: float = 30_000) -> None:
    """Wait until Streamlit has finished the current script run and drawn its elements:
    no running indicator, no loading placeholders, no elements left from the previous run."""
    page.wait_for_function(
        f"""() => document.querySelector('[data-testid="stMain"]') !== null
            && document.querySelectorAll('{RUNNING_ICON}').length === 0
            && document.querySelectorAll('{SKELETON}').length === 0
            && document.querySelectorAll('[data-stale="true"]').length === 0""",
        timeout=timeout_ms,
    )


def save_screenshot(page: Page, path: Path, *, wait: bool = True) -> None:
    """Save the whole page as a PNG, 1280 pixels wide, as tall as its content (capped).

    Streamlit scrolls its main area inside the page, so a "full page" screenshot would stop at
    the window. So the viewport is made as tall as the content for the shot, then restored.
    """
    if wait:
        wait_until_idle(page)
    original = page.viewport_size or {"width": SCREENSHOT_WIDTH, "height": MIN_SCREENSHOT_HEIGHT}
    content_height = page.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]');
            const sidebar = document.querySelector('[data-testid="stSidebarContent"]');
            return Math.max(document.documentElement.scrollHeight,
                            main ? main.scrollHeight : 0, sidebar ? sidebar.scrollHeight : 0);
        }"""
    )
    height = max(MIN_SCREENSHOT_HEIGHT, min(int(content_height) + 40, MAX_SCREENSHOT_HEIGHT))
    page.set_viewport_size({"width": SCREENSHOT_WIDTH, "height": height})
    try:
        page.wait_for_timeout(400)  # let the grid canvases redraw at the new size
        page.screenshot(path=str(path), full_page=True, animations="disabled")
    finally:
        page.set_viewport_size(original)
    shrink_png(path)
    logger.info("saved screenshot %s (%d px tall)", path, height)


def shrink_png(path: Path) -> None:
    """Store the PNG with a 256-colour palette (about a third of the size, same look).

    Pillow comes with Streamlit; screenshots are UI with few colours, so median-cut
    quantization keeps text and panel shades.
    """
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    palette.save(path, optimize=True)


def log_in(page: Page, username: str, password: str) -> None:
    """Fill the login form and wait until the form is gone."""
    expect(login_field(page, "Username")).to_be_visible()
    wait_until_idle(page)
    login_field(page, "Username").fill(username)
    login_field(page, "Password").fill(password)
    page.get_by_role("button", name="Log in", exact=True).filter(visible=True).click()
    expect(login_field(page, "Username")).to_have_count(0)
    wait_until_idle(page)


def expect_title(page: Page, title: str) -> None:
    """Wait until the page's title (its h1) reads ``title`` and the run has finished."""
    expect(page.get_by_role("heading", level=1, name=title, exact=True).first).to_be_visible()
    wait_until_idle(page)
    expect(page.get_by_role("heading", level=1, name=title, exact=True)).to_have_count(1)


def login_field(page: Page, label: str) -> Locator:
    """Return the visible text field of the login form with this label.

    During a script run Streamlit may keep a hidden copy of the form in the page for a moment,
    so only visible fields count.
    """
    return page.get_by_role("textbox", name=label).filter(visible=True)


def login_form_shown(page: Page) -> bool:
    """Return True when the page shows the login form."""
    return login_field(page, "Username").count() > 0


def open_step(page: Page, link_label: str, heading: str) -> None:
    """Follow a sidebar link (e.g. "3. Mapping") and wait for the page's title."""
    wait_until_idle(page)
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name=link_label).click()
    expect_title(page, heading)


def keyed(page: Page, key: str) -> Locator:
    """Return the element of the widget with this key (Streamlit's `st-key-<key>` class)."""
    return page.locator(f".st-key-{key}")


def choose_option(page: Page, key: str, option_text: str | re.Pattern) -> None:
    """Open the selectbox with this key and pick the option whose text matches."""
    keyed(page, key).get_by_role("combobox").click()
    page.get_by_role("option", name=option_text).click()
    wait_until_idle(page)


def upload_file(page: Page, key: str, path: Path) -> None:
    """Upload a file through the file uploader's own button and the file chooser."""
    with page.expect_file_chooser() as chooser:
        keyed(page, key).get_by_role("button", name="Upload", exact=True).click()
    chooser.value.set_files(str(path))


def field_table(page: Page) -> Locator:
    """Return the Mapping page's field table (its key changes with the table version)."""
    return page.locator('[class*="st-key-mapping_fields_"]')


def column_title(grid: Locator, column: int) -> str:
    """Return the title of the grid column with this 0-based index ("" while not rendered)."""
    header = grid.locator(f'table[role="grid"] thead th[aria-colindex="{column + 1}"]')
    return (header.text_content() or "").strip() if header.count() == 1 else ""


def selected_cell(grid: Locator) -> tuple[int, int]:
    """Return (column, row) of the grid's selected cell, waiting until one is selected."""
    cell = grid.locator('table[role="grid"] td[aria-selected="true"]')
    expect(cell).to_have_count(1)
    match = GRID_CELL_ID.fullmatch(cell.get_attribute("id") or "")
    assert match, f"unexpected grid cell id {cell.get_attribute('id')!r}"
    return int(match.group(1)), int(match.group(2))


def press_and_wait(page: Page, grid: Locator, key: str) -> None:
    """Press an arrow key and wait until the accessible table shows the selection moved."""
    column, row = selected_cell(grid)
    page.keyboard.press(key)
    expect(grid.locator(f'td[id="glide-cell-{column}-{row}"][aria-selected="true"]')
           ).to_have_count(0)


def select_cell(page: Page, grid: Locator, row_label: str, title: str) -> None:
    """Select the cell in the row whose first column reads ``row_label`` and the column
    titled ``title``, by clicking a cell and moving with the arrow keys.

    The grid renders only what is in view, even in its accessible table, so the row and the
    column are found by moving down and right until their texts match.
    """
    select_first_cell(page, grid)
    rows = int(grid.locator('table[role="grid"]').get_attribute("aria-rowcount") or "1") - 1
    while cell_text(grid, 0, selected_cell(grid)[1]) != row_label:
        if selected_cell(grid)[1] >= rows - 1:
            raise AssertionError(f"no row starting with {row_label!r} in the grid")
        press_and_wait(page, grid, "ArrowDown")
    for _ in range(MAX_GRID_MOVES):
        column = selected_cell(grid)[0]
        if column_title(grid, column) == title:
            return
        press_and_wait(page, grid, "ArrowRight")
    raise AssertionError(f"no column titled {title!r} in the grid")


def select_first_cell(page: Page, grid: Locator) -> None:
    """Select the grid's first data cell, scrolling the grid back to its top-left corner."""
    click_first_cell(page, grid)
    while selected_cell(grid)[0] > 0:
        press_and_wait(page, grid, "ArrowLeft")
    while selected_cell(grid)[1] > 0:
        press_and_wait(page, grid, "ArrowUp")


def scroll_grid_to_start(grid: Locator) -> None:
    """Scroll the grid back to its first column and row (for a screenshot of the table)."""
    scroller = grid.locator(".dvn-scroller").first
    expect(scroller).to_be_attached()
    scroller.evaluate("element => { element.scrollLeft = 0; element.scrollTop = 0; }")


def click_first_cell(page: Page, grid: Locator, attempts: int = 4) -> None:
    """Click the grid's top-left data cell until the grid reports a selected cell.

    A script run may redraw the grid under the mouse, so the click is tried again then.
    """
    canvas = grid.locator('canvas[data-testid="data-grid-canvas"]')
    selected = grid.locator('table[role="grid"] td[aria-selected="true"]')
    for _ in range(attempts):
        wait_until_idle(page)
        expect(canvas).to_have_count(1)
        expect(grid.locator('td[id^="glide-cell-"]').first).to_be_attached()
        try:
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
        except PlaywrightError:
            continue  # the grid was redrawn between the two calls
        if box is None:
            continue
        page.mouse.click(box["x"] + 12, box["y"] + GRID_HEADER_HEIGHT + GRID_ROW_HEIGHT / 2)
        try:
            expect(selected).to_have_count(1, timeout=2_000)
            return
        except AssertionError:
            logger.info("the grid showed no selection after a click; trying again")
    raise AssertionError("clicking the grid selected no cell")


def cell_text(grid: Locator, column: int, row: int) -> str:
    """Return the text of one rendered cell of the grid's accessible table."""
    cell = grid.locator(f'td[id="glide-cell-{column}-{row}"]')
    expect(cell).to_have_count(1)
    return (cell.text_content() or "").strip()


def type_into_cell(page: Page, grid: Locator, row_label: str, column_title_text: str,
                   text: str) -> None:
    """Type a value into one cell of a data editor with the keyboard, like a person would:
    select the cell, open its editor with Enter, type, and commit with Enter."""
    select_cell(page, grid, row_label, column_title_text)
    page.keyboard.press("Enter")
    editor = page.locator('#portal [id^="gdg-overlay-"] textarea, '
                          '#portal [id^="gdg-overlay-"] input').first
    expect(editor).to_be_visible()
    editor.fill(text)
    page.keyboard.press("Enter")
    expect(editor).to_have_count(0)
    wait_until_idle(page)


def text_of_prefix(page: Page, prefix: str) -> str:
    """Return the full text of the first element whose text starts with ``prefix``."""
    locator = page.get_by_text(re.compile("^" + re.escape(prefix))).first
    expect(locator).to_be_visible()
    return (locator.text_content() or "").strip()
