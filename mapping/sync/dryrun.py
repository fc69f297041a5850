"""Dry run: everything a sync does up to sending, with no request that writes.

It reads and maps the whole input and batches the sendable rows exactly as a run would. The
report lists the rows that would be skipped and why, the fields a send would create, and the
requests it would make (endpoint, users, body bytes), with the time the pacing would need.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from mapping.sync.settings import SyncSettings, Target, endpoint_for
from mapping.sync.source import describe_input, plan_input, prepare_chunks

logger = logging.getLogger(__name__)

LISTED_REQUESTS = 20


@dataclass
class PlannedRequest:
    """One request the run would send."""

    endpoint: str
    users: int
    body_bytes: int
    first_row: int
    last_row: int


@dataclass
class DryRunReport:
    """Plan of a run for this input and mapping, with nothing sent."""

    input_name: str
    endpoint: str
    list_id: int | None
    total_rows: int = 0
    sendable_rows: int = 0
    skipped_rows: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    body_bytes: int = 0
    requests: list[PlannedRequest] = field(default_factory=list)
    new_fields: dict[str, str] = field(default_factory=dict)
    project_fields_read: bool = False
    rate: float = 0.0

    @property
    def estimated_seconds(self) -> float:
        """Time the pacing alone needs for the batches (response times and retries not counted)."""
        return self.batches / self.rate if self.rate else 0.0

    def to_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["requests"] = [vars(item) for item in self.requests]
        values["estimated_seconds"] = round(self.estimated_seconds, 1)
        return values


def dry_run(
    input_path: str | os.PathLike,
    config: Any,
    *,
    target: Target | None = None,
    settings: SyncSettings | None = None,
    input_options: dict[str, Any] | None = None,
) -> DryRunReport:
    """Map and batch the input without sending; reads the project's fields when a key is given."""
    from mapping import payload

    settings = (settings or SyncSettings()).check()
    source = describe_input(input_path)
    endpoint = endpoint_for(config.list_id)
    report = DryRunReport(
        input_name=source.name, endpoint=endpoint, list_id=config.list_id,
        rate=settings.rate_for(endpoint),
    )
    project_fields = _project_fields(target, settings)
    report.project_fields_read = project_fields is not None
    options = input_options or {}
    _, duplicates = plan_input(source.path, options, config, settings.chunksize)
    chunks = prepare_chunks(
        source.path, options, config, project_fields,
        chunksize=settings.chunksize, known={}, duplicates=duplicates,
    )
    for chunk in chunks:
        _count_chunk(report, chunk)
        if not chunk.rows:
            continue
        for batch in payload.batches(
            chunk.items, chunk.rows, list_id=config.list_id,
            create_new_fields=config.options.create_new_fields,
            max_users=settings.batch_size, max_bytes=settings.max_body_bytes,
        ):
            _count_batch(report, batch)
    return report


def _project_fields(target: Target | None, settings: SyncSettings) -> dict[str, str] | None:
    if target is None:
        return None
    with target.client(settings.timeout) as client:
        return client.get_fields()


def _count_chunk(report: DryRunReport, chunk: Any) -> None:
    report.total_rows += chunk.rows_read
    report.sendable_rows += len(chunk.rows)
    for outcome in chunk.new_rows:
        if outcome.status == "skipped":
            report.skipped_rows += 1
            report.skipped_reasons[outcome.reason] = report.skipped_reasons.get(outcome.reason, 0) + 1
    report.new_fields.update(chunk.new_fields)


def _count_batch(report: DryRunReport, batch: Any) -> None:
    report.batches += 1
    report.body_bytes += len(batch.body)
    if len(report.requests) < LISTED_REQUESTS:
        report.requests.append(
            PlannedRequest(
                endpoint=batch.endpoint, users=len(batch.rows), body_bytes=len(batch.body),
                first_row=min(batch.rows), last_row=max(batch.rows),
            )
        )
