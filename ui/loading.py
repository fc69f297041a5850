"""Reading a submissions file into the session record the pages share."""

from __future__ import annotations

import logging

from mapping import submissions as reader
from ui.records import LoadedFile
from ui.run_files import persist_input

logger = logging.getLogger(__name__)


def read_submissions(name: str, content: bytes, *, encoding: str | None = None,
                     delimiter: str | None = None) -> LoadedFile:
    """Read, profile and keep a copy of a file; raise the reader's SubmissionsError.

    The copy in ``$WORKBENCH_HOME/inputs/`` is what a sync reads, and what a reloaded browser
    session loads again.
    """
    loaded = reader.load(content, name=name, encoding=encoding, delimiter=delimiter)
    record = LoadedFile(name=name, content=content, submissions=loaded, encoding=encoding,
                        delimiter=delimiter)
    record.profile = reader.column_profile(loaded.frame)
    record.quality = reader.quality_summary(loaded.frame, loaded.report)
    record.path = persist_input(name, content)
    logger.info("loaded %s: %d rows, %d columns", name, len(loaded.frame),
                len(loaded.frame.columns))
    return record
