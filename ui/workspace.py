"""The analyst's workspace on disk, so that a browser reload (a new Streamlit session) can pick up
the last file and mapping.

No streamlit import. One small JSON file per user in ``$WORKBENCH_HOME/workspaces/`` (mode 0600),
named by a hash of the username. It contains the mapping, the path of the loaded file (kept in
``$WORKBENCH_HOME/inputs/``) with its reading options, whether the sandbox was connected, and
the id of the sync run the Sync page followed.
It never contains an API key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ui.credentials import workbench_home

logger = logging.getLogger(__name__)


def workspace_path(username: str) -> Path:
    """Return the workspace file of a user."""
    digest = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()[:16]
    return workbench_home() / "workspaces" / f"{digest}.json"


def save_workspace(username: str, workspace: dict[str, Any]) -> None:
    """Write the workspace atomically with owner-only permissions."""
    path = workspace_path(username)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(workspace, handle, ensure_ascii=False, sort_keys=True)
    os.replace(temporary, path)


def load_workspace(username: str) -> dict[str, Any] | None:
    """Return the saved workspace of a user, or None when there is none or it is unreadable."""
    path = workspace_path(username)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring the unreadable workspace file %s: %s", path, exc)
        return None
    return document if isinstance(document, dict) else None
