"""The sync engine: send mapped rows to Iterable in paced batches and journal every outcome.

A run reads the input in chunks, maps each chunk, cuts the items into batches (bounded by user
count and body bytes) and hands them to a few worker threads. The workers share one rate limiter,
so the run stays below the endpoint's per-project limit while several requests are in flight and
network latency does not cap throughput. Each batch's response is committed to the journal before
its worker takes the next batch.

What happens to a batch:
- a response: users named in a failedUpdates bucket are "rejected" with the bucket's reason,
  every other row is "sent";
- 429, 5xx, timeout or dropped connection: retried with backoff, honouring Retry-After. After
  the last attempt its rows are "failed" with the last error, and the run goes on;
- 400 RequestFieldsTypesMismatched: split in halves down to single users. The rows whose value
  does not fit the field's type are "rejected" (type_mismatch), and the rest is sent;
- 401, 403, an unknown list: the run stops at once with a message saying what to fix; rows
  with a response stay recorded and the rest can be sent later with a resume.

Two batches that share a user are sent one after the other, in input order, so a later row of
the same user is never overtaken by an earlier one.

NOTE: a batch whose request was on the wire when the process died has no recorded batch_result, so a
resume sends its rows again. The bulk endpoints are upserts of the same values, so this repeats
the write but changes nothing; rows with a recorded batch_result are never sent again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mapping.iterable.errors import (
    BatchRejectedError,
    FatalError,
    FieldTypesMismatchError,
    IterableError,
    NetworkError,
    RateLimitError,
    RequestRejectedError,
    RetryableError,
    ServerError,
    UnexpectedResponseError,
)
from mapping.sync.journal import (
    FINISHED,
    INTERRUPTED,
    PENDING,
    REJECTED,
    SKIPPED,
    STOPPED,
    Journal,
    Progress,
    RowOutcome,
    RunRecord,
)
from mapping.sync.outcomes import REASON_MESSAGES, bulk_outcomes, failed_outcomes
from mapping.sync.pacing import RateLimiter, RetryPolicy
from mapping.sync.settings import SyncSettings
from mapping.sync.source import SyncConfigError, plan_input, prepare_chunks

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# Bytes of a request body around the user objects: {"listId":N,"subscribers":[...]} or
# {"users":[...],"createNewFields":false}, rounded up.
ENVELOPE_BYTES = 64
ProgressCallback = Callable[[Progress], None]


class RetriesExhausted(Exception):
    """A retryable failure that lasted past the retry policy. `last` is the final error."""

    def __init__(self, last: RetryableError, attempts: int):
        super().__init__(str(last))
        self.last = last
        self.attempts = attempts


class _Stopped(Exception):
    """The run was stopped while a worker waited, so the batch stays pending."""


@dataclass
class _Tally:
    """Requests and attempts spent on one batch (bisect requests included)."""

    requests: int = 0
    attempts: int = 0


@dataclass
class _BatchResult:
    outcomes: list[RowOutcome]
    created_fields: list[str] = field(default_factory=list)
    filtered_out_fields: list[str] = field(default_factory=list)
    error: str | None = None
    rejected: bool = False


@dataclass
class SyncSummary:
    """The outcome of a run as `runs show` prints it and the app displays it."""

    run_id: str
    kind: str
    state: str
    endpoint: str
    input_name: str
    target: str
    list_id: int | None
    total_rows: int | None
    counts: dict[str, int]
    reasons: dict[str, dict[str, int]]
    created_fields: list[str]
    filtered_out_fields: list[str]
    batches: int
    requests: int
    unanswered_batches: int
    duration_seconds: float | None
    rows_per_second: float | None
    last_error: str | None
    parent_run_id: str | None = None

    @property
    def all_sent(self) -> bool:
        """Whether the run finished with every row accepted by Iterable."""
        total = self.total_rows or 0
        return self.state == FINISHED and self.counts.get("sent", 0) == total

    @property
    def not_yet_sent(self) -> int:
        """Rows with no outcome: journalled as pending, or never read before the run stopped."""
        if self.total_rows is None:
            return self.counts.get("pending", 0)
        answered = sum(self.counts.get(status, 0)
                       for status in ("sent", "rejected", "skipped", "failed"))
        return max(self.total_rows - answered, 0)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class OrderGate:
    """Keeps batches that share a user in input order across the worker threads.

    The producer registers each batch with its identifiers before queueing it; a worker waits
    until every earlier batch that shares a user is done. Batches are taken from the queue in
    order, so the batch waited for is always already with another worker: no deadlock.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._owner: dict[str, int] = {}
        self._keys: dict[int, list[str]] = {}
        self._waits_for: dict[int, set[int]] = {}
        self._done: set[int] = set()

    def register(self, sequence: int, keys: list[str]) -> None:
        with self._condition:
            earlier = {self._owner[key] for key in keys if key in self._owner}
            self._waits_for[sequence] = earlier - self._done
            for key in keys:
                self._owner[key] = sequence
            self._keys[sequence] = keys

    def wait(self, sequence: int, stop: threading.Event) -> bool:
        """Wait for the earlier batches this one depends on; False when the run stops."""
        with self._condition:
            while not self._waits_for.get(sequence, set()) <= self._done:
                if stop.is_set():
                    return False
                self._condition.wait(0.2)
            return not stop.is_set()

    def finish(self, sequence: int) -> None:
        with self._condition:
            self._done.add(sequence)
            for key in self._keys.pop(sequence, []):
                if self._owner.get(key) == sequence:
                    del self._owner[key]
            self._waits_for.pop(sequence, None)
            self._condition.notify_all()


class RunExecution:
    """One session of work on a run: new, resumed, or a retry of failed rows."""

    def __init__(
        self,
        run: RunRecord,
        journal: Journal,
        client: Any,
        *,
        on_progress: ProgressCallback | None = None,
        stop: threading.Event | None = None,
    ):
        from mapping.config import MappingConfig

        self.run = run
        self.run_id = run.run_id
        self.journal = journal
        self.client = client
        self.config = MappingConfig.from_json(run.mapping_json, source_name="the run's mapping")
        self.settings = SyncSettings.from_dict(run.settings)
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.limiter = RateLimiter(self.settings.rate_for(run.endpoint))
        self.policy = RetryPolicy(
            max_attempts=self.settings.max_attempts,
            base_seconds=self.settings.backoff_base,
            cap_seconds=self.settings.backoff_cap,
            max_retry_after=self.settings.max_retry_after,
        )
        self.gate = OrderGate()
        self.queue: queue.Queue = queue.Queue(maxsize=self.settings.workers * 2)
        self.fatal: Exception | None = None
        self.interrupted = False
        self._rejected_in_a_row = 0
        self._lock = threading.Lock()
        self._heartbeat_done = threading.Event()

    # ------------------------------------------------------------------ the run

    def execute(self) -> SyncSummary:
        """Send every row still pending; returns the summary with the run's final state."""
        workers = self._start_workers()
        heartbeat = threading.Thread(target=self._beat, name=f"heartbeat-{self.run_id}",
                                     daemon=True)
        heartbeat.start()
        problem: SyncConfigError | None = None
        try:
            try:
                self._produce()
            except SyncConfigError as error:
                problem = error
                self._stop_with(error)
            except Exception as error:
                logger.exception("run %s: reading or batching the input failed", self.run_id)
                self._stop_with(error)
            self._close_queue(workers)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop.set()
            logger.warning("run %s interrupted; waiting for the requests in flight", self.run_id)
            self._close_queue(workers)
        finally:
            self._heartbeat_done.set()
        summary = self._finish()
        if problem is not None:
            raise problem
        return summary

    def _produce(self) -> None:
        run = self.run
        total, duplicates = plan_input(
            _input_path(run), run.input_options, self.config, self.settings.chunksize
        )
        if run.total_rows is None:
            self.journal.set_total_rows(self.run_id, total)
        known = self.journal.row_statuses(self.run_id)
        only_rows = None
        if run.kind == "retry":
            only_rows = {row for row, status in known.items() if status == PENDING}
        chunks = prepare_chunks(
            _input_path(run),
            run.input_options,
            self.config,
            run.project_fields,
            chunksize=self.settings.chunksize,
            known=known,
            only_rows=only_rows,
            duplicates=duplicates,
        )
        sequence = 0
        for batch in self._full_batches(chunks):
            sequence += 1
            self.gate.register(sequence, [self._key(i) for i in batch.identifiers])
            if not self._enqueue((sequence, batch)):
                return

    def _full_batches(self, chunks) -> Any:
        """Batches over chunk boundaries: a chunk's last, partly filled batch waits for the
        next chunk's items, so batches stay full whatever the chunk size."""
        carried = _Carry()
        for chunk in chunks:
            if self.stop.is_set():
                return
            self.journal.add_rows(self.run_id, chunk.new_rows)
            self._skip_oversized(chunk)
            carried.add(chunk.items, chunk.rows)
            batches = list(self._batches(carried.items(), carried.rows))
            if batches:
                carried.keep_last(len(batches[-1].rows))
                yield from batches[:-1]
            self._report_progress()
        if not self.stop.is_set():
            yield from self._batches(carried.items(), carried.rows)

    def _skip_oversized(self, chunk: Any) -> None:
        """Record rows whose user object alone exceeds the body limit as skipped."""
        limit = self.settings.max_body_bytes - ENVELOPE_BYTES
        sizes = np.asarray(chunk.items.sizes) if chunk.rows else np.zeros(0)
        oversized = np.flatnonzero(sizes > limit)
        if len(oversized) == 0:
            return
        message = (
            f"the user object is larger than the {self.settings.max_body_bytes} bytes a request "
            "may have; shorten its values or leave long columns unmapped"
        )
        self.journal.record_outcomes(
            self.run_id,
            [RowOutcome(chunk.rows[i], SKIPPED, "value_too_long", message) for i in oversized],
        )
        keep = np.flatnonzero(sizes <= limit)
        items = chunk.items
        chunk.items = type(items)(
            [items.texts[i] for i in keep], [items.identifiers[i] for i in keep], sizes[keep]
        )
        chunk.rows = [chunk.rows[i] for i in keep]
        logger.warning("run %s: %d rows too large to send were skipped", self.run_id,
                       len(oversized))

    def _batches(self, items: Any, rows: list[int]):
        from mapping import payload

        if not rows:
            return iter(())
        return payload.batches(
            items,
            rows,
            list_id=self.config.list_id,
            create_new_fields=self.config.options.create_new_fields,
            max_users=self.settings.batch_size,
            max_bytes=self.settings.max_body_bytes,
        )

    def _enqueue(self, entry: tuple) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(entry, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _close_queue(self, workers: list[threading.Thread]) -> None:
        for _ in workers:
            self.queue.put(None)
        for worker in workers:
            worker.join()

    def _start_workers(self) -> list[threading.Thread]:
        workers = []
        for number in range(self.settings.workers):
            worker = threading.Thread(
                target=self._work, name=f"sync-{self.run_id}-{number + 1}", daemon=True
            )
            worker.start()
            workers.append(worker)
        return workers

    def _beat(self) -> None:
        while not self._heartbeat_done.wait(HEARTBEAT_SECONDS):
            try:
                self.journal.heartbeat(self.run_id)
            except Exception as error:  # pragma: no cover - a locked or removed journal file
                logger.warning("run %s: heartbeat not written: %s", self.run_id, error)

    # ------------------------------------------------------------------ workers

    def _work(self) -> None:
        while True:
            entry = self.queue.get()
            if entry is None:
                return
            sequence, batch = entry
            try:
                if not self.stop.is_set() and self.gate.wait(sequence, self.stop):
                    self._process(batch)
            except Exception as error:
                logger.exception("run %s: unexpected error in a sync worker", self.run_id)
                self._stop_with(error)
            finally:
                self.gate.finish(sequence)

    def _process(self, batch: Any) -> None:
        batch_id = self.journal.start_batch(self.run_id, batch.rows, batch.endpoint, len(batch.body))
        tally = _Tally()
        partial = _BatchResult([])
        try:
            batch_result = self._send_batch(batch, tally, partial)
        except _Stopped:
            self._close_batch(batch_id, partial.outcomes, "abandoned", tally, None, partial)
            return
        except FatalError as error:
            # Parts of a split batch that got a response before the stop keep their outcomes.
            self._close_batch(batch_id, partial.outcomes, "stopped", tally, str(error), partial)
            self._stop_with(error)
            return
        state = "rejected" if batch_result.rejected else "answered"
        self._close_batch(batch_id, batch_result.outcomes, state, tally, batch_result.error, batch_result)
        self._log_batch(batch_id, batch_result.outcomes, tally)
        self._count_rejections(batch_result)
        self._report_progress()

    def _close_batch(self, batch_id, outcomes, state, tally, error, batch_result=None) -> None:
        self.journal.record_batch(
            self.run_id,
            batch_id,
            outcomes,
            state=state,
            attempts=tally.attempts,
            requests=tally.requests,
            error=error,
            created_fields=batch_result.created_fields if batch_result else (),
            filtered_out_fields=batch_result.filtered_out_fields if batch_result else (),
        )
        if error:
            self.journal.set_last_error(self.run_id, error)

    def _send_batch(self, batch: Any, tally: _Tally, partial: _BatchResult) -> _BatchResult:
        try:
            result = self._call(lambda: self.client.post_raw(batch.endpoint, batch.body), tally)
        except BatchRejectedError as error:
            return self._bisect(batch, error, tally, partial)
        except (RetriesExhausted, RequestRejectedError, UnexpectedResponseError) as error:
            return _failed_result(batch.rows, error, tally)
        return self._result(result, batch.rows, batch.identifiers, tally)

    def _result(self, result: Any, rows, identifiers, tally: _Tally) -> _BatchResult:
        outcomes = bulk_outcomes(
            result, rows, identifiers, identifier_kind=self.config.identifier,
            attempts=tally.attempts,
        )
        return _BatchResult(
            outcomes, list(result.created_fields), list(result.filtered_out_fields)
        )

    def _call(self, send: Callable[[], Any], tally: _Tally) -> Any:
        """Send with pacing; retry retryable failures as the policy allows."""
        attempt = 0
        while True:
            attempt += 1
            if not self.limiter.acquire(self.stop):
                raise _Stopped()
            tally.requests += 1
            tally.attempts = max(tally.attempts, attempt)
            try:
                return send()
            except RetryableError as error:
                if not self.policy.should_retry(attempt):
                    raise RetriesExhausted(error, attempt) from error
                self._wait_before_retry(error, attempt)

    def _wait_before_retry(self, error: RetryableError, attempt: int) -> None:
        delay = self.policy.delay(attempt, error.retry_after)
        if isinstance(error, RateLimitError):
            self.limiter.widen_margin()
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            # The server named a wait, which applies to every worker. Without one, the pacing
            # keeps the others under the limit and only this request backs off.
            self.limiter.pause(delay)
        logger.info(
            "run %s: attempt %d failed (%s, HTTP %s); next attempt in %.2f s",
            self.run_id, attempt, type(error).__name__, error.status, delay,
        )
        if self.stop.wait(delay):
            raise _Stopped()

    # ------------------------------------------------------------------ type conflicts

    def _bisect(
        self, batch: Any, error: BatchRejectedError, tally: _Tally, batch_result: _BatchResult
    ) -> _BatchResult:
        """Split a batch Iterable refused for its data until the refused users are found."""
        template = json.loads(batch.body)
        key = "subscribers" if "subscribers" in template else "users"
        entries = list(zip(template[key], batch.rows, batch.identifiers, strict=True))
        logger.info(
            "run %s: %d users rejected for their data (%s); splitting the batch to find the rows",
            self.run_id, len(entries), type(error).__name__,
        )
        self._split(batch.endpoint, template, key, entries, error, tally, batch_result)
        return batch_result

    def _split(self, endpoint, template, key, entries, error, tally, batch_result) -> None:
        if len(entries) == 1:
            batch_result.outcomes.append(_data_rejection(entries[0][1], error, tally.attempts))
            return
        middle = len(entries) // 2
        for part in (entries[:middle], entries[middle:]):
            self._send_part(endpoint, template, key, part, tally, batch_result)

    def _send_part(self, endpoint, template, key, part, tally, batch_result) -> None:
        body = _body_with(template, key, [user for user, _, _ in part])
        rows = [row for _, row, _ in part]
        identifiers = [identifier for _, _, identifier in part]
        try:
            result = self._call(lambda: self.client.post_raw(endpoint, body), tally)
        except BatchRejectedError as error:
            self._split(endpoint, template, key, part, error, tally, batch_result)
            return
        except (RetriesExhausted, RequestRejectedError, UnexpectedResponseError) as error:
            batch_result.outcomes.extend(_failed_result(rows, error, tally).outcomes)
            return
        part_result = self._result(result, rows, identifiers, tally)
        batch_result.outcomes.extend(part_result.outcomes)
        batch_result.created_fields.extend(part_result.created_fields)
        batch_result.filtered_out_fields.extend(part_result.filtered_out_fields)

    # ------------------------------------------------------------------ stopping

    def _stop_with(self, error: Exception) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = error
        self.stop.set()
        logger.error("run %s stopped: %s", self.run_id, type(error).__name__)

    def _count_rejections(self, batch_result: _BatchResult) -> None:
        with self._lock:
            self._rejected_in_a_row = self._rejected_in_a_row + 1 if batch_result.rejected else 0
            limit = self.settings.rejected_batches_before_stop
            too_many = batch_result.rejected and self._rejected_in_a_row >= limit
        if too_many:
            self._stop_with(
                SyncConfigError(
                    f"Iterable rejected {limit} batches in a row ({batch_result.error}); the run "
                    "stopped so that the rest is not refused too. Fix the cause, then resume."
                )
            )

    def _finish(self) -> SyncSummary:
        counts = self.journal.counts(self.run_id)
        if self.fatal is not None:
            state, message = STOPPED, _stop_message(self.fatal, self.run_id)
        elif self.interrupted or self.stop.is_set() or counts.get(PENDING, 0):
            state, message = INTERRUPTED, None
        else:
            state, message = FINISHED, None
        summary = build_summary(self.journal, self.run_id, state=state, last_error=message)
        self.journal.finish_run(self.run_id, state, summary.to_dict(), last_error=message)
        summary.state = state
        self._report_progress()
        return summary

    # ------------------------------------------------------------------ helpers

    def _key(self, identifier: str) -> str:
        return identifier.lower() if self.config.identifier == "email" else identifier

    def _report_progress(self) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(self.journal.progress(self.run_id))
        except Exception:  # pragma: no cover - a display problem must not stop the run
            logger.exception("run %s: the progress callback failed", self.run_id)

    def _log_batch(self, batch_id: int, outcomes: list[RowOutcome], tally: _Tally) -> None:
        statuses: dict[str, int] = {}
        for outcome in outcomes:
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        logger.info(
            "run %s batch %d: %d rows %s, %d requests",
            self.run_id, batch_id, len(outcomes), statuses, tally.requests,
        )


# ---------------------------------------------------------------------- module helpers


class _Carry:
    """Items waiting for a batch: the JSON text, identifier and size of each, with its row."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.identifiers: list[str] = []
        self.sizes: list[int] = []
        self.rows: list[int] = []

    def add(self, items: Any, rows: list[int]) -> None:
        if not rows:
            return
        self.texts.extend(items.texts)
        self.identifiers.extend(items.identifiers)
        self.sizes.extend(int(size) for size in items.sizes)
        self.rows.extend(rows)

    def items(self) -> Any:
        from mapping.transform import Items

        return Items(self.texts, self.identifiers, np.asarray(self.sizes, dtype=np.int64))

    def keep_last(self, count: int) -> None:
        """Drop all but the last `count` items (the ones already batched are sent)."""
        start = len(self.rows) - count
        for name in ("texts", "identifiers", "sizes", "rows"):
            setattr(self, name, getattr(self, name)[start:])


def _input_path(run: RunRecord):
    from pathlib import Path

    return Path(run.input_path)


def _body_with(template: dict, key: str, users: list) -> bytes:
    body = dict(template)
    body[key] = users
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _data_rejection(row: int, error: BatchRejectedError, attempts: int) -> RowOutcome:
    if isinstance(error, FieldTypesMismatchError) and error.validation_errors:
        details = "; ".join(item.describe() for item in error.validation_errors)
        message = f"{REASON_MESSAGES['type_mismatch']}: {details}"
        return RowOutcome(row, REJECTED, "type_mismatch", message, attempts=attempts)
    if isinstance(error, FieldTypesMismatchError):
        return RowOutcome(row, REJECTED, "type_mismatch", REASON_MESSAGES["type_mismatch"],
                          attempts=attempts)
    return RowOutcome(row, REJECTED, "invalid_data", str(error), attempts=attempts)


def failure_reason(error: Exception) -> str:
    """Return the reason code of a failure that ended a batch."""
    if isinstance(error, RetriesExhausted):
        error = error.last
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, ServerError):
        return "server_error"
    if isinstance(error, NetworkError):
        return "network_error"
    if isinstance(error, UnexpectedResponseError):
        return "unexpected_response"
    return "request_rejected"


def _failed_result(rows, error: Exception, tally: _Tally) -> _BatchResult:
    reason = failure_reason(error)
    message = f"{REASON_MESSAGES[reason]}: {error}"
    rejected = isinstance(error, (RequestRejectedError, UnexpectedResponseError))
    return _BatchResult(
        failed_outcomes(rows, reason, message, attempts=tally.attempts),
        error=message,
        rejected=rejected,
    )


def _stop_message(error: Exception, run_id: str) -> str:
    if isinstance(error, (IterableError, SyncConfigError)):
        problem = str(error)
    else:
        problem = f"internal error ({type(error).__name__}: {error})"
    return (
        f"{problem} Rows already answered are recorded; after fixing this, send the rest with "
        f"`python -m mapping sync --resume {run_id}`."
    )


def build_summary(
    journal: Journal, run_id: str, *, state: str | None = None, last_error: str | None = None
) -> SyncSummary:
    """Build the run's summary from the journal (counts, reasons, fields, requests, speed)."""
    run = journal.get_run(run_id)
    counts = journal.counts(run_id)
    created, filtered = journal.batch_fields(run_id)
    requests = journal.request_counts(run_id)
    progress = journal.progress(run_id)
    end = run.ended_at or time.time()
    return SyncSummary(
        run_id=run_id,
        kind=run.kind,
        state=state or run.state,
        endpoint=run.endpoint,
        input_name=run.input_name,
        target=run.base_url,
        list_id=run.list_id,
        total_rows=run.total_rows,
        counts=counts,
        reasons=journal.reason_counts(run_id),
        created_fields=created,
        filtered_out_fields=filtered,
        batches=requests["batches"],
        requests=requests["requests"],
        unanswered_batches=requests["unanswered_batches"],
        duration_seconds=round(end - run.started_at, 3),
        rows_per_second=progress.rows_per_second,
        last_error=last_error if last_error is not None else run.last_error,
        parent_run_id=run.parent_run_id,
    )
