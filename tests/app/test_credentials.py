"""The credentials file: first start, owner-only permissions, and files that are rejected."""

from __future__ import annotations

import os
import stat

import bcrypt
import pytest
import yaml

from ui.credentials import (
    CredentialsError,
    credentials_path,
    ensure_credentials_file,
    load_credentials_file,
    write_credentials_file,
)
from ui.credentials import workbench_home as home_folder


@pytest.fixture
def path(workbench_home):
    return workbench_home / "first" / "credentials.yaml"


def test_home_and_path_follow_workbench_home(workbench_home):
    assert home_folder() == workbench_home
    assert credentials_path() == workbench_home / "credentials.yaml"


def test_default_home_is_under_local_share(monkeypatch):
    monkeypatch.delenv("WORKBENCH_HOME")
    assert str(home_folder()).endswith(".local/share/iterable-workbench")


def test_first_start_creates_admin_with_a_password_shown_once(path):
    messages = []
    assert ensure_credentials_file(path, messages.append) is True
    assert len(messages) == 1
    password = next(line.split(":", 1)[1].strip() for line in messages[0].splitlines()
                    if line.strip().startswith("password:"))
    text = path.read_text()
    assert password not in text
    document = load_credentials_file(path)
    stored = document["credentials"]["usernames"]["admin"]["password"]
    assert bcrypt.checkpw(password.encode(), stored.encode())
    assert ensure_credentials_file(path, messages.append) is False
    assert len(messages) == 1


def test_file_is_owner_only_and_the_cookie_key_is_long(path):
    ensure_credentials_file(path, lambda message: None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_credentials_file(path)["cookie"]["key"]
    assert len(key) >= 32


def test_each_install_gets_its_own_cookie_key(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    write_credentials_file(first, {"a": "pw"}, rounds=4)
    write_credentials_file(second, {"a": "pw"}, rounds=4)
    assert (load_credentials_file(first)["cookie"]["key"]
            != load_credentials_file(second)["cookie"]["key"])


def test_file_others_can_read_is_rejected(path):
    write_credentials_file(path, {"analyst": "pw"}, rounds=4)
    os.chmod(path, 0o644)
    with pytest.raises(CredentialsError, match="chmod 600"):
        load_credentials_file(path)


def test_existing_file_is_never_overwritten(path):
    write_credentials_file(path, {"analyst": "pw"}, rounds=4)
    with pytest.raises(FileExistsError):
        write_credentials_file(path, {"other": "pw"}, rounds=4)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("- just a list\n", "not a mapping"),
        ({"cookie": {"key": "short"}, "credentials": {"usernames": {"a": {"password": "$2b$x"}}}},
         "shorter than 32"),
        ({"cookie": {"key": "k" * 40}, "credentials": {"usernames": {}}}, "lists no users"),
        ({"cookie": {"key": "k" * 40}, "credentials": {"usernames": {"a": {"password": "plain"}}}},
         "plain-text passwords"),
        ("cookie: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_files_are_rejected_with_a_message(path, document, expected):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    with pytest.raises(CredentialsError, match=expected):
        load_credentials_file(path)
