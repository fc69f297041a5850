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

from mapping.normalize._base import INVISIBLE_EDGE_CHARS, ConversionResult, as_text, quote

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
# Plain addresses decided by the vectorised check: every character here is allowed by
# LOCAL_PART and by the domain rules, so only lengths and the domain itself remain to check.
_PLAIN_LOCAL_WORD = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_PATTERN = rf"^{_PLAIN_LOCAL_WORD}(?:\.{_PLAIN_LOCAL_WORD})*@[a-z0-9-]+(?:\.[a-z0-9-]+)+$"
_LOCAL_RE = re.compile(LOCAL_PART)


@lru_cache(maxsize=1)
def known_tlds() -> frozenset[str]:
    """Return the accepted top-level domains (lower-case ASCII)."""
    lines = TLD_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


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
    return _domain_problem(domain)


def _domain_problem(domain: str) -> str | None:
    """Why the domain of an address (after its last @) is not valid, or None when it is."""
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


def _plain_valid(cleaned: pa.Array) -> np.ndarray:
    """Vectorised check of cleaned, lower-cased addresses; False means "look closer".

    Only plain addresses are decided here: an ASCII local part of dot-separated words and an
    ASCII domain. Their domains (few distinct ones in practice) go through the same domain
    check as single addresses, once per distinct domain. Everything else (quoted local parts,
    non-ASCII characters, several @) is left to _problem().
    """
    plain = pc.match_substring_regex(cleaned, PLAIN_PATTERN).fill_null(False)
    plain = plain.to_numpy(zero_copy_only=False)
    ok = np.zeros(len(cleaned), dtype=bool)
    positions = np.flatnonzero(plain)
    if len(positions) == 0:
        return ok
    addresses = cleaned.take(pa.array(positions))
    at = pc.find_substring(addresses, "@").to_numpy(zero_copy_only=False)
    parts = pc.split_pattern(addresses, "@", max_splits=1)
    domains = pc.dictionary_encode(pc.list_element(parts, 1))
    if isinstance(domains, pa.ChunkedArray):
        domains = domains.combine_chunks()
    domain_ok = np.array([_domain_problem(domain) is None
                          for domain in domains.dictionary.to_pylist()], dtype=bool)
    found = domain_ok[domains.indices.to_numpy(zero_copy_only=False)]
    ok[positions] = found & (at <= MAX_LOCAL_PART)
    return ok


def email(series: pd.Series) -> ConversionResult:
    """Trim (spaces, non-breaking and zero-width characters), lower-case and validate emails.

    Missing or blank values give None with no issue (the transform decides whether an address is
    required). Invalid addresses give code "invalid_email" with the original value in the message.
    """
    text = as_text(series)
    raw = pa.array(text)
    cleaned = pc.utf8_lower(pc.utf8_trim(raw, characters=INVISIBLE_EDGE_CHARS))
    if isinstance(cleaned, pa.ChunkedArray):
        cleaned = cleaned.combine_chunks()
    present = pc.fill_null(pc.not_equal(cleaned, ""), False).to_numpy(zero_copy_only=False)
    cleaned = pc.if_else(pa.array(present), cleaned, pa.scalar(None, pa.string()))
    values = cleaned.to_numpy(zero_copy_only=False)  # object array, None where missing
    errors = np.full(len(values), None, dtype=object)
    codes = np.full(len(values), None, dtype=object)
    suspects = np.flatnonzero(present & ~_plain_valid(cleaned))
    reasons: dict[str, str | None] = {}
    for i in suspects:
        address = values[i]
        if address not in reasons:
            reasons[address] = _problem(address)
        if reasons[address] is not None:
            original = text.iat[i]
            errors[i] = f"{quote(original)} is not a valid email address: {reasons[address]}."
            codes[i] = "invalid_email"
            values[i] = None
    index = series.index
    return ConversionResult(values=pd.Series(values, index=index, dtype=object),
                            errors=pd.Series(errors, index=index, dtype=object),
                            codes=pd.Series(codes, index=index, dtype=object))
