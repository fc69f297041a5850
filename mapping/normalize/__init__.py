"""Vectorised value converters: raw submission strings to the values Iterable stores.

Each converter takes a pandas Series of strings (missing values as None/NA/NaN) and returns a
`ConversionResult` aligned with the input's index: the converted values, a message per row that
failed, and the stable issue code of that failure. Missing or blank input is missing output with
no issue (the transform decides what a missing value means), except `boolean(...,
empty_is_false=True)`, which reads it as False.

    from mapping import normalize
    result = normalize.email(frame["Email"])
    result.values, result.codes, result.errors

Converters: email, phone, boolean, date, long, double, country, string; plus the scalar
`is_valid_email`. The rules of each are in its module's docstring and in docs/CONVERTERS.md.
"""

from mapping.normalize._base import ConversionResult
from mapping.normalize._boolean import boolean, truth_table
from mapping.normalize._country import country
from mapping.normalize._date import date, infer_date_order
from mapping.normalize._email import email, is_valid_email, known_tlds
from mapping.normalize._number import LONG_MAX, LONG_MIN, double, long
from mapping.normalize._phone import phone
from mapping.normalize._string import MAX_STRING_LENGTH, string

CONVERTERS = {
    "string": string,
    "email": email,
    "phone": phone,
    "boolean": boolean,
    "date": date,
    "long": long,
    "double": double,
    "country": country,
}

__all__ = [
    "CONVERTERS",
    "LONG_MAX",
    "LONG_MIN",
    "MAX_STRING_LENGTH",
    "ConversionResult",
    "boolean",
    "country",
    "date",
    "double",
    "email",
    "infer_date_order",
    "is_valid_email",
    "known_tlds",
    "long",
    "phone",
    "string",
    "truth_table",
]
