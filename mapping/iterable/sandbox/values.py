"""Value rules the sandbox applies the way Iterable does: emails, user ids, dates, field types.

The sandbox is a stand-in server, so it keeps its own copy of these rules and does not import
the workbench's converters (`mapping.normalize`): a bug there must not hide behind the same
bug here.

- Emails follow the shape of the Apache Commons email validator that Iterable uses. The local
  part is dot-separated atoms or a quoted string, the domain is letters, digits and hyphens, and
  the top-level domain must exist (checked against the public suffix list's ICANN section).
- User ids must be non-empty printable ASCII without a trailing space.
- Dates are recognised only in the formats listed in the facts file; anything else is a string.
- A value's possible field types decide whether it fits a field that already has a type.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache, lru_cache
from typing import Any

logger = logging.getLogger(__name__)

MAX_VALUE_CHARS = 32_768
MAX_USER_ID_CHARS = 512
MAX_LOCAL_PART_CHARS = 64
DOMAIN_CACHE_SIZE = 4096

# Characters allowed in an unquoted local-part atom: anything but whitespace, control
# characters and the specials ( ) < > @ , ; : \ " . [ ]  (an apostrophe is allowed).
_ATOM = r"""[^\s\x00-\x1f\x7f()<>@,;:\\".\[\]]+"""
_QUOTED = r'"(?:\\.|[^"\\])*"'
_WORD = rf"(?:{_ATOM}|{_QUOTED})"
_LOCAL_PART = re.compile(rf"{_WORD}(?:\.{_WORD})*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD_LABEL = re.compile(r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})")


@cache
def _suffix_list():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(accept_unknown=False, only_icann=True)


def is_known_tld(label: str) -> bool:
    """True when `label` (without dots) is a top-level domain that exists in the root zone."""
    return bool(label) and _suffix_list().is_public(label.lower())


def _ascii_domain(domain: str) -> str | None:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


@lru_cache(maxsize=DOMAIN_CACHE_SIZE)
def _is_valid_domain(domain: str) -> bool:
    """Check an email's domain; cached, since a batch of users shares a few domains."""
    if domain.startswith("[") and domain.endswith("]"):
        try:
            ipaddress.ip_address(domain[1:-1])
        except ValueError:
            return False
        return True
    if domain.endswith(".") or ".." in domain:
        return False
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        return False
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        return False
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels[:-1]):
        return False
    tld = labels[-1]
    return bool(_TLD_LABEL.fullmatch(tld)) and is_known_tld(tld)


def is_valid_email(value: Any) -> bool:
    """Iterable-like email check: syntax plus a real top-level domain, no whitespace anywhere."""
    if not isinstance(value, str) or not value or value.endswith("."):
        return False
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return False
    if any(ch.isspace() for ch in domain) or len(local) > MAX_LOCAL_PART_CHARS:
        return False
    if not _LOCAL_PART.fullmatch(local):
        return False
    return _is_valid_domain(domain)


def normalize_email(value: str) -> str:
    """Iterable stores emails lower-cased."""
    return value.lower()


def is_valid_user_id(value: Any) -> bool:
    """Non-empty printable ASCII, at most MAX_USER_ID_CHARS, no trailing space."""
    if not isinstance(value, str) or not value or len(value) > MAX_USER_ID_CHARS:
        return False
    if value != value.rstrip():
        return False
    return all(0x20 <= ord(ch) < 0x7F for ch in value)


# --- dates -------------------------------------------------------------------------------

_DAY = r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"
_TIME = r"(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
_OFFSET = r"(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2})"
DATE_FORMATS = (
    re.compile(rf"{_DAY}"),  # 2006-01-02
    re.compile(rf"{_DAY} {_TIME}"),  # 2006-01-02 15:04:05
    re.compile(rf"{_DAY} {_TIME} {_OFFSET}"),  # 2006-01-02 15:04:05 -07:00
    re.compile(rf"{_DAY}T{_TIME}\.(?P<ms>\d{{3}}){_OFFSET}"),  # 2006-01-02T15:04:05.000-07:00
    re.compile(rf"{_DAY}T{_TIME}\.(?P<ms>\d{{3}})Z"),  # 2006-01-02T15:04:05.000Z
)


def could_be_date(value: str) -> bool:
    """Return whether `value` may match a date pattern: each format starts with 4 digits and "-".

    `str.isdigit` accepts every character that the patterns' `\\d` accepts (and more), so a
    value this rejects can never match a pattern.
    """
    return len(value) >= 10 and value[4] == "-" and value[:4].isdigit()


def parse_date(value: str) -> datetime | None:
    """Return the UTC instant of a string in one of Iterable's accepted date formats, else None."""
    if not could_be_date(value):
        return None
    for pattern in DATE_FORMATS:
        match = pattern.fullmatch(value)
        if match is not None:
            return _to_datetime(match.groupdict())
    return None


def _to_datetime(parts: dict[str, str | None]) -> datetime | None:
    def number(name: str) -> int:
        return int(parts.get(name) or 0)

    try:
        moment = datetime(
            number("y"), number("m"), number("d"), number("H"), number("M"), number("S"),
            number("ms") * 1000, tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    if parts.get("sign"):
        offset = timedelta(hours=number("oh"), minutes=number("om"))
        moment = moment - offset if parts["sign"] == "+" else moment + offset
    return moment


def format_date(moment: datetime) -> str:
    """Format a date the way Iterable shows stored dates: `YYYY-MM-DD HH:MM:SS +00:00`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +00:00")


# --- field types -------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueType:
    """The type a value would give a new field, and every field type it fits."""

    primary: str
    fits: frozenset[str]

    def incoming_types(self) -> list[str]:
        """Return the names Iterable lists as `incomingTypes` when the value does not fit."""
        names = sorted(self.fits, key=_TYPE_ORDER.index)
        return names + ["keyword"] if "string" in self.fits else names


_TYPE_ORDER = ["date", "long", "double", "boolean", "string", "object", "nested"]

# The types of scalar values, made once: scalar_type runs for every value of every user.
BOOLEAN_VALUE = ValueType("boolean", frozenset({"boolean"}))
LONG_VALUE = ValueType("long", frozenset({"long", "double"}))
DOUBLE_VALUE = ValueType("double", frozenset({"double"}))
DATE_VALUE = ValueType("date", frozenset({"date", "string"}))
STRING_VALUE = ValueType("string", frozenset({"string"}))
OBJECT_VALUE = ValueType("object", frozenset({"object"}))


def scalar_type(value: Any) -> ValueType | None:
    """Type of a scalar value; None for null (a null never creates or checks a field)."""
    if value is None:
        return None
    if isinstance(value, str):
        return DATE_VALUE if parse_date(value) is not None else STRING_VALUE
    if isinstance(value, bool):
        return BOOLEAN_VALUE
    if isinstance(value, int):
        return LONG_VALUE
    if isinstance(value, float):
        return DOUBLE_VALUE
    if isinstance(value, dict):
        return OBJECT_VALUE
    return None


def array_type(values: list[Any]) -> ValueType | None:
    """Arrays take the type of their elements; arrays of objects are `nested`."""
    elements = [value for value in values if value is not None]
    if not elements:
        return None
    if any(isinstance(value, dict) for value in elements):
        return ValueType("nested", frozenset({"nested"}))
    types = [scalar_type(value) for value in elements if not isinstance(value, list)]
    types = [value_type for value_type in types if value_type is not None]
    if not types:
        return None
    fits = frozenset.intersection(*(value_type.fits for value_type in types))
    first = types[0]
    return ValueType(first.primary, fits or first.fits)


def value_type(value: Any) -> ValueType | None:
    """Type of any JSON value as Iterable would see it."""
    if isinstance(value, list):
        return array_type(value)
    return scalar_type(value)


def too_long(value: Any) -> bool:
    """True when a string anywhere in `value` is longer than Iterable accepts."""
    if isinstance(value, str):
        return len(value) > MAX_VALUE_CHARS
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return False
    for item in items:
        if isinstance(item, str):
            if len(item) > MAX_VALUE_CHARS:
                return True
        elif isinstance(item, (dict, list)) and too_long(item):
            return True
    return False
