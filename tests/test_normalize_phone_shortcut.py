"""The vectorised phone shortcut must decide every number exactly as `phonenumbers` does.

The inputs are the library's example numbers of every region and number type, written in E.164
and in national format, plus near misses (a digit changed, dropped or added, a national prefix
inside an international number).
"""

from __future__ import annotations

import random

import pandas as pd
import phonenumbers
import pytest

from mapping import normalize

NUMBER_TYPES = [value for name, value in vars(phonenumbers.PhoneNumberType).items()
                if name.isupper() and name != "UNKNOWN"]


def library_e164(value: str, region: str | None) -> str | None:
    """The reference: E.164 from phonenumbers itself, or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def near_misses(digits: str, rng: random.Random) -> list[str]:
    """The digits with one changed, one dropped and one added."""
    position = rng.randrange(len(digits))
    changed = digits[:position] + str((int(digits[position]) + 1) % 10) + digits[position + 1:]
    return [changed, digits[:-1], digits + str(rng.randrange(10))]


def example_numbers(region: str):
    """The library's valid example numbers of one region, one per number type."""
    for number_type in NUMBER_TYPES:
        example = phonenumbers.example_number_for_type(region, number_type)
        if example is not None:
            yield example


def inputs_for(region: str, rng: random.Random) -> list[str]:
    """E.164 and national spellings of the region's examples, and their near misses."""
    values = []
    for example in example_numbers(region):
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        national = phonenumbers.national_significant_number(example)
        country = str(example.country_code)
        prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix or ""
        values += [e164, national, prefix + national, f"+{country}{prefix}{national}"]
        values += [f"+{country}{miss}" for miss in near_misses(national, rng)]
        values += [prefix + miss for miss in near_misses(national, rng)]
    return values


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_shortcut_agrees_with_library(region):
    rng = random.Random(region)
    values = inputs_for(region, rng)
    converted = normalize.phone(pd.Series(values, dtype="str"), region=region).values.tolist()
    expected = [library_e164(value, region) for value in values]
    assert converted == expected


def test_shortcut_agrees_without_region():
    rng = random.Random(7)
    values = [value for region in sorted(phonenumbers.SUPPORTED_REGIONS)
              for value in inputs_for(region, rng) if value.startswith("+")]
    converted = normalize.phone(pd.Series(values, dtype="str")).values.tolist()
    expected = [library_e164(value, None) for value in values]
    mismatches = [(v, c, e) for v, c, e in zip(values, converted, expected) if c != e]
    assert mismatches == []
