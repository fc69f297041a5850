"""Reading submission exports: formats, encodings, delimiters, headers, values, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping import submissions
from mapping.submissions import SubmissionsError, iter_chunks, load

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "submissions.csv"
CSV_TEXT = "Email,First name,Zip\nanna@example.com,Anna,04101\nbob@example.org,,\n"


def frame_values(frame: pd.DataFrame) -> list[list]:
    """Cells as lists with missing values as None, for easy comparison."""
    return [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)]


# --- CSV: encodings and delimiters ---------------------------------------------------------

@pytest.mark.parametrize(("data", "encoding"), [
    (CSV_TEXT.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"), "utf-8-sig"),
    (CSV_TEXT.encode("utf-16"), "utf-16"),
    (CSV_TEXT.encode("utf-16-be").join([b"\xfe\xff", b""]), "utf-16"),
    (CSV_TEXT.replace("Anna", "Jürgen").encode("cp1252"), "cp1252"),
])
def test_encodings_are_detected_and_reported(data, encoding):
    result = load(data, name="export.csv")
    assert result.report.encoding == encoding
    assert list(result.frame.columns) == ["Email", "First name", "Zip"]
    assert result.frame["Email"].iat[0] == "anna@example.com"


def test_windows_1252_accents_are_read():
    data = "Email;Name\nx@example.com;Chloé “quoted” – dash\n".encode("cp1252")
    result = load(data, name="excel.csv")
    assert result.report.encoding == "cp1252"
    assert result.frame["Name"].iat[0] == "Chloé “quoted” – dash"


def test_encoding_override():
    data = CSV_TEXT.replace("Anna", "Jürgen").encode("latin-1")
    assert load(data, name="a.csv", encoding="latin-1").frame["First name"].iat[0] == "Jürgen"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(delimiter):
    text = CSV_TEXT.replace(",", delimiter)
    result = load(text.encode(), name="export.txt")
    assert result.report.delimiter == delimiter
    assert frame_values(result.frame)[0] == ["anna@example.com", "Anna", "04101"]


def test_sniffing_ignores_delimiters_inside_quotes():
    text = 'Email;Note\nanna@example.com;"a, b, c"\nbob@example.com;"d, e"\n'
    result = load(text.encode(), name="a.csv")
    assert result.report.delimiter == ";"
    assert result.frame["Note"].tolist() == ["a, b, c", "d, e"]


def test_excel_sep_line_is_honoured():
    result = load(b"sep=;\nEmail;Name\nanna@example.com;Anna, Maria\n", name="excel.csv")
    assert result.report.delimiter == ";"
    assert frame_values(result.frame) == [["anna@example.com", "Anna, Maria"]]
    assert any("sep=;" in warning for warning in result.report.warnings)


def test_delimiter_override():
    result = load(b"Email|Name\nanna@example.com|A\n", name="a.csv", delimiter="|")
    assert result.report.delimiter == "|"


# --- values and headers --------------------------------------------------------------------

def test_values_stay_strings_and_empty_is_missing():
    text = ("Email,Zip,Amount,Flag,Date\n"
            "a@example.com,04101,1.50,TRUE,2024-03-25\n"
            "b@example.com,,  ,NA,\n")
    frame = load(text.encode(), name="a.csv").frame
    assert frame_values(frame) == [
        ["a@example.com", "04101", "1.50", "TRUE", "2024-03-25"],
        ["b@example.com", None, "  ", "NA", None],
    ]
    assert all(frame[column].dtype == "str" for column in frame.columns)
    assert list(frame.index) == [0, 1]


def test_quoted_newlines_and_quotes():
    text = 'Email,Note\na@example.com,"line 1\nline 2 ""quoted"""\n'
    assert load(text.encode(), name="a.csv").frame["Note"].iat[0] == 'line 1\nline 2 "quoted"'


def test_short_rows_are_padded_with_missing_values():
    frame = load(b"Email,Name,City\na@example.com\n", name="a.csv").frame
    assert frame_values(frame) == [["a@example.com", None, None]]


def test_headers_are_cleaned_and_made_unique_never_dropped():
    header = "\ufeff Email\u00a0,Email,,Name\u200b,Email (2),\n"
    result = load((header + "a@example.com,b,c,d,e,f\n").encode(), name="a.csv")
    assert list(result.frame.columns) == [
        "Email", "Email (2)", "Column 3", "Name", "Email (2) (2)", "Column 6"]
    assert frame_values(result.frame) == [["a@example.com", "b", "c", "d", "e", "f"]]
    fixes = " ".join(result.report.header_fixes)
    assert "Column 3 has no header" in fixes
    assert "appears more than once" in fixes
    originals = [info.original for info in result.report.columns]
    assert originals[0] == " Email\u00a0"
    assert originals[3] == "Name\u200b"


def test_report_describes_the_load():
    result = load(CSV_TEXT.encode(), name="export.csv")
    report = result.report
    assert (report.name, report.format, report.rows) == ("export.csv", "csv", 2)
    assert [(c.name, c.kind, c.role) for c in report.columns] == [
        ("Email", "widget", "email"), ("First name", "widget", "first_name"),
        ("Zip", "widget", "postal_code")]


def test_sources_path_bytes_and_file_objects(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    from_path = load(path)
    from_str = load(str(path))
    from_stream = load(io.BytesIO(CSV_TEXT.encode()), name="upload.csv")
    assert from_path.report.name == "export.csv"
    assert from_stream.report.name == "upload.csv"
    for result in (from_str, from_stream):
        assert frame_values(result.frame) == frame_values(from_path.frame)


# --- bad input -----------------------------------------------------------------------------

BAD_INPUT = [
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"\n\n  \n", "is empty"),
    ("header-only.csv", b"Email,Name\n", "no submissions"),
    ("binary.csv", bytes(range(256)) * 4, "not a text file"),
    ("extra-cell.csv", b"Email,Name\na@example.com,A\nb@example.com,B,oops\n",
     "line 3 has 3 cells but the header row has 2"),
    ("no-header.csv", b"anna@example.com,Anna\nbob@example.com,Bob\n", "no header row"),
    ("empty-header.csv", b",,\na,b,c\n", "no header row"),
    ("bad.json", b'[{"Email": "a@example.com"},\n {"Email": }]', "not valid JSON"),
    ("bad.jsonl", b'{"Email": "a@example.com"}\n{"Email": \n', "line 2 is not valid JSON"),
    ("list.jsonl", b'{"Email": "a@example.com"}\n[1, 2]\n', "line 2 is not an object"),
    ("numbers.json", b"[1, 2, 3]", "item 1 is not an object"),
    ("scalar.json", b'"hello"', "not a list of submissions"),
    ("empty.json", b"[]", "no fields"),
    ("fake.xlsx", b"this is not a workbook", "not an XLSX workbook"),
    ("zip.xlsx", None, "not a readable XLSX workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel .xls"),
]


def _zip_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "data", "problem"), BAD_INPUT)
def test_bad_input_names_file_and_problem(name, data, problem):
    data = _zip_without_workbook() if data is None else data
    with pytest.raises(SubmissionsError) as caught:
        load(data, name=name)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert problem in message
    assert caught.value.name == name


def test_wrong_encoding_override_is_a_clear_error():
    with pytest.raises(SubmissionsError, match="cannot be read as utf-8"):
        load("Name\nJürgen\n".encode("cp1252"), name="a.csv", encoding="utf-8")


def test_unknown_encoding_and_format_are_clear_errors():
    with pytest.raises(SubmissionsError, match="unknown encoding"):
        load(CSV_TEXT.encode(), name="a.csv", encoding="klingon")
    with pytest.raises(SubmissionsError, match="unknown format"):
        load(CSV_TEXT.encode(), name="a.csv", format="parquet")


def test_missing_file():
    with pytest.raises(SubmissionsError, match="cannot be opened"):
        load("/nonexistent/export.csv")


def test_row_cap(monkeypatch):
    monkeypatch.setattr(submissions, "MAX_LOAD_ROWS", 3)
    text = "Email\n" + "".join(f"u{i}@example.com\n" for i in range(10))
    with pytest.raises(SubmissionsError, match="too many to load at once; use the command line"):
        load(text.encode(), name="big.csv")


def test_cell_cap(monkeypatch):
    monkeypatch.setattr(submissions, "MAX_LOAD_CELLS", 10)
    text = "A,B,C\n" + "1,2,3\n" * 5
    with pytest.raises(SubmissionsError, match="cells"):
        load(text.encode(), name="wide.csv")


# --- JSON and JSON Lines -------------------------------------------------------------------

def test_json_array_values_become_text():
    records = [{"Email": "a@example.com", "Zip": "04101", "Age": 42, "Score": 1.5, "OK": True,
                "None": None, "Tags": ["a", 2.5], "utm": {"source": "x", "medium": "y"}},
               {"Email": "b@example.com", "Extra": ""}]
    text = json.dumps(records).replace("1.5", "1.50").replace("2.5", "2.50")
    result = load(text.encode(), name="export.json")
    assert result.report.format == "json"
    assert list(result.frame.columns) == [
        "Email", "Zip", "Age", "Score", "OK", "None", "Tags", "utm.source", "utm.medium", "Extra"]
    assert frame_values(result.frame)[0] == [
        "a@example.com", "04101", "42", "1.50", "true", None, '["a", 2.50]', "x", "y", None]


def test_json_wrapper_object():
    document = {"total": 1, "submissions": [{"Email": "a@example.com"}]}
    frame = load(json.dumps(document).encode(), name="export.json").frame
    assert frame_values(frame) == [["a@example.com"]]


WEBHOOK_LINES = [
    {"event": "form_submitted", "widget": "Spring sale", "submittedAt": "2026-03-01T10:00:00Z",
     "data": {"Email": "a@example.com", "First name": "Анна", "Consent": True}},
    {"event": "form_submitted", "widget": "Spring sale",
     "fields": [{"name": "Email", "value": "b@example.com"},
                {"name": "Phone", "value": "+49 151"}]},
    {"event": "form_submitted", "data": {"Email": "c@example.com", "event": "inner"}},
]


def test_jsonl_webhook_captures_are_flattened():
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in WEBHOOK_LINES) + "\n\n"
    result = load(text.encode(), name="hooks.jsonl")
    assert result.report.format == "jsonl"
    frame = result.frame
    assert list(frame.columns) == ["event", "widget", "submittedAt", "Email", "First name",
                                   "Consent", "Phone", "data.event"]
    assert frame["Email"].tolist() == ["a@example.com", "b@example.com", "c@example.com"]
    assert frame["First name"].iat[0] == "Анна"
    assert frame["Consent"].iat[0] == "true"
    assert frame["data.event"].iat[2] == "inner"


def test_jsonl_detected_without_extension():
    text = "\n".join(json.dumps(line) for line in WEBHOOK_LINES[:2])
    assert load(text.encode(), name="capture").report.format == "jsonl"


# --- XLSX ----------------------------------------------------------------------------------

def _workbook_bytes(rows, number_formats=None) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    for cell_name, number_format in (number_formats or {}).items():
        sheet[cell_name].number_format = number_format
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_cells_are_read_as_displayed_text():
    data = _workbook_bytes(
        [[" Email", "Zip", "Count", "Price", "Subscribed at", "Day", "Agreed", None],
         ["a@example.com", 4101, 3, 2.5, dt.datetime(2024, 3, 25, 14, 5), dt.datetime(2024, 3, 25),
          True, None],
         ["b@example.com", "04101", 3.0, None, None, None, False, "stray"]],
        number_formats={"B2": "00000", "F2": "yyyy-mm-dd"},
    )
    result = load(data, name="export.xlsx")
    assert result.report.format == "xlsx"
    assert list(result.frame.columns) == ["Email", "Zip", "Count", "Price", "Subscribed at",
                                          "Day", "Agreed", "Column 8"]
    assert frame_values(result.frame) == [
        ["a@example.com", "04101", "3", "2.5", "2024-03-25 14:05:00", "2024-03-25", "TRUE", None],
        ["b@example.com", "04101", "3", None, None, None, "FALSE", "stray"],
    ]


def test_xlsx_zip_bomb_rejected(monkeypatch):
    monkeypatch.setattr(submissions, "MAX_XLSX_UNCOMPRESSED_BYTES", 100_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "0" * 5_000_000)
    with pytest.raises(SubmissionsError, match="too large to load safely"):
        load(buffer.getvalue(), name="bomb.xlsx")


def test_xlsx_empty_sheet():
    with pytest.raises(SubmissionsError, match="empty first worksheet"):
        load(_workbook_bytes([]), name="empty.xlsx")


# --- streaming -----------------------------------------------------------------------------

@pytest.mark.parametrize("chunksize", [1, 7, 100, 10_000])
def test_iter_chunks_matches_load_on_the_sample(chunksize):
    whole = load(SAMPLE).frame
    chunks = list(iter_chunks(SAMPLE, chunksize=chunksize))
    assert all(len(chunk) <= chunksize for chunk in chunks)
    joined = pd.concat(chunks)
    pd.testing.assert_frame_equal(joined, whole)


@pytest.mark.parametrize(("suffix", "data"), [
    (".csv", b"\xef\xbb\xbfsep=;\nEmail;Email;\na@example.com;x;y\nb@example.com;;\n"),
    (".csv", "Email\tName\na@example.com\tJürgen\n".encode("utf-16")),
    (".csv", "Email,Name\na@example.com,Jürgen\n".encode("cp1252")),
    (".jsonl", "\n".join(json.dumps(line) for line in WEBHOOK_LINES).encode()),
    (".json", b'[{"Email": "a@example.com", "n": 1.50}, {"Email": "b@example.com"}]'),
    (".xlsx", None),
])
def test_iter_chunks_matches_load_for_each_format(tmp_path, suffix, data):
    if data is None:
        data = _workbook_bytes([["Email", "Zip"], ["a@example.com", "04101"], ["b@example.com", 7]])
    path = tmp_path / f"export{suffix}"
    path.write_bytes(data)
    whole = load(path).frame
    joined = pd.concat(list(iter_chunks(path, chunksize=1)))
    pd.testing.assert_frame_equal(joined, whole)


@pytest.mark.parametrize(("data", "problem"), [
    (b"Email,Name\na@example.com,A\nb@example.com,B,C\n", "line 3 has 3 cells"),
    (b"Email,Name\n", "no submissions"),
    (b"sep=,\nEmail,Name\na,b\nc,d,e\n", "line 4 has 3 cells"),
])
def test_iter_chunks_reports_bad_input(tmp_path, data, problem):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(SubmissionsError, match=problem):
        list(iter_chunks(path, chunksize=1))


def test_iter_chunks_wrong_encoding_late_in_file(tmp_path):
    path = tmp_path / "late.csv"
    body = "Email\n" + "a@example.com\n" * 200_000 + "J\u00fcrgen@example.com\n"
    path.write_bytes(body.encode("cp1252"))
    with pytest.raises(SubmissionsError, match="pass the right encoding"):
        list(iter_chunks(path, chunksize=50_000))
    assert sum(len(c) for c in iter_chunks(path, chunksize=50_000, encoding="cp1252")) == 200_001


def test_iter_chunks_missing_file(tmp_path):
    with pytest.raises(SubmissionsError, match="does not exist"):
        list(iter_chunks(tmp_path / "nope.csv"))


@pytest.mark.parametrize("encoding", ["no-such-codec", "utf-8\x00", "rot13"])
def test_iter_chunks_rejects_unknown_encoding(tmp_path, encoding):
    path = tmp_path / "a.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    with pytest.raises(SubmissionsError, match="unknown encoding"):
        list(iter_chunks(path, encoding=encoding))


@pytest.mark.parametrize("delimiter", ["ab", "\n", '"', "\x00", "x"])
def test_invalid_delimiter_rejected(tmp_path, delimiter):
    with pytest.raises(SubmissionsError, match="invalid delimiter"):
        load(CSV_TEXT.encode(), name="a.csv", delimiter=delimiter)
    path = tmp_path / "a.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    with pytest.raises(SubmissionsError, match="invalid delimiter"):
        list(iter_chunks(path, delimiter=delimiter))


def test_deeply_nested_json_is_a_clear_error():
    with pytest.raises(SubmissionsError, match="nested too deeply"):
        load(b"[" * 100_000 + b"]" * 100_000, name="deep.json")


def test_too_many_columns(monkeypatch):
    monkeypatch.setattr(submissions, "MAX_COLUMNS", 3)
    with pytest.raises(SubmissionsError, match="more than 3 columns"):
        load(b"a,b,c,d\n1,2,3,4\n", name="wide.csv")


CELL = st.text(alphabet=st.sampled_from(list('ab ,;"\n\r\t|xé')), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(CELL, min_size=2, max_size=2), min_size=1, max_size=6),
       line_end=st.sampled_from(["\n", "\r\n"]))
def test_load_and_iter_chunks_agree_on_random_csv(tmp_path, rows, line_end):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows([["Email", "Note"], *rows])
    data = buffer.getvalue().encode("utf-8")
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    try:
        whole = load(data, name="random.csv", delimiter=",").frame
    except SubmissionsError as error:
        with pytest.raises(SubmissionsError) as streamed:
            list(iter_chunks(path, chunksize=2, delimiter=","))
        assert streamed.value.problem == error.problem
        return
    joined = pd.concat(list(iter_chunks(path, chunksize=2, delimiter=",")))
    pd.testing.assert_frame_equal(joined, whole)


def test_iter_chunks_continues_with_pandas_after_arrow_stops(tmp_path):
    lines = [f"user{i}@example.com,Name {i},City {i}" for i in range(40_000)]
    lines[35_000] = "short@example.com"  # Arrow stops here; pandas pads the row
    path = tmp_path / "late-short-row.csv"
    path.write_text("Email,Name,City\n" + "\n".join(lines) + "\n", encoding="utf-8")
    chunks = list(iter_chunks(path, chunksize=10_000))
    joined = pd.concat(chunks)
    pd.testing.assert_frame_equal(joined, load(path).frame)
    assert joined.loc[35_000].tolist()[0] == "short@example.com"
    assert pd.isna(joined.loc[35_000, "City"])
