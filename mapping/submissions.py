"""Read widget submission exports into a DataFrame of raw strings, and describe their columns.

Formats: CSV (comma, semicolon, tab or pipe delimited), JSON (an array of objects, or an object
holding one such array, e.g. {"submissions": [...]}), JSON Lines (webhook captures), and XLSX.

What `load` guarantees:
- every value is the text as read: no number or date guessing, so "04101" stays "04101";
  empty cells are missing (NA; test with `pd.isna`), columns use pandas' string dtype;
- headers are trimmed (non-breaking and zero-width spaces too) and the byte-order mark removed;
  empty headers become "Column N" and repeated ones "Email (2)"; each fix is listed in
  `report.header_fixes`, no column is dropped;
- the encoding (UTF-8 with or without a byte-order mark, UTF-16 with one, Windows-1252) and the
  delimiter (`,` `;` tab `|`, or Excel's `sep=;` first line) are detected and reported, and both
  can be set by the caller;
- bad input raises `SubmissionsError`, whose message names the file and the problem.

JSON values: strings as they are, numbers exactly as written in the file ("1.50" stays "1.50"),
booleans as "true"/"false", null as missing. Objects under "data" or "fields" (webhook payloads)
are lifted to the top level, and so is a "fields" list of {"name": ..., "value": ...} items.
Other nested objects become dotted column names ("utm.source"), and lists are kept as JSON text.

XLSX values: the first worksheet, each cell as text the way Excel shows it for plain formats:
whole numbers without ".0", numbers formatted with leading zeros ("00000") keep them, dates as
ISO "2024-03-25" or "2024-03-25 14:05:00", booleans as TRUE/FALSE.

CSV is parsed by Arrow's CSV reader. Where it stops (a row with another number of cells),
pandas' reader takes over: it pads short rows and names the line of a row that is too long.
`iter_chunks` streams CSV and JSON Lines in chunks with the same columns and values as `load`.
Column kinds and roles come from the alias table `COLUMN_ALIASES` below (documented in
docs/COLUMNS.md; a test keeps the two in step).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

logger = logging.getLogger(__name__)

FORMATS = ("csv", "json", "jsonl", "xlsx")
DELIMITERS = (",", ";", "\t", "|")
MAX_LOAD_ROWS = 5_000_000
MAX_LOAD_CELLS = 60_000_000
MAX_COLUMNS = 2_000
MAX_XLSX_UNCOMPRESSED_BYTES = 1_000_000_000
MAX_XLSX_RATIO = 200
SNIFF_BYTES = 1_000_000
EXTENSION_FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".tab": "csv", ".txt": "csv", ".json": "json",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".xlsm": "xlsx",
}
EDGE_CHARS = " \t\r\n\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff\u3000"
WEBHOOK_CONTAINERS = ("data", "fields")
JSON_WRAPPER_KEYS = ("submissions", "data", "items", "records", "rows", "results", "entries")


# --- column classification -----------------------------------------------------------------

# role -> (kind, header aliases). Headers are compared by `header_key`: case, spaces,
# underscores, hyphens, dots and camelCase humps do not matter ("countryCode" == "Country code").
COLUMN_ALIASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "email": ("widget", ("email", "e-mail", "email address", "e-mail address", "mail",
                         "your email", "user email", "courriel", "correo electronico")),
    "first_name": ("widget", ("first name", "firstname", "given name", "forename", "name first",
                              "vorname", "prenom", "nombre")),
    "last_name": ("widget", ("last name", "lastname", "surname", "family name", "name last",
                             "nachname", "nom", "apellido", "apellidos")),
    "full_name": ("widget", ("name", "full name", "fullname", "your name", "contact name")),
    "phone": ("widget", ("phone", "phone number", "phonenumber", "telephone", "tel", "mobile",
                         "mobile phone", "mobile number", "cell", "cell phone", "telefon",
                         "telefonnummer", "whatsapp")),
    "consent": ("widget", ("consent", "gdpr", "gdpr consent", "opt in", "optin", "agree",
                           "i agree", "marketing consent", "email consent", "newsletter",
                           "subscribe", "terms", "accept terms", "checkbox")),
    "birth_date": ("widget", ("birthday", "birth date", "date of birth", "dob", "birthdate")),
    "gender": ("widget", ("gender", "sex")),
    "company": ("widget", ("company", "company name", "organization", "organisation")),
    "postal_code": ("widget", ("zip", "zip code", "zipcode", "postal code", "postcode", "plz")),
    "site_language": ("system", ("site language", "language", "lang", "locale",
                                 "browser language", "page language")),
    "browser": ("system", ("browser", "browser name", "user agent browser")),
    "operating_system": ("system", ("operating system", "operation system", "os", "os name",
                                    "platform")),
    "device": ("system", ("device", "device type", "devicetype")),
    "page_url": ("system", ("page url", "pageurl", "url", "page", "source url", "landing page",
                            "page address")),
    "referrer": ("system", ("referrer", "referer", "referrer url", "referring url")),
    "utm_source": ("system", ("utm source",)),
    "utm_medium": ("system", ("utm medium",)),
    "utm_campaign": ("system", ("utm campaign",)),
    "utm_term": ("system", ("utm term",)),
    "utm_content": ("system", ("utm content",)),
    "submitted_at": ("system", ("subscribed at", "submitted at", "submission time",
                                "submission date", "created", "created at", "date", "timestamp",
                                "time", "sent at", "signup date", "subscription date")),
    "user_agent": ("system", ("user agent", "useragent", "ua")),
    "ip_address": ("system", ("ip", "ip address")),
    "widget_name": ("system", ("widget", "widget name", "form", "form name", "popup")),
    "country_code": ("geolocation", ("country code", "countrycode", "cc", "country iso",
                                     "iso country", "country iso code")),
    "country": ("geolocation", ("country", "country name", "land", "pays", "pais")),
    "city": ("geolocation", ("city", "town", "city name", "stadt", "ville", "ciudad")),
    "region": ("geolocation", ("region", "state", "province", "region name")),
}

# Headers that contain one of these words are consent checkboxes ("I agree to receive emails").
CONSENT_WORDS = ("agree", "consent", "opt in", "accept", "gdpr", "permission")


def header_key(header: str) -> str:
    """Reduce a header for alias matching: split camelCase, lower-case, one space between words."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", header)
    text = re.sub(r"[\s_\-.:?*/()\[\]]+", " ", text.lower())
    return " ".join(text.split())


def _alias_lookup() -> dict[str, tuple[str, str]]:
    """header_key -> (kind, role) for every alias."""
    lookup: dict[str, tuple[str, str]] = {}
    for role, (kind, aliases) in COLUMN_ALIASES.items():
        for alias in aliases:
            lookup.setdefault(header_key(alias), (kind, role))
    return lookup


_ALIASES = _alias_lookup()


def classify_header(name: str) -> tuple[str, str | None]:
    """(kind, role) of a cleaned header; unknown headers are ("widget", None)."""
    key = header_key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    compact = key.replace(" ", "")
    for alias_key, found in _ALIASES.items():
        if alias_key.replace(" ", "") == compact:
            return found
    if key.startswith("utm ") and f"utm {key[4:]}" in _ALIASES:
        return _ALIASES[f"utm {key[4:]}"]
    if any(word in key for word in CONSENT_WORDS):
        return "widget", "consent"
    return "widget", None


class SubmissionsError(ValueError):
    """A submissions file that cannot be read; the message names the file and the problem."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


@dataclass
class ColumnInfo:
    """One column: its cleaned name, the header as it was, its kind and role (None if unknown)."""

    name: str
    original: str
    kind: str = "widget"
    role: str | None = None


@dataclass
class LoadReport:
    """Description of a loaded file: format, encoding, delimiter, header fixes, columns, rows."""

    name: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    header_fixes: list[str] = field(default_factory=list)
    columns: list[ColumnInfo] = field(default_factory=list)
    rows: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class Submissions:
    """A loaded file: the frame of raw strings and the report on how it was read."""

    frame: pd.DataFrame
    report: LoadReport


def classify_column(header: str) -> ColumnInfo:
    """Classify one header by the alias table; unknown headers are widget fields with no role."""
    name = clean_header(header)
    kind, role = classify_header(name)
    return ColumnInfo(name=name, original=header, kind=kind, role=role)


# --- headers -------------------------------------------------------------------------------


def clean_header(header: object) -> str:
    """Strip surrounding spaces, non-breaking and zero-width spaces and the BOM from a header."""
    if header is None or (isinstance(header, float) and pd.isna(header)):
        return ""
    return str(header).replace("\ufeff", "").strip(EDGE_CHARS)


def unique_headers(raw: list) -> tuple[list[str], list[str]]:
    """Cleaned, unique column names and a note for every change made to get them."""
    names: list[str] = []
    fixes: list[str] = []
    taken: set[str] = set()
    for position, header in enumerate(raw, start=1):
        original = "" if header is None else str(header)
        name = clean_header(header)
        if name != original and name:
            fixes.append(f"Column {position}: removed spaces or invisible characters around "
                         f"{name!r}.")
        if not name:
            name = _free_name(f"Column {position}", taken)
            fixes.append(f"Column {position} has no header; it is named {name!r}.")
        elif name in taken:
            base = name
            name = _free_name(base, taken, start=2)
            fixes.append(f"Column {position}: header {base!r} appears more than once; this one "
                         f"is named {name!r}.")
        taken.add(name)
        names.append(name)
    return names, fixes


def _free_name(base: str, taken: set[str], start: int | None = None) -> str:
    """`base`, or `base (n)` with the first n from `start` that is not taken yet."""
    if start is None and base not in taken:
        return base
    number = start or 2
    while f"{base} ({number})" in taken:
        number += 1
    return f"{base} ({number})"


def _classify_all(names: list[str], originals: list) -> list[ColumnInfo]:
    """ColumnInfo for every column."""
    infos = []
    for name, original in zip(names, originals):
        kind, role = classify_header(name)
        infos.append(ColumnInfo(name=name, original="" if original is None else str(original),
                                kind=kind, role=role))
    return infos


# --- sources, formats, encodings -----------------------------------------------------------


def _source_name(source, name: str | None) -> str:
    """Return the name used in messages and the report."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return str(getattr(source, "name", "") or "uploaded file")


def _read_bytes(source, name: str) -> bytes:
    """Return all bytes of a path, a bytes object or a binary file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise SubmissionsError(name, f"cannot be opened ({exc.strerror}).") from exc
    if hasattr(source, "getvalue"):
        return bytes(source.getvalue())
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            return data.encode("utf-8")
        return bytes(data)
    raise TypeError(f"Cannot read submissions from {type(source).__name__}; pass a path, "
                    "bytes or a binary file object.")


def _detect_format(data: bytes, name: str, requested: str | None) -> str:
    """Return the format from the caller, else the file extension, else the first bytes."""
    if requested:
        requested = requested.lower().lstrip(".")
        requested = {"tsv": "csv", "ndjson": "jsonl", "xlsm": "xlsx"}.get(requested, requested)
        if requested not in FORMATS:
            raise SubmissionsError(name, f"unknown format {requested!r}; use one of "
                                   f"{', '.join(FORMATS)}.")
        return requested
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        # Excel writes both old .xls files and password-protected .xlsx files in this format.
        if Path(name).suffix.lower() in (".xlsx", ".xlsm"):
            raise SubmissionsError(name, "is password-protected or an old .xls workbook; remove "
                                   "the password in Excel and save it again, or export CSV.")
        raise SubmissionsError(name, "is an old Excel .xls workbook; save it as .xlsx or CSV.")
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    by_extension = EXTENSION_FORMATS.get(Path(name).suffix.lower())
    if by_extension:
        return by_extension
    return _format_from_text(data)


def _format_from_text(data: bytes) -> str:
    """JSON or JSON Lines when the text starts like it, otherwise CSV."""
    head = data[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        first_line = head.split(b"\n", 1)[0].strip()
        try:
            json.loads(first_line)
        except ValueError:
            return "json"
        return "jsonl"
    return "csv"


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(sample: bytes, *, complete: bool = True) -> str:
    """Return the codec for a file starting with `sample`: utf-8-sig, utf-16, utf-8 or cp1252.

    Raises ValueError for binary data (NUL bytes without a UTF-16 byte-order mark).
    `complete` says whether `sample` is the whole file (else its end may cut a character).
    """
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            return codec
    if b"\x00" in sample:
        raise ValueError("binary")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _decode(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """Return the text of the file and the codec used."""
    if encoding is None:
        try:
            encoding = detect_encoding(data)
        except ValueError:
            raise SubmissionsError(
                name, "is not a text file (it contains binary data); export the submissions "
                "as CSV, JSON or XLSX.") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SubmissionsError(
            name, f"cannot be read as {encoding} (byte {exc.start}); choose another encoding "
            "such as cp1252 or utf-16.") from None
    except (LookupError, ValueError, TypeError):
        raise SubmissionsError(name, f"unknown encoding {encoding!r}; use for example utf-8 "
                               "or cp1252.") from None
    return text.lstrip("\ufeff"), encoding


# --- CSV -----------------------------------------------------------------------------------


def check_delimiter(delimiter: str | None, name: str) -> str | None:
    """Return the delimiter if it is one usable character (or None), else raise."""
    if delimiter is None or delimiter == "":
        return None
    if len(delimiter) != 1 or delimiter in "\r\n\"\x00" or (delimiter.isalnum()):
        raise SubmissionsError(name, f"invalid delimiter {delimiter!r}; use one character such "
                               "as , ; | or a tab.")
    return delimiter


def _split_sep_hint(text: str) -> tuple[str | None, str]:
    """Excel's `sep=;` first line: the delimiter it names and the text after that line."""
    match = re.match(r"\ufeff?[ \t]*sep=(\t|[!-/:-@\[-`{-~])[ \t]*\r?\n", text[:20])
    if not match:
        return None, text
    return match.group(1), text[match.end():]


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter among , ; tab | that splits the first lines into most equal columns."""
    lines = [line for line in sample.splitlines()[:30] if line.strip()]
    if not lines:
        return ","
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        try:
            rows = list(csv.reader(lines[:-1] or lines, delimiter=delimiter))
        except csv.Error:
            continue
        width = len(rows[0]) if rows else 0
        consistent = sum(1 for row in rows if len(row) == width) >= 0.8 * len(rows)
        if consistent and width > best_width:
            best, best_width = delimiter, width
    return best


def _line_of_parser_error(message: str, line_offset: int) -> str:
    """Turn pandas' tokenizer message into one about the file's line number."""
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if not match:
        return f"is not a readable CSV file ({message.strip()})."
    expected, line, seen = (int(group) for group in match.groups())
    return (f"line {line + line_offset} has {seen} cells but the header row has {expected}; "
            "check the delimiter or quote the values that contain it.")


def _csv_reader(handle, delimiter: str, *, nrows: int | None = None,
                chunksize: int | None = None):
    """pandas' C reader returning every cell as text, including the header row."""
    return pd.read_csv(
        handle, sep=delimiter, header=None, dtype=str, keep_default_na=False, na_filter=False,
        skip_blank_lines=True, engine="c", quotechar='"', nrows=nrows, chunksize=chunksize,
    )


def _frame_from_rows(raw: pd.DataFrame, names: list[str], start: int = 0) -> pd.DataFrame:
    """Name the columns, number the rows from `start`, and make empty cells missing."""
    frame = raw.copy() if raw.columns.tolist() != names else raw
    frame.columns = names
    frame.index = pd.RangeIndex(start, start + len(frame))
    for column in names:
        values = frame[column]
        if values.dtype != "str":
            values = values.astype("str")
        if (values == "").any():
            frame[column] = values.mask(values == "")
        else:
            frame[column] = values
    return frame


def _check_header_row(names_raw: list, name: str) -> None:
    """Reject a first row that is empty or looks like data rather than headers."""
    cleaned = [clean_header(header) for header in names_raw]
    if not any(cleaned):
        raise SubmissionsError(name, "has no header row (the first row is empty); the first "
                               "row must name the columns, e.g. Email.")
    emails = [header for header in cleaned if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", header)]
    if emails:
        raise SubmissionsError(
            name, f"has no header row: the first row holds data ({emails[0]!r}); add a row "
            "with the column names, e.g. Email.")
    if len(cleaned) > MAX_COLUMNS:
        raise SubmissionsError(name, f"has {len(cleaned)} columns; at most {MAX_COLUMNS} are "
                               "supported.")


def _header_width(body: str, delimiter: str) -> int:
    """Return the number of cells in the first non-blank record."""
    lines = (line for line in io.StringIO(body[:SNIFF_BYTES]) if line.strip())
    try:
        return len(next(csv.reader(lines, delimiter=delimiter), []))
    except csv.Error:  # e.g. a lone carriage return inside a field: pandas reports it better
        return 0


def _fast_csv(body: str, delimiter: str) -> tuple[list, pd.DataFrame] | None:
    """Parse with Arrow's multi-threaded CSV reader: (header cells, data rows), or None.

    None means "use pandas instead": Arrow stops at rows with a different number of cells
    without saying on which line, and pandas both pads short rows and names the line.
    """
    width = _header_width(body, delimiter)
    if width == 0 or width > MAX_COLUMNS or body.count("\n") > MAX_LOAD_ROWS + 1:
        return None
    names = [f"c{position}" for position in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError) as exc:
        logger.debug("Arrow CSV reader gave up (%s); reading with pandas", exc)
        return None
    header = [column[0].as_py() if len(column) else None for column in table.columns]
    return header, _arrow_frame(table.slice(1), names, 0)


def _load_csv(text: str, name: str, delimiter: str | None, report: LoadReport) -> pd.DataFrame:
    """Parse CSV text into the frame of strings."""
    hinted, body = _split_sep_hint(text)
    line_offset = 1 if hinted else 0
    if hinted and delimiter is None:
        delimiter = hinted
        report.warnings.append(f"The first line 'sep={hinted}' set the delimiter.")
    delimiter = delimiter or sniff_delimiter(body[:SNIFF_BYTES])
    report.delimiter = delimiter
    if not body.strip():
        raise SubmissionsError(name, "is empty; it needs a header row and at least one row.")

    if _header_width(body, delimiter) > MAX_COLUMNS:
        raise SubmissionsError(name, f"has more than {MAX_COLUMNS} columns; at most "
                               f"{MAX_COLUMNS} are supported.")
    fast = _fast_csv(body, delimiter)
    if fast is not None:
        header, rows = fast
    else:
        try:
            raw = _csv_reader(io.StringIO(body), delimiter, nrows=MAX_LOAD_ROWS + 2)
        except pd.errors.ParserError as exc:
            raise SubmissionsError(name, _line_of_parser_error(str(exc), line_offset)) from None
        except pd.errors.EmptyDataError:
            raise SubmissionsError(name, "is empty; it needs a header row and at least one "
                                   "row.") from None
        header, rows = raw.iloc[0].tolist(), raw.iloc[1:]

    _check_header_row(header, name)
    names, report.header_fixes = unique_headers(header)
    report.columns = _classify_all(names, header)
    return _frame_from_rows(rows, names)


# --- JSON and JSON Lines -------------------------------------------------------------------


_TOO_DEEP = ("has objects or lists nested too deeply to read; submissions are flat objects, "
             "with at most a few levels of nesting.")


class _JsonNumber(str):
    """A JSON number kept as the text it has in the file (1.50 stays "1.50")."""


_NUMBERS_AS_WRITTEN = {"parse_int": _JsonNumber, "parse_float": _JsonNumber,
                       "parse_constant": _JsonNumber}


def _json_dump(value) -> str:
    """JSON text for a parsed value, writing numbers exactly as they were in the file."""
    if isinstance(value, _JsonNumber):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_json_dump(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(key, ensure_ascii=False)}: {_json_dump(item)}"
                 for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def _json_text(value) -> str | None:
    """Render a JSON value as cell text: strings and numbers as written, booleans lower-case."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_dump(value)


def _flatten(record: dict, prefix: str = "") -> dict[str, str | None]:
    """Nested objects become dotted keys; lists become JSON text."""
    flat: dict[str, str | None] = {}
    for key, value in record.items():
        full_key = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{full_key}."))
        else:
            flat[full_key] = _json_text(value)
    return flat


def _named_items(items: list) -> dict | None:
    """Turn a list of {"name"/"label"/"key": ..., "value": ...} items into a dict, else None."""
    result = {}
    for item in items:
        if not isinstance(item, dict) or "value" not in item:
            return None
        key = item.get("name", item.get("label", item.get("key")))
        if not isinstance(key, str):
            return None
        result[key] = item["value"]
    return result


def flatten_record(record: dict) -> dict[str, str | None]:
    """Flatten one submission object into a dict of text values (see the module docstring)."""
    top = {key: value for key, value in record.items() if key not in WEBHOOK_CONTAINERS}
    lifted: dict = {}
    for container in WEBHOOK_CONTAINERS:
        value = record.get(container)
        if isinstance(value, list):
            value = _named_items(value) if value else {}
        if isinstance(value, dict):
            for key, inner in value.items():
                target = key if key not in top and key not in lifted else f"{container}.{key}"
                lifted[target] = inner
        elif container in record:
            top[container] = record[container]
    return _flatten({**top, **lifted})


def _records_from_json(document, name: str) -> list:
    """Return the list of submission objects in a JSON document."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in JSON_WRAPPER_KEYS:
            if isinstance(document.get(key), list):
                return document[key]
        lists = [value for value in document.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
        return [document]
    raise SubmissionsError(name, "is JSON but not a list of submissions; expected an array of "
                           "objects such as [{\"Email\": \"...\"}].")


def _frame_from_records(records: list, name: str, report: LoadReport,
                        first_line: int | None = None) -> pd.DataFrame:
    """Flatten objects into a frame; the columns are all keys in first-seen order."""
    if len(records) > MAX_LOAD_ROWS:
        raise SubmissionsError(name, _too_many_rows(len(records)))
    flat = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            where = f"line {first_line + number - 1}" if first_line else f"item {number}"
            raise SubmissionsError(name, f"{where} is not an object with fields (found "
                                   f"{type(record).__name__}).")
        try:
            flat.append(flatten_record(record))
        except RecursionError:
            raise SubmissionsError(name, f"item {number} {_TOO_DEEP}") from None
    keys = list(dict.fromkeys(key for record in flat for key in record))
    if not keys:
        raise SubmissionsError(name, "has no fields in its submissions.")
    names, report.header_fixes = unique_headers(keys)
    report.columns = _classify_all(names, keys)
    raw = pd.DataFrame.from_records(flat, columns=keys)
    return _frame_from_rows(raw.astype("str").fillna(""), names)


def _load_json(text: str, name: str, report: LoadReport) -> pd.DataFrame:
    """Parse a JSON document of submissions."""
    try:
        document = json.loads(text, **_NUMBERS_AS_WRITTEN)
    except json.JSONDecodeError as exc:
        raise SubmissionsError(name, f"is not valid JSON: {exc.msg} at line {exc.lineno}, "
                               f"column {exc.colno}.") from None
    except RecursionError:
        raise SubmissionsError(name, _TOO_DEEP) from None
    return _frame_from_records(_records_from_json(document, name), name, report)


def _jsonl_records(lines, name: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of JSON Lines text."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, **_NUMBERS_AS_WRITTEN)
        except json.JSONDecodeError as exc:
            raise SubmissionsError(name, f"line {number} is not valid JSON: {exc.msg} "
                                   f"(column {exc.colno}).") from None
        except RecursionError:
            raise SubmissionsError(name, f"line {number}: {_TOO_DEEP}") from None
        if not isinstance(record, dict):
            raise SubmissionsError(name, f"line {number} is not an object with fields.")
        yield number, record


def _load_jsonl(text: str, name: str, report: LoadReport) -> pd.DataFrame:
    """Parse JSON Lines text (one submission object per line)."""
    records = []
    for _, record in _jsonl_records(text.splitlines(), name):
        records.append(record)
        if len(records) > MAX_LOAD_ROWS:
            raise SubmissionsError(name, _too_many_rows(len(records)))
    return _frame_from_records(records, name, report)


# --- XLSX ----------------------------------------------------------------------------------


# Compression methods the standard zipfile module can read: stored, deflate, bzip2, LZMA.
_READABLE_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                         zipfile.ZIP_LZMA}


def _check_zip(data: bytes, name: str) -> None:
    """Reject files that are not zip archives, and archives that unpack to absurd sizes."""
    unsupported = SubmissionsError(
        name, "is an encrypted zip or uses zip features that cannot be read; save it again "
        "from Excel without a password, or export CSV.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise SubmissionsError(name, "is not an XLSX workbook (not a valid zip archive); save "
                               "it from Excel as .xlsx or export CSV.") from None
    except (NotImplementedError, RuntimeError):
        raise unsupported from None
    with archive:
        members = archive.infolist()
        total = sum(info.file_size for info in members)
        packed = sum(info.compress_size for info in members) or 1
    encrypted = any(info.flag_bits & 0x1 for info in members)
    if encrypted or any(info.compress_type not in _READABLE_ZIP_METHODS for info in members):
        raise unsupported
    if total > MAX_XLSX_UNCOMPRESSED_BYTES or (total > 50_000_000 and total / packed >
                                                MAX_XLSX_RATIO):
        raise SubmissionsError(
            name, f"unpacks to {total:,} bytes from {len(data):,}; that is too large to load "
            "safely. Export the sheet as CSV instead.")


def _zero_padded_width(number_format: str) -> int:
    """Return the width of a number format made only of zeros ("00000" -> 5), else 0."""
    return len(number_format) if re.fullmatch(r"0+", number_format or "") else 0


def cell_text(value, number_format: str = "General") -> str | None:
    """Render an Excel cell value as the text Excel displays for plain formats."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        has_clock = value.time() != dt.time(0) or re.search(r"[hs]", number_format or "", re.I)
        return value.strftime("%Y-%m-%d %H:%M:%S" if has_clock else "%Y-%m-%d")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        text = str(value) if isinstance(value, int) else format(value, ".15g")
        width = _zero_padded_width(number_format)
        return text.zfill(width) if width and isinstance(value, int) and value >= 0 else text
    return str(value)


# Errors openpyxl raises on damaged parts: bad compression, bad XML (including entity expansion,
# which the XML parser stops), missing or mistyped parts.
_BROKEN_WORKBOOK_ERRORS = (zipfile.BadZipFile, zlib.error, ElementTree.ParseError, KeyError,
                           ValueError, TypeError, IndexError, AttributeError, OSError, EOFError,
                           NotImplementedError, RuntimeError)


def _load_xlsx(data: bytes, name: str, report: LoadReport) -> pd.DataFrame:
    """Read the first worksheet with openpyxl in read-only mode."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _check_zip(data, name)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, *_BROKEN_WORKBOOK_ERRORS) as exc:
        raise SubmissionsError(name, f"is not a readable XLSX workbook ({str(exc)[:200]}).") \
            from None
    try:
        rows = _xlsx_rows(workbook.worksheets[0], name)
    except SubmissionsError:
        raise
    except _BROKEN_WORKBOOK_ERRORS as exc:
        raise SubmissionsError(name, f"is a damaged XLSX workbook ({type(exc).__name__}: "
                               f"{str(exc)[:200]}); open and save it again in Excel, or export "
                               "CSV.") from None
    finally:
        workbook.close()
    if not rows:
        raise SubmissionsError(name, "has an empty first worksheet; it needs a header row and "
                               "at least one row.")
    width = max(len(row) for row in rows)
    header = rows[0] + [None] * (width - len(rows[0]))
    _check_header_row(header, name)
    names, report.header_fixes = unique_headers(header)
    report.columns = _classify_all(names, header)
    body = [row + [None] * (width - len(row)) for row in rows[1:]]
    raw = pd.DataFrame(body, columns=range(width), dtype="str").fillna("")
    return _frame_from_rows(raw, names)


def _xlsx_rows(sheet, name: str) -> list[list[str | None]]:
    """Return the sheet's non-empty rows as text, trailing empty cells removed."""
    rows = []
    cells = 0
    for row in sheet.iter_rows():
        texts = [cell_text(cell.value, getattr(cell, "number_format", "General"))
                 for cell in row]
        while texts and texts[-1] in (None, ""):
            texts.pop()
        if not texts:
            continue
        rows.append(texts)
        cells += len(texts)
        if len(rows) > MAX_LOAD_ROWS + 1 or cells > MAX_LOAD_CELLS:
            raise SubmissionsError(name, _too_many_rows(len(rows)))
    return rows


# --- load ----------------------------------------------------------------------------------


def _too_many_rows(count: int) -> str:
    """Return the message for files too large to load at once."""
    return (f"has more than {min(count, MAX_LOAD_ROWS):,} rows or {MAX_LOAD_CELLS:,} cells, "
            "too many to load at once; use the command line (python -m mapping sync), which "
            "reads files in chunks.")


def _check_size(frame: pd.DataFrame, name: str) -> None:
    """Reject empty results and results beyond the row and cell caps."""
    if len(frame) == 0:
        raise SubmissionsError(name, "has a header row but no submissions below it.")
    if len(frame) > MAX_LOAD_ROWS or frame.size > MAX_LOAD_CELLS:
        raise SubmissionsError(name, _too_many_rows(len(frame)))


def load(source: str | os.PathLike | bytes | BinaryIO, *, name: str | None = None,
         encoding: str | None = None, delimiter: str | None = None,
         format: str | None = None) -> Submissions:
    """Read a submissions file (path, bytes or binary file object) into raw strings.

    `encoding`, `delimiter` and `format` override what is detected. Raises SubmissionsError.
    """
    name = _source_name(source, name)
    delimiter = check_delimiter(delimiter, name)
    data = _read_bytes(source, name)
    if not data.strip():
        raise SubmissionsError(name, "is empty; it needs a header row and at least one row.")
    file_format = _detect_format(data, name, format)
    report = LoadReport(name=name, format=file_format)

    if file_format == "xlsx":
        frame = _load_xlsx(data, name, report)
    else:
        text, report.encoding = _decode(data, name, encoding)
        if file_format == "csv":
            frame = _load_csv(text, name, delimiter, report)
        elif file_format == "json":
            frame = _load_json(text, name, report)
        else:
            frame = _load_jsonl(text, name, report)

    _check_size(frame, name)
    report.rows = len(frame)
    logger.info("loaded %s: %s rows, %s columns (%s, %s)", name, report.rows,
                len(frame.columns), file_format, report.encoding)
    return Submissions(frame=frame, report=report)


# --- streaming -----------------------------------------------------------------------------


def check_encoding(encoding: str | None, name: str) -> str | None:
    """Return the encoding if Python can decode text with it (or None), else raise."""
    if not encoding:
        return None
    try:
        b"a".decode(encoding)  # empty input would skip the codec lookup
    except UnicodeDecodeError:
        pass  # a real codec that needs more bytes, such as utf-16
    except (LookupError, ValueError, TypeError):
        raise SubmissionsError(name, f"unknown encoding {encoding!r}; use for example utf-8 "
                               "or cp1252.") from None
    return encoding


def _stream_encoding(path: Path, name: str, encoding: str | None) -> str:
    """Return the codec for a file, from its first megabyte unless the caller set one."""
    if check_encoding(encoding, name):
        return encoding
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    try:
        return detect_encoding(sample, complete=len(sample) < SNIFF_BYTES)
    except ValueError:
        raise SubmissionsError(name, "is not a text file (it contains binary data).") from None


class _ArrowGaveUp(Exception):
    """Arrow's CSV reader stopped; pandas reads the rest (it pads short rows, names lines)."""


def _csv_layout(path: Path, encoding: str, delimiter: str | None) -> tuple[str, bool, str]:
    """Return the delimiter, whether a `sep=` line comes first, and the text after it."""
    with path.open("r", encoding=encoding, newline="") as handle:
        first = handle.read(SNIFF_BYTES).lstrip("\ufeff")
    hinted, body = _split_sep_hint(first)
    return delimiter or hinted or sniff_delimiter(body), hinted is not None, body


def _arrow_batches(path: Path, encoding: str, delimiter: str, width: int, skip_rows: int):
    """Stream the file as Arrow record batches of text columns (the header row included)."""
    names = [f"c{position}" for position in range(width)]
    codec = "utf8" if encoding in ("utf-8", "utf-8-sig") else encoding
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(column_names=names, encoding=codec,
                                        skip_rows=skip_rows),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _iter_csv_arrow(path: Path, name: str, encoding: str, delimiter: str, hinted: bool,
                    body: str, chunksize: int) -> Iterator[pd.DataFrame]:
    """CSV chunks read by Arrow; raises _ArrowGaveUp where Arrow cannot go on."""
    width = _header_width(body, delimiter)
    if width == 0 or width > MAX_COLUMNS:
        raise _ArrowGaveUp
    names: list[str] | None = None
    pending: list[pa.Table] = []
    start = 0
    try:
        for table in _arrow_batches(path, encoding, delimiter, width, 1 if hinted else 0):
            if names is None:
                header = [column[0].as_py() for column in table.columns]
                _check_header_row(header, name)
                names, _ = unique_headers(header)
                table = table.slice(1)
            pending.append(table)
            while sum(len(part) for part in pending) >= chunksize:
                rows = pa.concat_tables(pending)
                pending = [rows.slice(chunksize)]
                yield _arrow_frame(rows.slice(0, chunksize), names, start)
                start += chunksize
    except SubmissionsError:
        raise
    except (pa.ArrowInvalid, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        logger.debug("Arrow CSV reader stopped after %s rows (%s)", start, exc)
        raise _ArrowGaveUp from None
    rest = pa.concat_tables(pending) if pending else None
    if rest is not None and len(rest):
        yield _arrow_frame(rest, names, start)


def _arrow_frame(table: pa.Table, names: list[str], start: int) -> pd.DataFrame:
    """Convert Arrow text columns to a frame: empty cells missing, rows numbered from `start`."""
    columns = [pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
               for column in table.columns]
    frame = pa.table(columns, names=[f"c{i}" for i in range(len(columns))]).to_pandas()
    frame.columns = names
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def _iter_csv_pandas(path: Path, name: str, encoding: str, delimiter: str, hinted: bool,
                     chunksize: int, skip: int) -> Iterator[pd.DataFrame]:
    """CSV chunks read by pandas, leaving out the first `skip` data rows."""
    with path.open("r", encoding=encoding, newline="") as handle:
        if handle.read(1) != "\ufeff":
            handle.seek(0)
        if hinted:
            handle.readline()
        reader = _csv_reader(handle, delimiter, chunksize=chunksize)
        names: list[str] | None = None
        start = 0
        try:
            for raw in reader:
                if names is None:
                    header = raw.iloc[0].tolist()
                    _check_header_row(header, name)
                    names, _ = unique_headers(header)
                    raw = raw.iloc[1:]
                kept = raw.iloc[max(skip - start, 0):]
                if len(kept):
                    yield _frame_from_rows(kept, names, start + len(raw) - len(kept))
                start += len(raw)
        except pd.errors.ParserError as exc:
            line_offset = 1 if hinted else 0
            raise SubmissionsError(name, _line_of_parser_error(str(exc), line_offset)) from None
        except pd.errors.EmptyDataError:
            raise SubmissionsError(name, "is empty; it needs a header row and at least one "
                                   "row.") from None
        except UnicodeDecodeError as exc:
            raise SubmissionsError(name, f"cannot be read as {encoding} further into the file "
                                   f"({exc.reason}); pass the right encoding.") from None


def _iter_csv(path: Path, name: str, encoding: str, delimiter: str | None,
              chunksize: int) -> Iterator[pd.DataFrame]:
    """CSV chunks with cleaned headers and a row index that continues across chunks.

    Arrow reads the file (fast, and the same reader as `load`); where it stops, pandas reads
    on from the first row not yielded yet.
    """
    delimiter, hinted, body = _csv_layout(path, encoding, delimiter)
    if not body.strip():
        raise SubmissionsError(name, "is empty; it needs a header row and at least one row.")
    yielded = 0
    try:
        for frame in _iter_csv_arrow(path, name, encoding, delimiter, hinted, body, chunksize):
            yield frame
            yielded += len(frame)
    except _ArrowGaveUp:
        for frame in _iter_csv_pandas(path, name, encoding, delimiter, hinted, chunksize,
                                      skip=yielded):
            yield frame
            yielded += len(frame)
    if yielded == 0:
        raise SubmissionsError(name, "has a header row but no submissions below it.")


def _iter_jsonl(path: Path, name: str, encoding: str,
                chunksize: int) -> Iterator[pd.DataFrame]:
    """JSON Lines chunks; a first pass collects every key so all chunks share the columns."""
    keys: dict[str, None] = {}
    with path.open("r", encoding=encoding) as handle:
        for _, record in _jsonl_records(handle, name):
            keys.update(dict.fromkeys(flatten_record(record)))
    names, _ = unique_headers(list(keys))
    start = 0
    with path.open("r", encoding=encoding) as handle:
        batch: list[dict] = []
        for _, record in _jsonl_records(handle, name):
            batch.append(flatten_record(record))
            if len(batch) == chunksize:
                yield _records_chunk(batch, list(keys), names, start)
                start += len(batch)
                batch = []
        if batch:
            yield _records_chunk(batch, list(keys), names, start)
            start += len(batch)
    if start == 0:
        raise SubmissionsError(name, "has no submissions.")


def _records_chunk(batch: list[dict], keys: list[str], names: list[str],
                   start: int) -> pd.DataFrame:
    """Return one chunk of flattened records as a frame with the shared columns."""
    raw = pd.DataFrame.from_records(batch, columns=keys).astype("str").fillna("")
    return _frame_from_rows(raw, names, start)


def iter_chunks(path: str | os.PathLike, chunksize: int = 100_000, *, name: str | None = None,
                encoding: str | None = None, delimiter: str | None = None,
                format: str | None = None) -> Iterator[pd.DataFrame]:
    """Yield the file's rows in frames of at most `chunksize` rows, in bounded memory.

    CSV and JSON Lines are streamed; JSON and XLSX are loaded whole and then split. The frames
    have the same columns, values and row index as `load(path).frame` would.
    """
    path = Path(path)
    name = _source_name(path, name)
    delimiter = check_delimiter(delimiter, name)
    if not path.is_file():
        raise SubmissionsError(name, "does not exist or is not a file.")
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    file_format = _detect_format(head, name, format)
    if file_format == "csv":
        codec = _stream_encoding(path, name, encoding)
        yield from _iter_csv(path, name, codec, delimiter, chunksize)
    elif file_format == "jsonl":
        codec = _stream_encoding(path, name, encoding)
        yield from _iter_jsonl(path, name, codec, chunksize)
    else:
        frame = load(path, name=name, encoding=encoding, delimiter=delimiter,
                     format=file_format).frame
        for start in range(0, len(frame), chunksize):
            yield frame.iloc[start:start + chunksize]


# --- profiles for the Submissions page -----------------------------------------------------


def column_profile(frame: pd.DataFrame) -> pd.DataFrame:
    """Per column: kind, role, share of filled cells, distinct values and up to 3 examples."""
    rows = []
    for column in frame.columns:
        info = classify_column(column)
        values = frame[column].dropna()
        examples = pd.unique(values)[:3]
        rows.append({
            "column": column,
            "kind": info.kind,
            "role": info.role,
            "filled": round(len(values) / len(frame), 4) if len(frame) else 0.0,
            "distinct": int(values.nunique()),
            "examples": ", ".join(str(example) for example in examples),
        })
    return pd.DataFrame(rows, columns=["column", "kind", "role", "filled", "distinct",
                                       "examples"]).set_index("column")


def _email_column(frame: pd.DataFrame, report: LoadReport | None) -> str | None:
    """Return the first column whose role is email."""
    columns = report.columns if report and report.columns else [
        classify_column(column) for column in frame.columns]
    for info in columns:
        if info.role == "email" and info.name in frame.columns:
            return info.name
    return None


def quality_summary(frame: pd.DataFrame, report: LoadReport | None = None) -> dict:
    """Counts for the Submissions page: missing, invalid and duplicate emails, empty cells."""
    from mapping import normalize

    summary = {
        "rows": len(frame),
        "email_column": None,
        "missing_emails": 0,
        "invalid_emails": 0,
        "duplicate_emails": 0,
        "empty_values": {column: int(frame[column].isna().sum()) for column in frame.columns},
    }
    email_column = _email_column(frame, report)
    if email_column is None:
        return summary
    result = normalize.email(frame[email_column])
    valid = result.values.dropna()
    summary.update(
        email_column=email_column,
        missing_emails=int((result.values.isna() & result.codes.isna()).sum()),
        invalid_emails=int(result.codes.notna().sum()),
        duplicate_emails=int(valid.duplicated().sum()),
    )
    return summary
