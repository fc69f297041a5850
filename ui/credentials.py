"""The workbench's login credentials file: where it lives, creating it, and refusing unsafe ones.

Pure logic without streamlit, so it can be unit-tested. The file is YAML in the layout
streamlit-authenticator reads::

    cookie: {name: workbench_auth, key: <random, 43 characters>, expiry_days: 7}
    credentials:
      usernames:
        admin: {name: Administrator, email: "", password: <bcrypt hash>}

It lives at ``$WORKBENCH_HOME/credentials.yaml`` (default ``~/.local/share/iterable-workbench``),
outside the repository. It is created with mode 0600 and rejected when group or other users have
any access to it. Passwords are stored only as bcrypt hashes.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import bcrypt
import yaml

logger = logging.getLogger(__name__)

DEFAULT_HOME = Path("~/.local/share/iterable-workbench")
CREDENTIALS_FILE_NAME = "credentials.yaml"
FIRST_USERNAME = "admin"
COOKIE_NAME = "workbench_auth"
COOKIE_EXPIRY_DAYS = 7
MIN_COOKIE_KEY_LENGTH = 32
BCRYPT_ROUNDS = 12


class CredentialsError(Exception):
    """The credentials file cannot be used; the message names the file and the fix."""


def workbench_home() -> Path:
    """Return the folder of credentials, run journal and logs (``WORKBENCH_HOME`` or default)."""
    configured = os.environ.get("WORKBENCH_HOME")
    return Path(configured).expanduser() if configured else DEFAULT_HOME.expanduser()


def credentials_path() -> Path:
    """Return the path of the credentials file in the workbench home."""
    return workbench_home() / CREDENTIALS_FILE_NAME


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """Return the bcrypt hash of a password, as text."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def new_cookie_key() -> str:
    """Return a random key for signing the login cookie (32 random bytes, URL-safe text)."""
    return secrets.token_urlsafe(32)


def write_credentials_file(
    path: Path,
    users: Mapping[str, str],
    *,
    cookie_key: str | None = None,
    rounds: int = BCRYPT_ROUNDS,
) -> None:
    """Create a credentials file for ``users`` (username -> plain password), owner-only.

    Raises FileExistsError when the file is already there, so a running app never has its
    users replaced underneath it. Tests use a low ``rounds`` to keep hashing fast.
    """
    document = {
        "cookie": {
            "name": COOKIE_NAME,
            "key": cookie_key or new_cookie_key(),
            "expiry_days": COOKIE_EXPIRY_DAYS,
        },
        "credentials": {
            "usernames": {
                username: {
                    "name": username,
                    "email": "",
                    "password": hash_password(password, rounds=rounds),
                }
                for username, password in users.items()
            }
        },
    }
    _write_owner_only(path, yaml.safe_dump(document, sort_keys=True))


def ensure_credentials_file(path: Path, announce: Callable[[str], None]) -> bool:
    """Create the file with user ``admin`` and a random password unless it exists.

    ``announce`` receives the one-time message with the password (the app prints it on the
    terminal running ``streamlit run``); the password is not kept anywhere else. Returns True
    when this call created the file.
    """
    if path.exists():
        return False
    password = secrets.token_urlsafe(12)
    try:
        write_credentials_file(path, {FIRST_USERNAME: password})
    except FileExistsError:
        return False  # another session created it a moment ago
    logger.info("created credentials file %s with user %r", path, FIRST_USERNAME)
    announce(_first_start_message(path, password))
    return True


def load_credentials_file(path: Path) -> dict[str, Any]:
    """Read and check the credentials file; raise CredentialsError naming the problem."""
    _check_permissions(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialsError(
            f"Cannot read the credentials file {path}: {exc.strerror}."
        ) from None
    except yaml.YAMLError:
        raise CredentialsError(
            f"The credentials file {path} is not valid YAML. Fix it, or delete it and restart "
            "the app to create a new admin user."
        ) from None
    _check_structure(path, document)
    return document


def _first_start_message(path: Path, password: str) -> str:
    line = "=" * 72
    return (
        f"\n{line}\n"
        "Iterable mapping workbench: first start, a login was created.\n"
        f"    username: {FIRST_USERNAME}\n"
        f"    password: {password}\n"
        "This password is shown only this once and is stored only as a bcrypt hash in\n"
        f"    {path}\n"
        "To set a new one, delete that file and restart the app.\n"
        f"{line}\n"
    )


def _write_owner_only(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _check_permissions(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CredentialsError(
            f"The credentials file {path} does not exist. Restart the app to create it."
        ) from None
    # NOTE: only POSIX permission bits are checked; on Windows the file's ACL is not inspected.
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"The credentials file {path} can be read by other users (mode "
            f"{stat.filemode(mode)}). Run `chmod 600 {path}` and restart the app."
        )


def _check_structure(path: Path, document: Any) -> None:
    fix = "Fix the file, or delete it and restart the app to create a new admin user."
    if not isinstance(document, dict):
        raise CredentialsError(f"The credentials file {path} is empty or not a mapping. {fix}")
    cookie = document.get("cookie")
    if not isinstance(cookie, dict) or not isinstance(cookie.get("key"), str):
        raise CredentialsError(f"The credentials file {path} has no cookie key. {fix}")
    if len(cookie["key"]) < MIN_COOKIE_KEY_LENGTH:
        raise CredentialsError(
            f"The cookie key in {path} is shorter than {MIN_COOKIE_KEY_LENGTH} characters; "
            f"set cookie.key to a random value of at least {MIN_COOKIE_KEY_LENGTH} characters."
        )
    users = (document.get("credentials") or {}).get("usernames")
    if not isinstance(users, dict) or not users:
        raise CredentialsError(f"The credentials file {path} lists no users. {fix}")
    for username, entry in users.items():
        password = entry.get("password") if isinstance(entry, dict) else None
        if not isinstance(password, str) or not password.startswith("$2"):
            raise CredentialsError(
                f"User {username!r} in {path} has no bcrypt password hash; plain-text passwords "
                "are not accepted. Delete the file and restart the app to create a new one."
            )
