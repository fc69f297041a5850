"""The `sync` and `runs` subcommands of `python -m mapping`.

    python -m mapping sync --input FILE --mapping MAPPING.json [--base-url URL | --region us|eu]
    python -m mapping sync --resume RUN_ID          continue an interrupted run
    python -m mapping sync --retry-failed RUN_ID    send the retryable failed rows again
    python -m mapping runs                          list runs
    python -m mapping runs show RUN_ID [--export-failed FILE]

The API key comes from the ITERABLE_API_KEY environment variable only (a command-line argument
would land in the shell history) and is never printed. Exit codes: 0 every row accepted, 3 some
rows skipped, rejected or failed, 2 a usage or configuration error (the message names it),
130 interrupted (the message shows the resume command).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_ROWS_NOT_ACCEPTED = 3
EXIT_INTERRUPTED = 130
KEY_VARIABLE = "ITERABLE_API_KEY"


class CliProblem(Exception):
    """A usage or configuration problem: printed as one line, exit code 2."""


def add_cli_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `sync` and `runs` on the `python -m mapping` parser (handler: args -> exit code)."""
    _add_sync_parser(subparsers)
    _add_runs_parser(subparsers)


# ---------------------------------------------------------------------- parsers


def _journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal", type=Path, default=None,
        help="run journal file (default: $WORKBENCH_HOME/journal.sqlite)",
    )


def _add_sync_parser(subparsers: argparse._SubParsersAction) -> None:
    sync = subparsers.add_parser(
        "sync",
        help="send the mapped rows to Iterable (key from ITERABLE_API_KEY)",
        description=(
            "Send the rows of a submissions file to Iterable with a mapping file, in paced "
            "batches, recording every row's outcome in the run journal. The API key is read "
            f"from the {KEY_VARIABLE} environment variable. Exit codes: 0 every row accepted, "
            "3 some rows skipped, rejected or failed, 2 a usage or configuration error, "
            "130 interrupted."
        ),
    )
    sync.add_argument("--input", type=Path, help="submissions file (CSV, JSON, JSON Lines, XLSX)")
    sync.add_argument("--mapping", type=Path, help="mapping JSON file")

    where = sync.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="API host, e.g. the sandbox's http://127.0.0.1:8765")
    where.add_argument("--region", choices=("us", "eu"), default=None,
                       help="Iterable data center (default us)")

    sync.add_argument("--batch-size", type=int, default=None, help="users per request (1000)")
    sync.add_argument("--rate", type=float, default=None,
                      help="requests per second for all workers together (default 4.9)")
    sync.add_argument("--workers", type=int, default=None, help="requests in flight (4)")
    sync.add_argument("--max-attempts", type=int, default=None,
                      help="attempts per request before its rows count as failed (6)")
    sync.add_argument("--encoding", default=None, help="override the sniffed text encoding")
    sync.add_argument("--delimiter", default=None, help="override the sniffed CSV delimiter")

    action = sync.add_mutually_exclusive_group()
    action.add_argument("--dry-run", action="store_true",
                        help="map and batch everything, send nothing, print the plan")
    action.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run")
    action.add_argument("--retry-failed", metavar="RUN_ID",
                        help="send again the rows of a run that failed with a retryable reason")

    sync.add_argument("--no-progress", action="store_true", help="no progress bar")
    _journal_option(sync)
    sync.set_defaults(handler=run_sync_command)


def _add_runs_parser(subparsers: argparse._SubParsersAction) -> None:
    runs = subparsers.add_parser(
        "runs", help="list sync runs, show one, export its failed rows",
        description="List the runs in the journal, or show one run's summary.",
    )
    _journal_option(runs)
    runs.add_argument("--limit", type=int, default=30, help="how many recent runs to list (30)")
    actions = runs.add_subparsers(dest="runs_command", metavar="show")
    show = actions.add_parser("show", help="print a run's summary")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--export-failed", type=Path, metavar="FILE",
                      help="write the failed, rejected and skipped rows with reasons as CSV")
    show.add_argument("--input", type=Path, default=None,
                      help="the run's input file, if it moved (for --export-failed)")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    _journal_option(show)
    runs.set_defaults(handler=run_runs_command)


# ---------------------------------------------------------------------- sync


def run_sync_command(args: argparse.Namespace, *, out: TextIO | None = None,
                     err: TextIO | None = None) -> int:
    """Handle `python -m mapping sync`; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with _interrupt_on_termination():
            return _sync(args, out, err)
    except CliProblem as problem:
        print(f"error: {problem}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted before any row was sent", file=err)
        return EXIT_INTERRUPTED


def _sync(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mapping.iterable.errors import IterableError
    from mapping.sync.source import SyncConfigError
    from mapping.sync.journal import JournalError

    _check_sync_arguments(args)
    try:
        if args.dry_run:
            return _dry_run(args, out)
        return _send(args, out, err)
    except (SyncConfigError, JournalError) as error:
        raise CliProblem(str(error)) from None
    except IterableError as error:
        raise CliProblem(str(error)) from None


def _check_sync_arguments(args: argparse.Namespace) -> None:
    continuing = args.resume or args.retry_failed
    if not continuing and (args.input is None or args.mapping is None):
        raise CliProblem(
            "--input FILE and --mapping MAPPING.json are required (unless --resume or "
            "--retry-failed names a run)"
        )
    if args.retry_failed and args.mapping is not None:
        raise CliProblem("--retry-failed uses the run's own mapping; leave out --mapping")
    for name in ("batch_size", "workers", "max_attempts"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CliProblem(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.rate is not None and args.rate <= 0:
        raise CliProblem(f"--rate must be above 0 requests per second, got {args.rate}")


def _api_key(args: argparse.Namespace, *, required: bool = True) -> str | None:
    key = os.environ.get(KEY_VARIABLE, "").strip()
    if key or not required:
        return key or None
    message = (
        f"the environment variable {KEY_VARIABLE} is not set: export the project's server-side "
        "API key in it (it is never taken on the command line)"
    )
    if args.base_url and _is_loopback(args.base_url):
        message += (
            f"; for the local sandbox at {args.base_url}, export the key that "
            "`python -m mapping sandbox` printed when it started"
        )
    raise CliProblem(message)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load_mapping(path: Path | None):
    from mapping.config import MappingConfig, MappingFileError

    if path is None:
        return None
    try:
        return MappingConfig.load(path)
    except MappingFileError as error:
        raise CliProblem(str(error)) from None


def _settings(args: argparse.Namespace):
    from mapping.sync.settings import SyncSettings

    return SyncSettings().merged(_overrides(args))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "batch_size": args.batch_size,
        "rate": args.rate,
        "workers": args.workers,
        "max_attempts": args.max_attempts,
    }


def _input_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"encoding": args.encoding, "delimiter": args.delimiter}


def _send(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mapping.sync import runs
    from mapping.sync.journal import Journal

    api_key = _api_key(args)
    bar = ProgressBar(err) if (err.isatty() and not args.no_progress) else None
    with Journal(args.journal) as journal:
        if args.resume:
            target = runs.target_for_run(journal, args.resume, api_key, args.base_url,
                                      args.region or "us", None)
            run_id = runs.prepare_resume(
                args.resume, target, journal=journal, input_path=args.input,
                config=_load_mapping(args.mapping), setting_overrides=_overrides(args),
            )
        elif args.retry_failed:
            target = runs.target_for_run(journal, args.retry_failed, api_key, args.base_url,
                                      args.region or "us", None)
            run_id = runs.prepare_retry(
                args.retry_failed, target, journal=journal, input_path=args.input,
                setting_overrides=_overrides(args),
            )
        else:
            target = runs.Target(api_key, base_url=args.base_url, region=args.region or "us")
            run_id = runs.create_run(
                args.input, _load_mapping(args.mapping), target, journal=journal,
                settings=_settings(args), input_options=_input_options(args),
            )
        print(f"run {run_id} started (journal {journal.path})", file=err)
        summary = runs.execute_run(
            run_id, target, journal=journal, on_progress=bar.update if bar else None
        )
    if bar:
        bar.close()
    print_summary(summary, out)
    return exit_code(summary, err)


def exit_code(summary: Any, err: TextIO) -> int:
    """0 every row accepted, 3 rows not accepted, 2 stopped by a problem, 130 interrupted."""
    if summary.state == "interrupted":
        print(
            f"run {summary.run_id} interrupted; continue it with: "
            f"python -m mapping sync --resume {summary.run_id}",
            file=err,
        )
        return EXIT_INTERRUPTED
    if summary.state == "failed":
        print(f"error: {summary.last_error}", file=err)
        return EXIT_USAGE
    return EXIT_OK if summary.all_sent else EXIT_ROWS_NOT_ACCEPTED


def _dry_run(args: argparse.Namespace, out: TextIO) -> int:
    from mapping.sync.dryrun import dry_run
    from mapping.sync.settings import Target

    if args.resume or args.retry_failed:
        raise CliProblem("--dry-run plans a new run; it cannot be combined with a run id")
    api_key = _api_key(args, required=False)
    target = None
    if api_key:
        target = Target(api_key, base_url=args.base_url, region=args.region or "us")
    report = dry_run(
        args.input, _load_mapping(args.mapping), target=target, settings=_settings(args),
        input_options=_input_options(args),
    )
    print_dry_run(report, out)
    return EXIT_OK


# ---------------------------------------------------------------------- runs


def run_runs_command(args: argparse.Namespace, *, out: TextIO | None = None,
                     err: TextIO | None = None) -> int:
    """Handle `python -m mapping runs [show RUN_ID]`; returns the exit code."""
    from mapping.sync.journal import Journal, JournalError
    from mapping.sync.source import SyncConfigError

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        with Journal(args.journal) as journal:
            if getattr(args, "runs_command", None) == "show":
                return _show_run(journal, args, out, err)
            _list_runs(journal, args.limit, out)
            return EXIT_OK
    except (JournalError, SyncConfigError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE


def _list_runs(journal: Any, limit: int, out: TextIO) -> None:
    runs = journal.list_runs(limit)
    if not runs:
        print(f"no runs in {journal.path}", file=out)
        return
    print(f"{'RUN ID':<23} {'STARTED (UTC)':<19} {'STATE':<11} {'ROWS':>8} {'SENT':>8} "
          f"{'NOT SENT':>8}  INPUT -> TARGET", file=out)
    for run in runs:
        counts = journal.counts(run.run_id)
        not_sent = counts["rejected"] + counts["skipped"] + counts["failed"]
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(run.started_at))
        target = f"list {run.list_id}" if run.list_id else run.endpoint
        print(
            f"{run.run_id:<23} {started:<19} {run.state:<11} {run.total_rows or 0:>8} "
            f"{counts['sent']:>8} {not_sent:>8}  {run.input_name} -> {target} at {run.base_url}",
            file=out,
        )


def _show_run(journal: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mapping.sync.engine import build_summary
    from mapping.sync.export import export_rows

    summary = build_summary(journal, args.run_id)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, sort_keys=True), file=out)
    else:
        print_summary(summary, out)
    if args.export_failed:
        count = export_rows(journal, args.run_id, args.export_failed, input_path=args.input)
        print(f"{count} rows written to {args.export_failed}", file=err)
    return EXIT_OK


# ---------------------------------------------------------------------- output


def print_summary(summary: Any, out: TextIO) -> None:
    """Print the run summary as a few readable lines."""
    counts = summary.counts
    total = summary.total_rows or 0
    print(
        f"run {summary.run_id} {summary.state}: {total:,} rows of {summary.input_name} -> "
        f"{summary.endpoint}" + (f" (list {summary.list_id})" if summary.list_id else "")
        + f" at {summary.target}",
        file=out,
    )
    print(
        f"  sent {counts.get('sent', 0):,}, rejected {counts.get('rejected', 0):,}, skipped "
        f"{counts.get('skipped', 0):,}, failed {counts.get('failed', 0):,}, not yet sent "
        f"{summary.not_yet_sent:,}",
        file=out,
    )

    for status in ("rejected", "skipped", "failed"):
        reasons = summary.reasons.get(status)
        if reasons:
            listed = ", ".join(f"{reason} {count:,}" for reason, count in sorted(reasons.items()))
            print(f"  {status}: {listed}", file=out)

    if summary.created_fields:
        print(f"  fields created: {', '.join(summary.created_fields)}", file=out)
    if summary.filtered_out_fields:
        print(f"  fields dropped by Iterable: {', '.join(summary.filtered_out_fields)}", file=out)

    speed = f", {summary.rows_per_second:,.0f} rows/s" if summary.rows_per_second else ""
    print(
        f"  {summary.batches:,} batches, {summary.requests:,} requests, "
        f"{summary.duration_seconds or 0:,.1f} s{speed}",
        file=out,
    )
    if summary.parent_run_id:
        print(f"  retry of run {summary.parent_run_id}", file=out)
    if summary.last_error:
        print(f"  last error: {summary.last_error}", file=out)


def print_dry_run(report: Any, out: TextIO) -> None:
    """Print the dry run's plan: rows, skips, new fields and requests."""
    print(f"dry run of {report.input_name}: nothing was sent", file=out)
    print(
        f"  {report.total_rows:,} rows: {report.sendable_rows:,} would be sent, "
        f"{report.skipped_rows:,} skipped", file=out,
    )
    for reason, count in sorted(report.skipped_reasons.items()):
        print(f"    skipped {reason}: {count:,}", file=out)
    if report.new_fields:
        listed = ", ".join(f"{name} ({kind})" for name, kind in sorted(report.new_fields.items()))
        print(f"  {len(report.new_fields)} new fields would be created: {listed}", file=out)
    elif not report.project_fields_read:
        print(f"  new fields not checked: set {KEY_VARIABLE} to compare with the project",
              file=out)
    print(
        f"  {report.batches:,} requests to {report.endpoint}"
        + (f" (list {report.list_id})" if report.list_id else "")
        + f", {report.body_bytes:,} bytes, at least {report.estimated_seconds:,.1f} s at "
        f"{report.rate:g} requests/s",
        file=out,
    )
    for request in report.requests:
        print(
            f"    POST /api/{request.endpoint}: {request.users:,} users, "
            f"{request.body_bytes:,} bytes, rows {request.first_row}-{request.last_row}",
            file=out,
        )
    if report.batches > len(report.requests):
        print(f"    ... and {report.batches - len(report.requests):,} more", file=out)


class ProgressBar:
    """A one-line text progress bar for a terminal, redrawn at most 5 times a second."""

    WIDTH = 30

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._last_draw = 0.0
        self._lock = threading.Lock()
        self._drawn = False

    def update(self, progress: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_draw < 0.2 and progress.state == "running":
                return
            self._last_draw = now
            self.stream.write("\r" + self.render(progress))
            self.stream.flush()
            self._drawn = True

    def render(self, progress: Any) -> str:
        fraction = progress.fraction or 0.0
        filled = int(round(fraction * self.WIDTH))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        counts = progress.counts
        speed = f" {progress.rows_per_second:,.0f} rows/s" if progress.rows_per_second else ""
        eta = f" ETA {_clock(progress.eta_seconds)}" if progress.eta_seconds is not None else ""
        return (
            f"[{bar}] {fraction:4.0%} {progress.done:,}/{progress.total_rows or 0:,}{speed}{eta}"
            f" sent {counts.get('sent', 0):,} rejected {counts.get('rejected', 0):,} "
            f"skipped {counts.get('skipped', 0):,} failed {counts.get('failed', 0):,}  "
        )

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _interrupt_on_termination:
    """Turn SIGTERM and SIGHUP (a closed terminal) into KeyboardInterrupt, like Ctrl-C."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

    def __enter__(self) -> None:
        self._previous = {}
        if threading.current_thread() is not threading.main_thread():
            return
        for number in self.SIGNALS:
            self._previous[number] = signal.signal(number, _raise_interrupt)

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
