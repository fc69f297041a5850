"""The command line reports a bad input file with one "error:" line and exit code 2.

`preview` and `sync --dry-run` are run in-process through `mapping.cli.main`, the function
behind `python -m mapping`, so an exception escaping the command fails the test with its
traceback. Nothing here sends a request.
"""

from __future__ import annotations

import json

import pytest

from mapping.cli import main
from tests.security._bounds import memory_bound
from tests.security.test_fuzz_submissions import HOSTILE, VALID_FILES
from tests.security.test_mapping_file_errors import BAD_MAPPINGS, VALID

pytestmark = pytest.mark.timeout(120)

EXIT_USAGE = 2
INPUT_CASES = [
    "xlsx that is a csv",
    "xlsx that is random",
    "json nested 100k levels",
    "csv of NUL bytes",
    "csv with an unclosed quote",
    "utf-16 csv without BOM",
    "jsonl nested line",
    "json huge number",
]
MAPPING_CASES = ["unknown top-level key", "list_id is text", "target empty", "target has a comma"]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str) -> None:
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-2000:]


@pytest.fixture
def mapping_file(tmp_path):
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(VALID), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", INPUT_CASES)
@pytest.mark.parametrize("command", ["preview", "dry-run"])
def test_bad_input_file_is_one_error_line(case, command, tmp_path, mapping_file, capsys):
    raw, name = HOSTILE[case]
    source = tmp_path / name
    source.write_bytes(raw)
    argv = ["preview", "--input", str(source), "--mapping", str(mapping_file)]
    if command == "dry-run":
        argv = ["sync", "--dry-run", "--input", str(source), "--mapping", str(mapping_file)]
    with memory_bound():
        code, out, err = run(argv, capsys)
    if code == 0:
        return  # The reader could read the file, which is allowed.
    assert code == EXIT_USAGE, (code, err[-2000:])
    assert_one_error_line(err)


@pytest.mark.parametrize("case", MAPPING_CASES)
def test_bad_mapping_file_names_the_key(case, tmp_path, capsys):
    data, key = next((d, k) for name, d, k in BAD_MAPPINGS if name == case)
    mapping_path = tmp_path / "mapping.json"
    mapping_path.write_text(json.dumps(data), encoding="utf-8")
    source = tmp_path / "export.csv"
    source.write_bytes(VALID_FILES["export.csv"])
    for argv in (
        ["preview", "--input", str(source), "--mapping", str(mapping_path)],
        ["sync", "--dry-run", "--input", str(source), "--mapping", str(mapping_path)],
    ):
        code, out, err = run(argv, capsys)
        assert code == EXIT_USAGE, (argv[0], code, err)
        assert_one_error_line(err)
        assert f"{key}:" in err, err


def test_zip_bomb_by_the_command_line(tmp_path, mapping_file, capsys):
    from tests.security.test_fuzz_submissions import (
        MIB,
        ONE_CELL_HEAD,
        ONE_CELL_TAIL,
        repeated_member,
        workbook_with_sheet,
    )

    sheet = repeated_member("xl/worksheets/sheet1.xml", ONE_CELL_HEAD, b"A" * MIB, 1024,
                            ONE_CELL_TAIL, declared_size=20_000_000)
    source = tmp_path / "export.xlsx"
    source.write_bytes(workbook_with_sheet(sheet))
    with memory_bound():
        code, out, err = run(["preview", "--input", str(source), "--mapping", str(mapping_file)],
                             capsys)
    assert code == EXIT_USAGE, (code, err[-2000:])
    assert_one_error_line(err)
