"""Exported CSV cells that a spreadsheet would run as a formula are escaped, from the outside.

Property: a cell starting with =, +, -, @, a tab or a carriage return comes out with one
leading apostrophe and is otherwise unchanged; every other cell is unchanged.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.sync.export import escape_cell

pytestmark = pytest.mark.timeout(60)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=50) | st.sampled_from(FORMULA_STARTS).flatmap(
    lambda start: st.text(max_size=30).map(lambda rest: start + rest)))
def test_formula_cells_get_one_apostrophe(text):
    escaped = escape_cell(text)
    if text.startswith(FORMULA_STARTS):
        assert escaped == "'" + text
    else:
        assert escaped == text


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://example.com","click")', "=cmd|' /C calc'!A0", "+1+1", "-2+3",
     "@SUM(A1:A2)", "\t=1", "\r=1"],
)
def test_known_payloads_are_escaped(cell):
    assert escape_cell(cell).startswith("'")
