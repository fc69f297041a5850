"""Booleans from checkbox and yes/no answers, by a fixed truth table.

The table (also in docs/CONVERTERS.md) covers English and the languages of the sample data.
Matching ignores case and surrounding spaces. Anything not in the table is an issue
("invalid_boolean"), never a guess. A missing or blank value is missing (the field is left out)
unless `empty_is_false` is set, which is what an unticked checkbox in a widget export means.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mapping.normalize._base import (
    ConversionResult,
    UniqueOutcome,
    as_text,
    distinct,
    quote,
    spread,
    strip_edges,
)

logger = logging.getLogger(__name__)

TRUE_WORDS: dict[str, tuple[str, ...]] = {
    "any": ("true", "t", "1", "yes", "y", "on", "checked", "x", "✓", "✔"),
    "German": ("ja", "wahr", "an", "angekreuzt"),
    "French": ("oui", "vrai", "coché", "cochée"),
    "Spanish": ("sí", "si", "verdadero", "marcado"),
    "Italian": ("sì", "vero", "selezionato"),
    "Portuguese": ("sim", "verdadeiro", "marcado"),
    "Dutch": ("ja", "waar", "aangevinkt"),
    "Polish": ("tak", "prawda", "zaznaczone"),
    "Ukrainian": ("так", "правда"),
    "Japanese": ("はい",),
    "Chinese": ("是",),
}
FALSE_WORDS: dict[str, tuple[str, ...]] = {
    "any": ("false", "f", "0", "no", "n", "off", "unchecked"),
    "German": ("nein", "falsch", "aus"),
    "French": ("non", "faux"),
    "Spanish": ("no", "falso"),
    "Italian": ("no", "falso"),
    "Portuguese": ("não", "nao", "falso"),
    "Dutch": ("nee", "onwaar"),
    "Polish": ("nie", "fałsz"),
    "Ukrainian": ("ні", "неправда"),
    "Japanese": ("いいえ",),
    "Chinese": ("否",),
}


def truth_table() -> dict[str, bool]:
    """Return every accepted spelling (lower-case) mapped to its boolean."""
    table = {word: False for words in FALSE_WORDS.values() for word in words}
    table.update({word: True for words in TRUE_WORDS.values() for word in words})
    return table


_TABLE = truth_table()


def boolean(series: pd.Series, empty_is_false: bool = False) -> ConversionResult:
    """Convert values to True/False by the truth table; other values give "invalid_boolean"."""
    text = as_text(series)
    stripped = strip_edges(text)
    if empty_is_false:
        stripped = stripped.fillna("")
    else:
        stripped = stripped.mask(stripped == "")
    uniques, positions = distinct(stripped)
    keys = pd.Series(uniques, dtype="str").str.lower()
    looked_up = keys.map(_TABLE)
    outcome = UniqueOutcome.empty(len(uniques))
    if empty_is_false:
        looked_up = looked_up.mask(keys == "", False)
    known = looked_up.notna().to_numpy()
    outcome.values[known] = [bool(v) for v in looked_up[known]]
    for i in np.flatnonzero(~known):
        message = (
            f"{quote(uniques[i])} is not a yes/no value; use true/false, yes/no, 1/0 "
            "or another spelling from the truth table in docs/CONVERTERS.md."
        )
        outcome.flag(np.array([i]), "invalid_boolean", message)
    return spread(outcome, positions, series.index)
