"""The sandbox project's state in one SQLite file: lists, user fields, users, keys, settings.

Two connections, each guarded by its own lock, serve the server's event loop, its worker
threads (bulk writes run there) and the test thread that owns the `SandboxServer`, so every
method is thread-safe. Writes go through the writer connection, one transaction at a time;
reads go through the reader connection. In WAL mode a read returns the last committed state
and does not wait for a write in progress, so the event loop stays free to authenticate and
rate-limit new requests while a worker thread writes a batch. The file lives in the data
directory and survives a restart; `reset=True` deletes it first. API keys are never stored:
only a sha256 fingerprint of each key is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

logger = logging.getLogger(__name__)

DATABASE_NAME = "sandbox.sqlite"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SANDBOX_API_KEY = "sandbox-demo-key-0000000000000000"
KEY_TYPES = ("server_side", "read_only", "mobile", "javascript")
REGIONS = ("us", "eu")
ANY_REGION = ""
PROJECT_ID = 10001

# 2024-01-15 09:00:00 UTC: the seeded lists were made long before any test starts.
_SEED_CREATED_AT = 1_705_309_200_000
SEED_LISTS = (
    (101, "Newsletter", "Standard", "Monthly newsletter subscribers"),
    (102, "Spring sale pop-up", "Standard", "Sign-ups from the spring sale pop-up"),
    (103, "Product updates", "Standard", "People who asked for product news"),
    (104, "Engaged last 30 days", "Dynamic", "Users whose profile changed in the last 30 days"),
    (105, "Unsubscribed", "Suppression", "Users who must not be emailed"),
)
SEED_FIELDS = {
    "email": "string",
    "firstName": "string",
    "lastName": "string",
    "phoneNumber": "string",
    "signupDate": "date",
    "signupSource": "string",
    "city": "string",
    "country": "string",
    "countryCode": "string",
    "locale": "string",
    "consent": "boolean",
}
ENGAGED_WINDOW_MS = 30 * 24 * 3600 * 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT,
    list_type TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fields (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    pk INTEGER PRIMARY KEY, email TEXT UNIQUE, user_id TEXT UNIQUE, data TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    list_id INTEGER NOT NULL, user_pk INTEGER NOT NULL, subscribed_at INTEGER NOT NULL,
    PRIMARY KEY (list_id, user_pk));
CREATE TABLE IF NOT EXISTS forgotten (
    kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value));
CREATE TABLE IF NOT EXISTS api_keys (
    fingerprint TEXT PRIMARY KEY, key_type TEXT NOT NULL, region TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS request_log (
    endpoint TEXT NOT NULL, status INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (endpoint, status));
CREATE TABLE IF NOT EXISTS received (
    endpoint TEXT NOT NULL, identifier TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (endpoint, identifier));
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def key_fingerprint(key: str) -> str:
    """sha256 hex of a key: what the store keeps instead of the key itself."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """The type and region of one API key."""

    key_type: str
    region: str  # "us", "eu", or ANY_REGION for the demo key

    def matches_region(self, server_region: str) -> bool:
        return self.region in (ANY_REGION, server_region)


@dataclass(frozen=True)
class ListRow:
    id: int
    name: str
    description: str | None
    list_type: str
    created_at: int


class SandboxStore:
    """Thread-safe access to the sandbox's SQLite file."""

    def __init__(self, data_dir: str | Path, *, reset: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DATABASE_NAME
        if reset:
            self._delete_files()
        prepare_private_files(self.data_dir, self.path)
        self._lock = threading.RLock()  # the writer connection and its transactions
        self._read_lock = threading.RLock()
        self._conn = self._connect()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._reader = self._connect()
        self._seed_if_empty()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run one write transaction; roll back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        """Run one read on the reader connection: committed data only, no wait for writes."""
        with self._read_lock:
            return self._reader.execute(sql, params).fetchall()

    # --- seed and reset ------------------------------------------------------------------

    def _seed_if_empty(self) -> None:
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM settings WHERE name = 'seeded'").fetchone():
                return
            seed_project(conn)
        logger.info("seeded a new sandbox project in %s", self.path)

    def reset(self) -> None:
        """Drop every list, field, user, key and log and seed the project again."""
        with self.transaction() as conn:
            for table in ("lists", "fields", "users", "members", "forgotten", "api_keys",
                          "settings", "request_log", "received"):
                conn.execute(f"DELETE FROM {table}")
            seed_project(conn)

    # --- keys and settings ---------------------------------------------------------------

    def add_key(self, key: str, key_type: str = "server_side", region: str = "us") -> None:
        if key_type not in KEY_TYPES:
            raise ValueError(f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}")
        if region not in REGIONS + (ANY_REGION,):
            raise ValueError(f"unknown region {region!r}; use 'us' or 'eu'")
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_keys VALUES (?, ?, ?)",
                (key_fingerprint(key), key_type, region),
            )

    def key_info(self, key: str) -> KeyInfo | None:
        rows = self._query(
            "SELECT key_type, region FROM api_keys WHERE fingerprint = ?", (key_fingerprint(key),)
        )
        return KeyInfo(rows[0]["key_type"], rows[0]["region"]) if rows else None

    def setting(self, name: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM settings WHERE name = ?", (name,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, name: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (name, json.dumps(value)))

    @property
    def drop_unknown_fields(self) -> bool:
        return bool(self.setting("drop_unknown_fields", False))

    # --- lists ---------------------------------------------------------------------------

    def lists(self) -> list[ListRow]:
        rows = self._query("SELECT * FROM lists ORDER BY created_at DESC, id DESC")
        return [ListRow(**dict(row)) for row in rows]

    def get_list(self, list_id: int) -> ListRow | None:
        rows = self._query("SELECT * FROM lists WHERE id = ?", (list_id,))
        return ListRow(**dict(rows[0])) if rows else None

    def create_list(self, name: str, description: str | None) -> ListRow:
        with self.transaction() as conn:
            next_id = conn.execute("SELECT COALESCE(MAX(id), 100) + 1 FROM lists").fetchone()[0]
            created = now_ms()
            conn.execute(
                "INSERT INTO lists VALUES (?, ?, ?, 'Standard', ?)",
                (next_id, name, description, created),
            )
        return ListRow(next_id, name, description, "Standard", created)

    def list_size(self, list_id: int) -> int:
        row = self.get_list(list_id)
        if row is not None and row.list_type == "Dynamic":
            since = now_ms() - ENGAGED_WINDOW_MS
            return self._query("SELECT COUNT(*) FROM users WHERE updated_at >= ?", (since,))[0][0]
        return self._query("SELECT COUNT(*) FROM members WHERE list_id = ?", (list_id,))[0][0]

    # --- fields and users ----------------------------------------------------------------

    def fields(self) -> dict[str, str]:
        rows = self._query("SELECT name, type FROM fields ORDER BY name")
        return {row["name"]: row["type"] for row in rows}

    def user_count(self) -> int:
        return self._query("SELECT COUNT(*) FROM users")[0][0]

    def find_user(self, *, email: str | None = None, user_id: str | None = None) -> dict | None:
        """Return a user's profile as the inspection views show it, or None."""
        if email is not None:
            rows = self._query("SELECT * FROM users WHERE email = ?", (email.lower(),))
        else:
            rows = self._query("SELECT * FROM users WHERE user_id = ?", (user_id,))
        return self._profile(rows[0]) if rows else None

    def users(self, list_id: int | None = None, *, limit: int = 1000, offset: int = 0) -> dict:
        """Users (of one list, or all) in insertion order, with the total count."""
        if list_id is None:
            total = self.user_count()
            rows = self._query(
                "SELECT * FROM users ORDER BY pk LIMIT ? OFFSET ?", (limit, offset)
            )
        else:
            total = self._query("SELECT COUNT(*) FROM members WHERE list_id = ?", (list_id,))[0][0]
            rows = self._query(
                "SELECT u.* FROM users u JOIN members m ON m.user_pk = u.pk "
                "WHERE m.list_id = ? ORDER BY m.subscribed_at, u.pk LIMIT ? OFFSET ?",
                (list_id, limit, offset),
            )
        return {"total": total, "users": [self._profile(row) for row in rows]}

    def _profile(self, row: sqlite3.Row) -> dict:
        list_ids = [
            r[0] for r in self._query(
                "SELECT list_id FROM members WHERE user_pk = ? ORDER BY list_id", (row["pk"],)
            )
        ]
        profile = {"email": row["email"], "dataFields": json.loads(row["data"])}
        if row["user_id"] is not None:
            profile["userId"] = row["user_id"]
        profile["listIds"] = list_ids
        profile["createdAt"] = row["created_at"]
        profile["updatedAt"] = row["updated_at"]
        return profile

    def forget(self, *, email: str | None = None, user_id: str | None = None) -> bool:
        """GDPR-forget a user: delete the profile and refuse the identifiers from now on.

        Returns whether a stored profile was deleted (the identifier is blocked either way).
        """
        with self.transaction() as conn:
            if email is not None:
                email = email.lower()
                row = conn.execute("SELECT pk, user_id FROM users WHERE email = ?", (email,))
            else:
                row = conn.execute("SELECT pk, email FROM users WHERE user_id = ?", (user_id,))
            found = row.fetchone()
            blocked = [("email", email), ("userId", user_id)]
            if found is not None:
                conn.execute("DELETE FROM members WHERE user_pk = ?", (found[0],))
                conn.execute("DELETE FROM users WHERE pk = ?", (found[0],))
                other = found[1]
                blocked.append(("userId", other) if email is not None else ("email", other))
            for kind, value in blocked:
                if value is not None:
                    conn.execute("INSERT OR IGNORE INTO forgotten VALUES (?, ?)", (kind, value))
        return found is not None

    # --- request log ---------------------------------------------------------------------

    def log_request(self, endpoint: str, status: int, identifiers: Iterable[str] = ()) -> None:
        """Count one request by endpoint and status, and the identifiers it wrote, if given.

        Writes count their identifiers with `record_received` inside their own transaction,
        so the request log passes none.
        """
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO request_log VALUES (?, ?, 1) ON CONFLICT (endpoint, status) "
                "DO UPDATE SET count = count + 1",
                (endpoint, status),
            )
            record_received(conn, endpoint, identifiers)

    def request_counts(self) -> dict[str, dict]:
        """Return, per endpoint, the total requests and the count of each response status."""
        counts: dict[str, dict] = {}
        for row in self._query("SELECT * FROM request_log ORDER BY endpoint, status"):
            entry = counts.setdefault(row["endpoint"], {"requests": 0, "statuses": {}})
            entry["requests"] += row["count"]
            entry["statuses"][str(row["status"])] = row["count"]
        return counts

    def received_counts(self, endpoint: str | None = None) -> dict[str, dict[str, int]]:
        """Return, per endpoint, how many written requests carried each user identifier."""
        sql = "SELECT * FROM received"
        params: tuple = ()
        if endpoint is not None:
            sql += " WHERE endpoint = ?"
            params = (endpoint,)
        counts: dict[str, dict[str, int]] = {}
        for row in self._query(sql + " ORDER BY endpoint, identifier", params):
            counts.setdefault(row["endpoint"], {})[row["identifier"]] = row["count"]
        return counts


def prepare_private_files(data_dir: Path, path: Path) -> None:
    """Create the data directory (mode 0700) and an empty database file (mode 0600).

    The database contains every synced email, so only the owner may read it. SQLite gives its
    -wal and -shm files the mode of the database file. An existing database file is never
    opened here (closing another descriptor of it would drop SQLite's POSIX locks). Its mode
    is only narrowed to 0600 when others could read it. An existing directory keeps its mode.
    """
    data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except FileExistsError:
        narrow_permissions(path)
        return
    os.close(descriptor)


def narrow_permissions(path: Path) -> None:
    """Make an existing database file and its -wal and -shm files readable by the owner only."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(PRIVATE_FILE_MODE)
                logger.info("narrowed the permissions of %s to owner-only", candidate)
        except FileNotFoundError:
            continue


def record_received(conn: sqlite3.Connection, endpoint: str, identifiers: Iterable[str]) -> None:
    """Count each identifier once more as received on `endpoint`, in the open transaction."""
    conn.executemany(
        "INSERT INTO received VALUES (?, ?, 1) ON CONFLICT (endpoint, identifier) "
        "DO UPDATE SET count = count + 1",
        [(endpoint, identifier) for identifier in identifiers],
    )


def seed_project(conn: sqlite3.Connection) -> None:
    """Write the seed project: five lists, eleven fields, the demo key, default settings."""
    conn.executemany(
        "INSERT INTO lists VALUES (?, ?, ?, ?, ?)",
        [(id_, name, desc, kind, _SEED_CREATED_AT + id_) for id_, name, kind, desc in SEED_LISTS],
    )
    conn.executemany(
        "INSERT INTO fields VALUES (?, ?, ?)",
        [(name, kind, _SEED_CREATED_AT) for name, kind in SEED_FIELDS.items()],
    )
    conn.execute(
        "INSERT INTO api_keys VALUES (?, 'server_side', ?)",
        (key_fingerprint(SANDBOX_API_KEY), ANY_REGION),
    )
    for name, value in (("seeded", True), ("drop_unknown_fields", False),
                        ("project_id", PROJECT_ID)):
        conn.execute("INSERT INTO settings VALUES (?, ?)", (name, json.dumps(value)))
