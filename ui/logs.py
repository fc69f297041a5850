"""Logging for the app process: the terminal and ``$WORKBENCH_HOME/logs/app.log``.

No streamlit import. The app's log lines name API keys by fingerprint and never contain a key
or a password. Failed logins are logged with the username as typed.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from ui.credentials import workbench_home

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_handler_path: Path | None = None
_file_handler: logging.Handler | None = None


def configure_logging() -> Path:
    """Send INFO and above of the ``mapping`` and ``ui`` loggers to the terminal and a log file.

    Safe to call on every script run; handlers are added once per log file.
    """
    global _handler_path, _file_handler
    path = workbench_home() / "logs" / "app.log"
    if path == _handler_path:
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in ("mapping", "ui", "__main__"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if _file_handler is not None:
            logger.removeHandler(_file_handler)
        logger.addHandler(handler)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                   for h in logger.handlers):
            terminal = logging.StreamHandler()
            terminal.setFormatter(logging.Formatter(LOG_FORMAT))
            logger.addHandler(terminal)
    if _file_handler is not None:
        _file_handler.close()
    _file_handler, _handler_path = handler, path
    os.chmod(path, 0o600)
    return path
