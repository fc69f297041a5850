"""Coverage-guided fuzzing of the submissions readers (CSV, JSON, JSON Lines, XLSX) with atheris.

The first input byte picks the file name (and so the format the reader expects); the rest is
the file. Any input must give a report or a SubmissionsError. Run from the repository root:

    pip install atheris
    python fuzz/fuzz_submissions.py -atheris_runs=50000 -max_len=20000 -rss_limit_mb=1024

``-rss_limit_mb`` makes atheris report an input that needs more memory than that as a crash,
which is how a zip bomb or a quadratic parse shows up here.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seeds import NAMES  # noqa: E402

with atheris.instrument_imports():
    from mapping import submissions


def test_one_input(data: bytes) -> None:
    """Read ``data`` under a file name chosen by its first byte."""
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    try:
        loaded = submissions.load(data[1:], name=name)
    except submissions.SubmissionsError as error:
        if not str(error).strip():
            raise AssertionError("SubmissionsError with an empty message") from error
        return
    if loaded.report.rows != len(loaded.frame):
        raise AssertionError(
            f"report says {loaded.report.rows} rows, frame has {len(loaded.frame)}"
        )


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
