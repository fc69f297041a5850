"""Coverage-guided fuzzing of the mapping-file loader with atheris.

Any input must give a MappingConfig or a MappingFileError; any other exception is a crash that
atheris reports with the input that caused it. Run from the repository root:

    pip install atheris
    python fuzz/fuzz_mapping_file.py -atheris_runs=200000 -max_len=4096

The bounded property tests in tests/security/ run in CI; this harness is for longer runs.
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from mapping.config import MappingConfig, MappingFileError


def test_one_input(data: bytes) -> None:
    """Load ``data`` as a mapping file; only MappingFileError may escape the loader."""
    try:
        MappingConfig.from_json(data, source_name="fuzz.json")
    except MappingFileError as error:
        if not str(error).strip():
            raise AssertionError("MappingFileError with an empty message") from error


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
