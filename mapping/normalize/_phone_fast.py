"""A vectorised shortcut for the common phone numbers, exact or silent.

`phonenumbers.parse` costs tens of microseconds per number, which dominates a million-row run.
Numbers in exports are usually plain digits, written with a `+` and a country code or in national
format with the default region. For those this module repeats the library's own checks with
Arrow regular expressions over the library's metadata:

- the country code is the shortest known prefix of the digits after `+` (codes are prefix-free);
- the national number must match the general description of the country's region (length and
  pattern) and one number type (fixed line, mobile, toll free, ...), exactly as
  `phonenumbers` decides validity; for codes shared by several regions (+1, +7, +44, ...) the
  regions are tried in the library's order, honouring their leading digits;
- in national format, a national prefix that is a plain digit string ("0" in Germany) is removed
  when the rest is a valid number, which is when the library removes it too.

Everything else returns None here, and `_phone.py` asks `phonenumbers` itself: numbers that
this module finds invalid, numbers with an international call prefix (`0049`), a national prefix
written inside an international number (`+49 0151`), letters or extensions, non-geographic codes
(+800), and regions whose patterns Arrow's regex engine cannot compile. So the shortcut never
decides a number differently; tests/test_normalize.py compares both on every region's examples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.data import _COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata

from mapping.normalize._base import full_matches

logger = logging.getLogger(__name__)

TYPE_DESCRIPTIONS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                     "pager", "uan", "voicemail", "fixed_line", "mobile")
NON_GEOGRAPHIC = "001"


@dataclass(frozen=True)
class NumberDescription:
    """Possible lengths and the pattern of one kind of national number."""

    lengths: tuple[int, ...]
    pattern: str

    def matches(self, numbers: pa.Array) -> np.ndarray:
        """Return True where a national number has a possible length and matches the pattern."""
        matched = pc.match_substring_regex(numbers, f"^(?:{self.pattern})$")
        if self.lengths:
            lengths = pc.utf8_length(numbers)
            matched = pc.and_(matched, pc.is_in(lengths, value_set=pa.array(self.lengths)))
        return matched.fill_null(False).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class RegionRules:
    """The parts of one region's metadata that decide validity and national prefixes."""

    code: str
    country_code: int
    general: NumberDescription
    types: tuple[NumberDescription, ...]
    leading_digits: str | None
    national_prefix: str | None       # a plain digit string the library strips, or None
    prefix_pattern: str | None        # a national prefix this module does not handle
    international_prefix: str | None

    def valid(self, numbers: pa.Array) -> np.ndarray:
        """Return True where the national number is a valid number of this region."""
        valid = self.general.matches(numbers)
        if not valid.any():
            return valid
        of_some_type = np.zeros(len(numbers), dtype=bool)
        for description in self.types:
            of_some_type |= description.matches(numbers)
        return valid & of_some_type


def _description(metadata, name: str) -> NumberDescription | None:
    """Return the named number description, or None when the region has none."""
    desc = getattr(metadata, name, None)
    if desc is None or not desc.national_number_pattern:
        return None
    return NumberDescription(tuple(desc.possible_length or ()), desc.national_number_pattern)


def _compiles(rules: RegionRules) -> bool:
    """Check that Arrow's regex engine (RE2) accepts every pattern of the region."""
    probe = pa.array(["0"])
    patterns = [rules.general.pattern] + [description.pattern for description in rules.types]
    patterns += [p for p in (rules.leading_digits, rules.prefix_pattern,
                             rules.international_prefix) if p]
    try:
        for pattern in patterns:
            pc.match_substring_regex(probe, f"^(?:{pattern})")
    except pa.ArrowInvalid:
        return False
    return True


@lru_cache(maxsize=None)
def region_rules(region: str) -> RegionRules | None:
    """Return the rules of a region, or None when the shortcut cannot handle it."""
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    general = _description(metadata, "general_desc")
    if general is None:
        return None
    names = [name for name in TYPE_DESCRIPTIONS
             if not (name == "mobile" and metadata.same_mobile_and_fixed_line_pattern)]
    types = tuple(d for d in (_description(metadata, name) for name in names) if d is not None)
    prefix = metadata.national_prefix_for_parsing or None
    plain_prefix = prefix if prefix and prefix.isdigit() and not \
        metadata.national_prefix_transform_rule else None
    rules = RegionRules(
        code=region, country_code=metadata.country_code, general=general, types=types,
        leading_digits=metadata.leading_digits or None, national_prefix=plain_prefix,
        prefix_pattern=None if plain_prefix else prefix,
        international_prefix=metadata.international_prefix or None,
    )
    if not _compiles(rules):
        logger.debug("phone shortcut skips region %s: a pattern is not RE2 syntax", region)
        return None
    return rules


def _starts_with(numbers: pa.Array, pattern: str | None) -> np.ndarray:
    """Return True where the pattern matches at the start of the number."""
    if not pattern:
        return np.zeros(len(numbers), dtype=bool)
    found = pc.match_substring_regex(numbers, f"^(?:{pattern})")
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _valid_for_country_code(country_code: int, numbers: pa.Array) -> np.ndarray | None:
    """Validity of national numbers under one country code, or None when unsupported."""
    regions = _COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if not regions or NON_GEOGRAPHIC in regions:
        return None
    all_rules = [region_rules(region) for region in regions]
    if any(rules is None for rules in all_rules):
        return None
    if len(all_rules) == 1:
        return all_rules[0].valid(numbers)

    valid = np.zeros(len(numbers), dtype=bool)
    undecided = np.ones(len(numbers), dtype=bool)
    for rules in all_rules:
        if rules.leading_digits:
            here = undecided & _starts_with(numbers, rules.leading_digits)
            valid |= here & rules.valid(numbers)
        else:
            here = undecided & rules.valid(numbers)
            valid |= here
        undecided &= ~here
    return valid


_CODE_TEXTS = pa.array([str(code) for code in _COUNTRY_CODE_TO_REGION_CODE])


def _split_international(digits: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Country code (NaN if unknown) and national number of digit strings written after '+'."""
    country_code = pd.Series(np.nan, index=digits.index)
    national = pd.Series(pd.NA, index=digits.index, dtype="str")
    arrow = pa.array(digits)
    for length in (1, 2, 3):
        candidate = pc.utf8_slice_codeunits(arrow, 0, length)
        known = pc.is_in(candidate, value_set=_CODE_TEXTS).to_numpy(zero_copy_only=False)
        known &= country_code.isna().to_numpy()
        if known.any():
            country_code[known] = pc.cast(candidate.filter(known), pa.int64()).to_numpy()
            national[known] = pc.utf8_slice_codeunits(arrow.filter(known), length).to_numpy(
                zero_copy_only=False)
    return country_code, national


def _strip_national_prefix(numbers: pd.Series, rules: RegionRules) -> tuple[pd.Series, np.ndarray]:
    """National numbers with a plain national prefix removed, and where that is unsafe here."""
    arrow = pa.array(numbers)
    unsafe = _starts_with(arrow, rules.international_prefix) | _starts_with(arrow,
                                                                            rules.prefix_pattern)
    if rules.national_prefix:
        prefixed = numbers.str.startswith(rules.national_prefix).to_numpy(dtype=bool)
        stripped = numbers.str.slice(len(rules.national_prefix))
        numbers = stripped.where(prefixed, numbers)
    return numbers, unsafe


def fast_e164(compact: pd.Series, region: str | None) -> np.ndarray:
    """Return E.164 text for the numbers found valid here, and None for all others.

    `compact` contains the numbers with separators already removed. None means that
    `phonenumbers` has to parse the number.
    """
    result = np.full(len(compact), None, dtype=object)
    international = full_matches(compact, r"\+[0-9]{3,20}")
    country_code, national = _split_international(compact[international].str.slice(1))
    codes = pd.Series(np.nan, index=compact.index)
    numbers = pd.Series(pd.NA, index=compact.index, dtype="str")
    codes[international] = country_code.to_numpy()
    numbers[international] = national.to_numpy()

    for code in pd.unique(country_code.dropna()):  # "+49 0151...": the library strips the 0
        main = region_rules(_COUNTRY_CODE_TO_REGION_CODE[int(code)][0])
        prefix = (main.national_prefix or main.prefix_pattern) if main else None
        inside = (codes == code).to_numpy() & _starts_with(pa.array(numbers), prefix)
        codes[inside] = np.nan

    rules = region_rules(region) if region else None
    national_format = full_matches(compact, r"[0-9]{2,20}")
    if rules is not None and national_format.any():
        stripped, unsafe = _strip_national_prefix(compact[national_format], rules)
        safe = national_format.copy()
        safe[national_format] = ~unsafe
        codes[safe] = rules.country_code
        numbers[safe] = stripped[~unsafe].to_numpy()

    for code in pd.unique(codes.dropna()):
        members = (codes == code).to_numpy()
        valid = _valid_for_country_code(int(code), pa.array(numbers[members]))
        if valid is None:
            continue
        chosen = np.flatnonzero(members)[valid]
        national_numbers = pa.array(numbers.iloc[chosen])
        joined = pc.binary_join_element_wise(
            pa.scalar(f"+{int(code)}", national_numbers.type), national_numbers,
            pa.scalar("", national_numbers.type))
        result[chosen] = joined.to_numpy(zero_copy_only=False)
    return result
