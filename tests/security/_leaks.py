"""Finding an API key (or a piece of it) in files, text and exceptions.

A fake key is "leakcheck-" followed by 24 random hex digits. A trace is the whole key, the key
in UTF-16 or base64, or any 8 consecutive digits of its random part (so a key cut in half by a
truncated message still counts). The last four characters behind the mask are allowed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

KEY_PREFIX = "leakcheck-"
FRAGMENT_LENGTH = 8


def new_fake_key() -> str:
    """A recognisable fake API key: ``leakcheck-`` and 24 random hex digits."""
    return KEY_PREFIX + secrets.token_hex(12)


def fingerprint(key: str) -> str:
    """The fingerprint the workbench shows for ``key``: sha256 hex, first 8 digits."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def traces(key: str) -> list[bytes]:
    """The byte patterns whose presence means the key leaked."""
    random_part = key.removeprefix(KEY_PREFIX)
    patterns = {
        key.encode("utf-8"),
        key.encode("utf-16-le"),
        base64.b64encode(key.encode("utf-8")),
        base64.urlsafe_b64encode(key.encode("utf-8")),
    }
    for start in range(len(random_part) - FRAGMENT_LENGTH + 1):
        patterns.add(random_part[start : start + FRAGMENT_LENGTH].encode("utf-8"))
    return sorted(patterns)


def find_in_bytes(data: bytes, key: str) -> list[str]:
    """Describe each trace of ``key`` in ``data`` (empty when there is none)."""
    found = []
    lowered = data.lower()
    for pattern in traces(key):
        position = lowered.find(pattern.lower())
        if position >= 0:
            context = data[max(0, position - 40) : position + len(pattern) + 40]
            found.append(f"{pattern!r} at byte {position}: ...{context!r}...")
    return found


def find_in_text(text: str, key: str) -> list[str]:
    return find_in_bytes(text.encode("utf-8", "surrogatepass"), key)


def files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        if folder.is_file():
            yield folder
        elif folder.is_dir():
            yield from (path for path in sorted(folder.rglob("*")) if path.is_file())


def find_in_files(key: str, *folders: Path) -> dict[str, list[str]]:
    """Map each file under ``folders`` that contains a trace of ``key`` to what was found."""
    hits = {}
    for path in files_under(*folders):
        found = find_in_bytes(path.read_bytes(), key)
        if found:
            hits[str(path)] = found
    return hits


def exception_texts(error: BaseException) -> Iterable[str]:
    """Every text an exception shows: str, repr, args, attributes, the chain, the traceback."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield json.dumps(_public_attributes(current), default=repr)
        # Follow the chain the way a printed traceback does: an explicit cause, or the
        # context unless `raise ... from None` hid it.
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    yield "".join(traceback.format_exception(error))


def _public_attributes(error: BaseException) -> dict[str, Any]:
    return {name: value for name, value in vars(error).items() if not name.startswith("__")}


def find_in_exception(error: BaseException, key: str) -> list[str]:
    found = []
    for text in exception_texts(error):
        found += find_in_text(text, key)
    return found
