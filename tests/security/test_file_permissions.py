"""Files that contain identifiers, hashes or logs are readable by their owner only.

The journal keeps every row's email, the credentials file the password hashes, the logs the
run history, and the inputs folder the uploaded files. On a shared machine other users must
not read any of them, including SQLite's -wal and -shm files while a journal is open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits only"),
]


def open_to_others(*roots: Path) -> list[str]:
    """Paths under ``roots`` (roots included) that group or other users can access."""
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                found.append(f"{stat.filemode(mode)} {path}")
    return found


@pytest.fixture
def fresh_home(workbench_home, monkeypatch):
    """A workbench home that does not exist yet, so the code under test creates it."""
    home = workbench_home / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    old_umask = os.umask(0o022)  # The usual default, which makes new files readable by all.
    yield home
    os.umask(old_umask)


def test_journal_and_its_wal_files_are_private(fresh_home):
    from mapping.sync.journal import Journal

    with Journal() as journal:
        assert journal.path.parent == fresh_home
        wal_files = sorted(path.name for path in fresh_home.glob("journal.sqlite*"))
        assert open_to_others(fresh_home) == [], wal_files


def test_credentials_logs_and_inputs_are_private(fresh_home):
    from ui.credentials import credentials_path, write_credentials_file
    from ui.logs import configure_logging
    from ui.run_files import persist_input

    write_credentials_file(credentials_path(), {"analyst": "a password"}, rounds=4)
    log_path = configure_logging()
    stored = persist_input("export.csv", b"Email\nada@example.com\n")
    assert stored.is_relative_to(fresh_home)
    assert log_path.is_relative_to(fresh_home)
    assert open_to_others(fresh_home) == []
