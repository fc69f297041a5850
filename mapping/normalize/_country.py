"""Countries: a name or a code to an ISO 3166-1 alpha-2 code, or to the English short name.

Accepted input, matched without regard to case, accents, dots and extra spaces:
- alpha-2 and alpha-3 codes ("DE", "DEU"), and "UK" for GB;
- English names from `pycountry`: the ISO short name, the official name and the common name
  ("Korea, Republic of", "Republic of Korea", "South Korea");
- names in the languages of `LOCAL_LANGUAGES`, from the ISO 3166 translations shipped with
  `pycountry` ("Deutschland", "España", "Україна", "日本");
- a few everyday names that are in none of those (`EXTRA_NAMES`: "USA", "Great Britain", ...).
When two languages use one name for different countries, English wins, then the order of
`LOCAL_LANGUAGES`. Anything else is an issue ("invalid_country").
"""

from __future__ import annotations

import gettext
import logging
import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd
import pycountry

from mapping.normalize._base import (
    ConversionResult,
    UniqueOutcome,
    as_text,
    blank_to_missing,
    distinct,
    quote,
    spread,
)

logger = logging.getLogger(__name__)

LOCAL_LANGUAGES = ("de", "fr", "es", "it", "pt", "pl", "uk", "nl", "ja", "zh_CN", "ru", "cs", "sv")
EXTRA_NAMES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "usa": "US", "us": "US", "america": "US",
    "united states of america": "US", "holland": "NL", "russia": "RU", "czechia": "CZ",
    "czech republic": "CZ", "turkey": "TR", "ivory coast": "CI", "vatican": "VA",
    "macedonia": "MK", "swaziland": "SZ", "burma": "MM", "cape verde": "CV", "east timor": "TL",
    "korea": "KR", "north korea": "KP", "uae": "AE", "emirates": "AE",
}
OUTPUT_FORMATS = ("alpha2", "name")


def name_key(value: str) -> str:
    """Return a matching key: lower-case, accents removed, dots dropped, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace(".", "").replace("’", "'")
    return re.sub(r"[\s,]+", " ", bare).strip()


def _english_names(country) -> list[str]:
    """Codes and English names of one pycountry country."""
    names = [country.alpha_2, country.alpha_3, country.name]
    for attribute in ("official_name", "common_name"):
        if getattr(country, attribute, None):
            names.append(getattr(country, attribute))
    if ", " in country.name:  # "Korea, Republic of" is also written "Republic of Korea"
        head, tail = country.name.split(", ", 1)
        names.append(f"{tail} {head}")
    return names


def _translations(language: str):
    """Return the ISO 3166 name translations for one language, or None when pycountry has none."""
    try:
        return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        logger.debug("pycountry has no country names for %s", language)
        return None


@lru_cache(maxsize=1)
def country_lookup() -> dict[str, str]:
    """Return every accepted spelling (as a `name_key`) and its alpha-2 code."""
    lookup: dict[str, str] = {}
    countries = list(pycountry.countries)
    for country in countries:
        for name in _english_names(country):
            lookup.setdefault(name_key(name), country.alpha_2)
    for key, code in EXTRA_NAMES.items():
        lookup.setdefault(name_key(key), code)
    for language in LOCAL_LANGUAGES:
        translation = _translations(language)
        if translation is None:
            continue
        for country in countries:
            for name in (country.name, getattr(country, "common_name", None)):
                if name:
                    lookup.setdefault(name_key(translation.gettext(name)), country.alpha_2)
    return lookup


def country_name(alpha_2: str) -> str:
    """Return the English output name: the common name when there is one ("South Korea")."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    return getattr(country, "common_name", None) or country.name


def country(series: pd.Series, output: str = "alpha2") -> ConversionResult:
    """Convert country names or codes to alpha-2 codes (`output="alpha2"`) or English names."""
    if output not in OUTPUT_FORMATS:
        raise ValueError(f"Unknown country output {output!r}: use \"alpha2\" or \"name\".")
    text = blank_to_missing(as_text(series))
    uniques, positions = distinct(text)
    lookup = country_lookup()
    codes = np.array([lookup.get(name_key(value)) for value in uniques], dtype=object)
    outcome = UniqueOutcome.empty(len(uniques))
    known = np.array([code is not None for code in codes], dtype=bool)
    if output == "name":
        outcome.values[known] = [country_name(code) for code in codes[known]]
    else:
        outcome.values[known] = codes[known]
    for i in np.flatnonzero(~known):
        message = (
            f"{quote(uniques[i])} is not a country name or ISO 3166 code that this tool knows; "
            "use a two-letter code such as DE."
        )
        outcome.flag(np.array([i]), "invalid_country", message)
    return spread(outcome, positions, series.index)
