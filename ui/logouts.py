"""When each user last logged out, so that a re-login cookie issued before that is refused.

No streamlit import. Log out requests that the browser delete the cookie, but a browser that never ran
that request (a closed tab, a copied cookie) would still hold a valid one. The app therefore also
keeps, per user, the time of the last logout in ``$WORKBENCH_HOME/logouts/`` (owner-only files
named by a hash of the username) and ignores cookies issued before it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from ui.credentials import workbench_home

logger = logging.getLogger(__name__)


def logout_marker_path(username: str) -> Path:
    """Return the file that contains the time of the user's last logout."""
    digest = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()[:16]
    return workbench_home() / "logouts" / digest


def record_logout(username: str, when: float | None = None) -> None:
    """Remember that the user logged out now (or at ``when``, seconds since the epoch)."""
    path = logout_marker_path(username)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(repr(time.time() if when is None else float(when)))
    os.replace(temporary, path)


def last_logout(username: str) -> float | None:
    """Return when the user last logged out, or None when never (or the file is unreadable)."""
    path = logout_marker_path(username)
    try:
        return float(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring the unreadable logout marker %s: %s", path.name, exc)
        return None


def issued_before_logout(username: str, issued_at: float) -> bool:
    """Return True when a cookie issued at ``issued_at`` predates the user's last logout."""
    logged_out = last_logout(username)
    return logged_out is not None and issued_at <= logged_out
