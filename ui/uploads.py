"""Upload rules of the Submissions page: accepted types, the size limit, the bundled samples.

No streamlit import. The limit itself is Streamlit's ``server.maxUploadSize`` in megabytes, set
in ``.streamlit/config.toml``. The browser enforces it first, and ``check_upload_size`` checks it
again on the server with a message that points larger files to the command line.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
UPLOAD_TYPES = ["csv", "tsv", "txt", "json", "jsonl", "ndjson", "xlsx"]
SAMPLE_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xlsx"}
ENCODING_CHOICES = ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1", "cp1251", "iso-8859-2"]
DELIMITER_CHOICES = {",": "Comma (,)", ";": "Semicolon (;)", "\t": "Tab", "|": "Pipe (|)"}
CLI_HINT = ("Load larger exports with the command line, which streams the file: "
            "`python -m mapping sync --input FILE --mapping MAPPING.json`.")


class UploadTooLargeError(ValueError):
    """An uploaded file is over the configured limit."""


def check_upload_size(name: str, size_bytes: int, limit_mb: int) -> None:
    """Raise UploadTooLargeError when the file is larger than ``limit_mb`` megabytes."""
    if size_bytes > limit_mb * 1024 * 1024:
        raise UploadTooLargeError(
            f"The file {name} is {size_bytes / 1024 / 1024:,.1f} MB, but the browser upload "
            f"takes at most {limit_mb} MB. {CLI_HINT}"
        )


def bundled_samples() -> list[Path]:
    """Return the sample submission files shipped in sample_data/ (not the mapping files)."""
    if not SAMPLE_DIR.is_dir():
        return []
    files = [
        path for path in SAMPLE_DIR.iterdir()
        if path.suffix.lower() in SAMPLE_SUFFIXES and "mapping" not in path.name.lower()
    ]
    return sorted(files, key=lambda path: (path.suffix.lower() != ".csv", path.name))
