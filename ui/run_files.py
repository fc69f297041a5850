"""Files the Sync page needs on disk: the uploaded input (the journal reads and re-reads it for
resume, retry and exports) and temporary exports.

No streamlit import. Inputs are kept under ``$WORKBENCH_HOME/inputs/`` with owner-only
permissions, named by the content's sha256 so the same upload is stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ui.credentials import workbench_home

_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def inputs_dir() -> Path:
    """Return the folder where uploaded inputs are kept for the run journal."""
    return workbench_home() / "inputs"


def persist_input(name: str, content: bytes) -> Path:
    """Write an uploaded file under the workbench home once and return its path."""
    digest = hashlib.sha256(content).hexdigest()[:16]
    safe_name = _UNSAFE_NAME_CHARACTERS.sub("_", Path(name).name)[-80:] or "input"
    path = inputs_dir() / f"{digest}-{safe_name}"
    if path.exists() and path.stat().st_size == len(content):
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)
    return path


def export_to_bytes(journal, run_id: str, statuses: Iterable[str]) -> bytes:
    """Return the CSV of a run's rows with these statuses, as ``mapping.sync.export_rows``
    writes it: the analyst's own columns, then each row's number, status, reason and message."""
    from mapping.sync import export_rows

    with tempfile.TemporaryDirectory(prefix="workbench-export-") as folder:
        destination = Path(folder) / "rows.csv"
        export_rows(journal, run_id, destination, statuses=list(statuses))
        return destination.read_bytes()

