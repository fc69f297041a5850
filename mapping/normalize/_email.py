"""Email addresses: trim, lower-case and validate the way Iterable does.

Iterable validates addresses with the Apache Commons email validator: the syntax of the local
part and of the domain, plus a top-level domain that exists. It does not check deliverability.
This module follows the same rules (written here from their documented behaviour):

- exactly one address: everything before the last "@" is the local part, the rest the domain;
- local part: dot-separated words of characters other than spaces, control characters and
  ( ) < > @ , ; : \\ " . [ ]  (an apostrophe is fine), or quoted strings; at most 64 characters;
  stricter than the Java validator, spaces and invisible characters of every script (no-break,
  zero-width) are rejected inside the address, not only ASCII ones;
- domain: dot-separated labels of letters, digits and inner hyphens (at most 63 characters each),
  253 characters at most, with at least two labels; internationalised domains are compared in
  their ASCII (xn--) form; IP address literals are not accepted;
- the last label must be a real top-level domain (`tlds.txt`, see `update_tlds.py`), so
  `user@example.test` and `anna.schmidt@example` are invalid;
- no trailing dot.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mapping.normalize._base import (
    ConversionResult,
    UniqueOutcome,
    as_text,
    blank_to_missing,
    contains,
    distinct,
    extract,
    quote,
    spread,
    strip_edges,
)

logger = logging.getLogger(__name__)

TLD_FILE = Path(__file__).with_name("tlds.txt")
MAX_LOCAL_PART = 64
MAX_DOMAIN = 253

# Spaces and invisible characters of any script (stricter than the Java validator, whose \s
# only covers ASCII): an address with a zero-width space inside cannot be delivered.
_INVISIBLE = "\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff"
_VALID_CHAR = rf"""(?:\\.|[^\s\x00-\x1f\x7f()<>@,;:'\\".\[\]{_INVISIBLE}])"""
_WORD = rf"""(?:(?:{_VALID_CHAR}|')+|"(?:\\"|[^"])*")"""
LOCAL_PART = rf"{_WORD}(?:\.{_WORD})*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TLD_LABEL = r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
ASCII_DOMAIN = rf"(?:{_LABEL}\.)+{_TLD_LABEL}"
# The vectorised check uses loose domain labels (RE2 is slow on bounded repeats) and then
# rejects labels that start or end with a hyphen or are longer than 63 characters.
FAST_PATTERN = rf"(?P<local>{LOCAL_PART})@(?P<domain>(?:[a-z0-9-]+\.)+(?P<tld>[a-z0-9-]+))"
BAD_LABEL_PATTERN = r"(?:^|\.)-|-(?:\.|$)|[^.]{64}"
_LOCAL_RE = re.compile(LOCAL_PART)


@lru_cache(maxsize=1)
def known_tlds() -> frozenset[str]:
    """Return the accepted top-level domains (lower-case ASCII)."""
    lines = TLD_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def _tld_array() -> pa.Array:
    """Return the accepted top-level domains as an Arrow array, for vectorised lookups."""
    return pa.array(sorted(known_tlds()), type=pa.large_string())


def _ascii_domain(domain: str) -> str | None:
    """Return the domain in ASCII form (labels as xn--), or None when it cannot be encoded."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _problem(address: str) -> str | None:
    """Why a cleaned, lower-cased address is not valid, or None when it is valid."""
    if address.endswith("."):
        return "it ends with a dot"
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "it has no local part before an @" if at else "it has no @"
    if len(local) > MAX_LOCAL_PART:
        return f"the part before the @ is longer than {MAX_LOCAL_PART} characters"
    if not _LOCAL_RE.fullmatch(local):
        return ("the part before the @ has a space, a misplaced dot or a character that is not "
                "allowed")
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None or len(ascii_domain) > MAX_DOMAIN:
        return f"the domain {quote(domain)} is not a valid domain name"
    if "." not in ascii_domain:
        return f"the domain {quote(domain)} has no top-level domain such as .com"
    if not re.fullmatch(ASCII_DOMAIN, ascii_domain):
        return f"the domain {quote(domain)} is not a valid domain name"
    tld = ascii_domain.rsplit(".", 1)[1]
    if tld not in known_tlds():
        return f'".{tld}" is not a known top-level domain'
    return None


def is_valid_email(value: object) -> bool:
    """True when `value` (already trimmed) is an address Iterable would accept."""
    if not isinstance(value, str) or not value:
        return False
    return _problem(value.lower()) is None


def _fast_valid(cleaned: pd.Series) -> np.ndarray:
    """Vectorised check (Arrow regex); False means 'look closer', not necessarily 'invalid'."""
    parts = extract(cleaned, FAST_PATTERN)
    ok = (
        parts["local"].notna()
        & (parts["local"].str.len() <= MAX_LOCAL_PART)
        & (parts["domain"].str.len() <= MAX_DOMAIN)
        & pc.is_in(pa.array(parts["tld"]), value_set=_tld_array()).to_numpy(
            zero_copy_only=False)
    )
    ok &= ~contains(parts["domain"], BAD_LABEL_PATTERN)
    return ok.to_numpy(dtype=bool, na_value=False)


def email(series: pd.Series) -> ConversionResult:
    """Trim (spaces, non-breaking and zero-width characters), lower-case and validate emails.

    Missing or blank values give None with no issue (the transform decides whether an address is
    required). Invalid addresses give code "invalid_email" with the original value in the message.
    """
    text = blank_to_missing(as_text(series))
    uniques, positions = distinct(text)
    cleaned = strip_edges(pd.Series(uniques, dtype="str")).str.lower()
    outcome = UniqueOutcome.empty(len(uniques))
    outcome.values[:] = cleaned.to_numpy(dtype=object)

    ok = _fast_valid(cleaned)
    for i in np.flatnonzero(~ok):
        reason = _problem(cleaned.iat[i])
        if reason is not None:
            message = f"{quote(uniques[i])} is not a valid email address: {reason}."
            outcome.flag(np.array([i]), "invalid_email", message)
    return spread(outcome, positions, series.index)
