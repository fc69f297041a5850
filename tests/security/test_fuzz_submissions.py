"""Fuzz the submissions readers: any file gives a report or a SubmissionsError.

Covered: random bytes under every file name, and valid CSV / JSON / JSON Lines / XLSX files cut
short or with flipped bytes. Also huge fields, deeply nested JSON, wrong encodings, files named
.xlsx that are not XLSX, and XLSX zip bombs. Every read runs inside a memory bound; the
per-test timeout is the time bound. Any exception other than SubmissionsError is a failure.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping import submissions
from mapping.submissions import SubmissionsError
from tests.security._bounds import clear_error_or_result, memory_bound

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NAMES = ["export.csv", "export.json", "export.jsonl", "export.xlsx", "export.txt", "export"]
ROWS = [
    {"Email": "anna@example.com", "First name": "Anna", "Phone": "+49 151 2345678",
     "Consent": "Yes", "Subscribed at": "2024-03-01 10:15:00", "Browser": "Firefox"},
    {"Email": "björn@example.de", "First name": "Björn", "Phone": "0151 9876543",
     "Consent": "", "Subscribed at": "01.03.2024 11:00", "Browser": "Chrome"},
    {"Email": "chloé@example.fr", "First name": "Chloé, \"Clo\"", "Phone": "",
     "Consent": "on", "Subscribed at": "2024-03-02", "Browser": "Safari"},
]


# --------------------------------------------------------------------------- valid files


def csv_bytes(delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(ROWS[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(ROWS)
    return text.getvalue().encode(encoding)


def json_bytes() -> bytes:
    return json.dumps(ROWS, ensure_ascii=False).encode("utf-8")


def jsonl_bytes() -> bytes:
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in ROWS).encode("utf-8")


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(ROWS[0]))
    for row in ROWS:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


VALID_FILES = {
    "export.csv": csv_bytes(),
    "export.json": json_bytes(),
    "export.jsonl": jsonl_bytes(),
    "export.xlsx": xlsx_bytes(),
}


def read(raw: bytes, name: str, **options):
    """Load ``raw`` under ``name``; return the Submissions or the SubmissionsError."""
    return clear_error_or_result(
        lambda: submissions.load(raw, name=name, **options), SubmissionsError
    )


def read_bounded(raw: bytes, name: str, **options):
    with memory_bound():
        return read(raw, name, **options)


@pytest.mark.parametrize("name", sorted(VALID_FILES))
def test_valid_files_load(name):
    loaded = read(VALID_FILES[name], name)
    assert not isinstance(loaded, SubmissionsError), loaded
    assert loaded.report.rows == len(ROWS)


# --------------------------------------------------------------------------- fuzzing


@FUZZ
@given(st.binary(max_size=4_000), st.sampled_from(NAMES))
def test_random_bytes(raw, name):
    read(raw, name)


@FUZZ
@given(st.sampled_from(sorted(VALID_FILES)), st.data())
def test_truncated_valid_files(name, data):
    raw = VALID_FILES[name]
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="cut")
    read(raw[:cut], name)


@FUZZ
@given(st.sampled_from(sorted(VALID_FILES)), st.data())
def test_flipped_bytes(name, data):
    raw = bytearray(VALID_FILES[name])
    flips = data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="at")
    for position in flips:
        raw[position] ^= data.draw(st.integers(1, 255), label="mask")
    read(bytes(raw), name)


@FUZZ
@given(st.text(max_size=600), st.sampled_from(NAMES[:3]))
def test_random_text(text, name):
    read(text.encode("utf-8", "surrogatepass"), name)


@FUZZ
@given(
    st.sampled_from(["export.csv", "export.jsonl"]),
    st.sampled_from(["utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1", "shift_jis", "cp500"]),
)
def test_wrong_encodings(name, encoding):
    text = VALID_FILES[name].decode("utf-8")
    read(text.encode(encoding, errors="replace"), name)


@pytest.mark.parametrize("encoding", ["no-such-codec", "utf-8\x00", "ascii", "rot13", "zip"])
def test_encoding_override_is_checked(encoding):
    read(VALID_FILES["export.csv"], "export.csv", encoding=encoding)


@pytest.mark.parametrize("delimiter", ["", "ab", "\n", '"', "\x00"])
def test_delimiter_override_is_checked(delimiter):
    read(VALID_FILES["export.csv"], "export.csv", delimiter=delimiter)


@pytest.mark.parametrize("fmt", ["xlsx", "json", "jsonl", "csv", "parquet", ""])
def test_format_override_on_a_csv(fmt):
    read(VALID_FILES["export.csv"], "export.csv", format=fmt)


# --------------------------------------------------------------------------- hostile files


def huge_field_csv(size: int) -> bytes:
    return b"Email,Note\r\nanna@example.com,\"" + b"x" * size + b"\"\r\n"


def huge_unquoted_line(size: int) -> bytes:
    return b"Email\n" + b"a" * size + b"\n"


def wide_header_csv(columns: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return (header + "\n" + "," * (columns - 1) + "\n").encode()


def nested_json(depth: int, closed: bool) -> bytes:
    return b"[" * depth + (b"]" * depth if closed else b"")


HOSTILE = {
    "csv with a 40 MB field": (huge_field_csv(40_000_000), "export.csv"),
    "csv with a 40 MB unquoted line": (huge_unquoted_line(40_000_000), "export.csv"),
    "csv with an unclosed quote": (
        b'Email,Note\n"anna@example.com,' + b"y" * 1_000_000, "export.csv"
    ),
    "csv with 50k columns": (wide_header_csv(50_000), "export.csv"),
    "csv of NUL bytes": (b"\x00" * 2_000_000, "export.csv"),
    "csv header only": (b"Email,Name\n", "export.csv"),
    "empty csv": (b"", "export.csv"),
    "json nested 100k levels": (nested_json(100_000, closed=True), "export.json"),
    "json open 1M levels": (nested_json(1_000_000, closed=False), "export.json"),
    "json nested objects": (b'{"a":' * 200_000 + b"1" + b"}" * 200_000, "export.json"),
    "jsonl nested line": (
        b'{"Email":"a@b.co"}\n' + nested_json(100_000, closed=True), "export.jsonl"
    ),
    "json scalar": (b"42", "export.json"),
    "json object of scalars": (b'{"Email": "a@b.co"}', "export.json"),
    "json list of lists": (b"[[1,2],[3]]", "export.json"),
    "json huge number": (b'[{"Id": ' + b"9" * 100_000 + b"}]", "export.json"),
    "json 20 MB string": (b'[{"Email": "' + b"e" * 20_000_000 + b'"}]', "export.json"),
    "jsonl 20 MB line": (
        b'{"Email": "a@b.co", "Note": "' + b"n" * 20_000_000 + b'"}\n', "export.jsonl"
    ),
    "json NaN and Infinity": (b'[{"a": NaN, "b": Infinity}]', "export.json"),
    "json duplicate keys": (b'[{"Email": "a@b.co", "Email": "c@d.co"}]', "export.json"),
    "jsonl with a blank and a bad line": (b'{"Email":"a@b.co"}\n\n{"Email":\n', "export.jsonl"),
    "utf-16 csv without BOM": (csv_bytes(encoding="utf-16-le"), "export.csv"),
    "utf-8 BOM then latin-1": (b"\xef\xbb\xbf" + csv_bytes(encoding="latin-1"), "export.csv"),
    "xlsx that is a csv": (csv_bytes(), "export.xlsx"),
    "xlsx that is random": (bytes(range(256)) * 40, "export.xlsx"),
    "xlsx that is an old .xls": (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000, "export.xlsx"
    ),
    "xlsx that is an empty zip": (b"PK\x05\x06" + b"\x00" * 18, "export.xlsx"),
    "json that is an xlsx": (VALID_FILES["export.xlsx"], "export.json"),
    "csv that is an xlsx": (VALID_FILES["export.xlsx"], "export.csv"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files(case):
    raw, name = HOSTILE[case]
    read_bounded(raw, name)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return out.getvalue()


def minimal_xlsx_parts(sheet_xml: bytes) -> dict[str, bytes]:
    """The smallest set of parts openpyxl accepts as a workbook, with ``sheet_xml`` as sheet 1."""
    source = zipfile.ZipFile(io.BytesIO(VALID_FILES["export.xlsx"]))
    parts = {info.filename: source.read(info) for info in source.infolist()}
    parts["xl/worksheets/sheet1.xml"] = sheet_xml
    return parts


ZIP_CASES = {
    "zip without a workbook": {"hello.txt": b"hello"},
    "workbook with a broken sheet": minimal_xlsx_parts(b"<worksheet><sheetData><row>"),
    "workbook with an external entity": minimal_xlsx_parts(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row>'
        b"</sheetData></worksheet>"
    ),
    "workbook with a billion laughs": minimal_xlsx_parts(
        b'<?xml version="1.0"?><!DOCTYPE x ['
        b'<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode()
            for i in range(9)
        )
        + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&j;</t></is></c></row>'
        b"</sheetData></worksheet>"
    ),
}


def with_central_directory_field(raw: bytes, offset: int, value: int) -> bytes:
    """``raw`` with a 2-byte field of every central directory entry set to ``value``."""
    data = bytearray(raw)
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        struct.pack_into("<H", data, position + offset, value)
        position = data.find(b"PK\x01\x02", position + 4)
    return bytes(data)


# Zip features that Python's zipfile does not implement. Each raises an error other than
# BadZipFile: NotImplementedError or RuntimeError.
UNSUPPORTED_ZIPS = {
    "needs zip version 23.6": (6, 236),
    "members marked encrypted": (8, 1),
    "compression method 99 (AES)": (10, 99),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED_ZIPS))
def test_unsupported_zip_features(case):
    offset, value = UNSUPPORTED_ZIPS[case]
    raw = with_central_directory_field(VALID_FILES["export.xlsx"], offset, value)
    loaded = read_bounded(raw, "export.xlsx")
    assert isinstance(loaded, SubmissionsError), "a workbook that cannot be unpacked loaded"


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_broken_workbooks(case):
    loaded = read_bounded(zip_bytes(ZIP_CASES[case]), "export.xlsx")
    if not isinstance(loaded, SubmissionsError):
        cells = loaded.frame.astype("string").fillna("").to_numpy().ravel().tolist()
        assert not any("root:" in cell for cell in cells), "an external entity was expanded"


# --------------------------------------------------------------------------- zip bombs
#
# The bombs are written by hand: the sheet's deflate stream is one compressed megabyte of
# repeated XML, copied as often as needed (each copy is compressed from an empty history, so
# the copies join into one valid stream). Only the CRC needs a pass over the unpacked bytes.

MIB = 1 << 20
SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_TAIL = b"</sheetData></worksheet>"
ONE_CELL_HEAD = SHEET_HEAD + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
ONE_CELL_TAIL = b"</t></is></c></row>" + SHEET_TAIL
ROW = (
    b'<row><c t="inlineStr"><is><t>a@b.co</t></is></c>'
    b'<c t="inlineStr"><is><t>x</t></is></c></row>'
)


@dataclass
class Member:
    """One deflated file inside a hand-written zip archive."""

    name: str
    packed: bytes
    crc: int
    size: int


def deflated(data: bytes, *, final: bool = True) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH
    )


def repeated_member(name: str, head: bytes, block: bytes, copies: int, tail: bytes, *,
                    declared_size: int | None = None) -> Member:
    """``head + block * copies + tail`` deflated; ``declared_size`` makes the header lie."""
    packed = deflated(head, final=False) + deflated(block, final=False) * copies + deflated(tail)
    size = len(head) + len(block) * copies + len(tail)
    if declared_size is not None:
        return Member(name, packed, 0, declared_size)
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(block, crc)
    return Member(name, packed, zlib.crc32(tail, crc), size)


def zip_archive(members: list[Member]) -> bytes:
    """A zip archive (no zip64) of already deflated members."""
    out, central = bytearray(), bytearray()
    for member in members:
        offset, name = len(out), member.name.encode()
        fields = (member.crc, len(member.packed), member.size, len(name))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, *fields, 0)
        out += name + member.packed
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21,
                               *fields, 0, 0, 0, 0, 0, offset) + name
    count = len(members)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def workbook_with_sheet(sheet: Member) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(VALID_FILES["export.xlsx"]))
    members = []
    for info in source.infolist():
        if info.filename == "xl/worksheets/sheet1.xml":
            members.append(sheet)
            continue
        data = source.read(info)
        members.append(Member(info.filename, deflated(data), zlib.crc32(data), len(data)))
    return zip_archive(members)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    sheet = "xl/worksheets/sheet1.xml"
    rows_block = ROW * (MIB // len(ROW))
    return {
        "one 1 GiB cell": workbook_with_sheet(
            repeated_member(sheet, ONE_CELL_HEAD, b"A" * MIB, 1024, ONE_CELL_TAIL)
        ),
        "600 MiB of rows": workbook_with_sheet(
            repeated_member(sheet, SHEET_HEAD, rows_block, 600, SHEET_TAIL)
        ),
        "1 GiB cell, header says 20 MB": workbook_with_sheet(
            repeated_member(sheet, ONE_CELL_HEAD, b"A" * MIB, 1024, ONE_CELL_TAIL,
                            declared_size=20_000_000)
        ),
    }


def test_hand_written_zip_is_valid():
    sheet = repeated_member("a.txt", b"<", b"xy" * 10, 3, b">")
    archive = zipfile.ZipFile(io.BytesIO(zip_archive([sheet])))
    assert archive.read("a.txt") == b"<" + b"xy" * 30 + b">"


@pytest.mark.parametrize("case", ["one 1 GiB cell", "600 MiB of rows"])
def test_zip_bomb_is_refused_within_bounds(bombs, case):
    raw = bombs[case]
    assert len(raw) < 5_000_000
    loaded = read_bounded(raw, "export.xlsx")
    assert isinstance(loaded, SubmissionsError), (
        f"a {len(raw)} byte file that unpacks to hundreds of MiB loaded as "
        f"{loaded.report.rows} rows"
    )


def test_zip_bomb_with_a_lying_size_is_handled(bombs):
    read_bounded(bombs["1 GiB cell, header says 20 MB"], "export.xlsx")


def test_zip_bomb_by_path_is_refused(bombs, tmp_path):
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bombs["one 1 GiB cell"])
    with memory_bound():
        outcome = clear_error_or_result(lambda: submissions.load(path), SubmissionsError)
    assert isinstance(outcome, SubmissionsError)


def test_iter_chunks_reports_garbage_as_submissions_error(tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_bytes(b"this is not a workbook")

    def consume():
        for _ in submissions.iter_chunks(path):
            pass

    clear_error_or_result(consume, SubmissionsError)
