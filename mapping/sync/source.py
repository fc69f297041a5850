"""The input side of a sync: describe the file, read it in chunks, map each chunk to items.

Reading is streamed (`submissions.iter_chunks`), so memory stays bounded by the chunk size and
the batches in flight, whatever the file's size. Each chunk goes through `transform.apply` with
the run's mapping and the project's user fields as read when the run started, so a resumed run
maps every row exactly as the first session did.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mapping.sync.journal import PENDING, SKIPPED, RowOutcome

logger = logging.getLogger(__name__)

HASH_BLOCK_BYTES = 1 << 20


class SyncConfigError(ValueError):
    """A problem with the input, the mapping, the settings or the target that the user must fix."""


@dataclass(frozen=True)
class InputFile:
    """The input file as the journal records it."""

    path: Path
    name: str
    size: int
    sha256: str


@dataclass
class PreparedChunk:
    """One chunk of input rows, mapped: rows to record and items ready to batch."""

    new_rows: list[RowOutcome] = field(default_factory=list)
    items: Any = field(default_factory=list)  # transform.Items of the rows to send
    rows: list[int] = field(default_factory=list)
    new_fields: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0


def describe_input(path: str | os.PathLike) -> InputFile:
    """Name, size and sha256 of the input file; SyncConfigError when it cannot be read."""
    path = Path(path).expanduser().resolve()
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(HASH_BLOCK_BYTES):
                digest.update(block)
        size = path.stat().st_size
    except OSError as error:
        raise SyncConfigError(
            f"cannot read the input file {path}: {error.strerror}; check the --input path"
        ) from None
    return InputFile(path=path, name=path.name, size=size, sha256=digest.hexdigest())


def iter_frames(path: Path, options: dict[str, Any], chunksize: int) -> Iterator[Any]:
    """Yield the input's data frames, `chunksize` rows at a time (SyncConfigError on a bad file)."""
    from mapping import submissions

    try:
        yield from submissions.iter_chunks(path, chunksize=chunksize, **_reader_options(options))
    except submissions.SubmissionsError as error:
        raise SyncConfigError(str(error)) from None
    except OSError as error:
        raise SyncConfigError(f"cannot read the input file {path}: {error.strerror}") from None


def plan_input(
    path: Path, options: dict[str, Any], config: Any, chunksize: int
) -> tuple[int, Any]:
    """First pass over the input: its row count and the duplicates plan over all chunks.

    Reading the whole file before sending also proves that it parses to the end.
    """
    from mapping import transform

    counter = _RowCounter()
    frames = counter.wrap(iter_frames(path, options, chunksize))
    plan = transform.plan_duplicates(frames, config)
    return counter.rows, plan


class _RowCounter:
    def __init__(self) -> None:
        self.rows = 0

    def wrap(self, frames: Iterator[Any]) -> Iterator[Any]:
        for frame in frames:
            self.rows += len(frame)
            yield frame


def prepare_chunks(
    path: Path,
    options: dict[str, Any],
    config: Any,
    project_fields: dict[str, str] | None,
    *,
    chunksize: int,
    known: dict[int, str],
    only_rows: set[int] | None = None,
    duplicates: Any = None,
) -> Iterator[PreparedChunk]:
    """Map the input chunk by chunk, leaving out rows that already have a final status.

    `known` maps row numbers to the status the journal holds; rows with a final status are not
    sent again, pending rows are. `only_rows` restricts the run to these rows (retry runs).
    `duplicates` is the plan from `plan_input`, so duplicates are resolved across chunks.
    Every chunk is mapped, even one whose rows are all done, so the duplicates policy covers
    the whole file on a resume too.
    """
    from mapping import transform

    context: dict[str, Any] = {"source_file": path.name}
    row_offset = 0
    for frame in iter_frames(path, options, chunksize):
        result = transform.apply(
            frame, config, project_fields, row_offset=row_offset, context=context,
            duplicates=duplicates,
        )
        row_offset += len(frame)
        yield _prepare(result, known, only_rows, len(frame))


def _prepare(
    result: Any,
    known: dict[int, str],
    only_rows: set[int] | None,
    rows_read: int,
) -> PreparedChunk:
    from mapping.transform import Items

    chunk = PreparedChunk(new_fields=dict(result.new_fields or {}), rows_read=rows_read)
    reasons = _skip_reasons(result.issues)
    sendable = result.sendable.to_numpy(dtype=bool)
    texts, identifiers, sizes = result.items.texts, result.items.identifiers, result.items.sizes
    kept: list[int] = []
    for position, row in enumerate(result.row_numbers):
        if only_rows is not None and row not in only_rows:
            continue
        status = known.get(row)
        if status is not None and status != PENDING:
            continue
        identifier = _text_or_none(identifiers[position])
        if texts[position] is None or not sendable[position]:
            reason, message = reasons.get(row, ("not_sendable", "the row cannot be sent"))
            chunk.new_rows.append(RowOutcome(row, SKIPPED, reason, message, identifier))
            continue
        if status is None:
            chunk.new_rows.append(RowOutcome(row, PENDING, identifier=identifier))
        kept.append(position)
        chunk.rows.append(row)
    chunk.items = Items(
        [texts[i] for i in kept], [identifiers[i] for i in kept], np.asarray(sizes)[kept]
    )
    return chunk


def _skip_reasons(issues: Any) -> dict[int, tuple[str, str]]:
    """Row -> (code, message) of its first blocking issue (else its first issue)."""
    if issues is None or len(issues) == 0:
        return {}
    ordered = issues.assign(_blocking=(issues["severity"] == "error"))
    ordered = ordered.sort_values(["row", "_blocking"], ascending=[True, False], kind="stable")
    first = ordered.drop_duplicates("row")
    return {
        int(row): (str(code), str(message))
        for row, code, message in zip(first["row"], first["code"], first["message"], strict=True)
    }


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _reader_options(options: dict[str, Any]) -> dict[str, Any]:
    return {name: options[name] for name in ("encoding", "delimiter", "format") if options.get(name)}
