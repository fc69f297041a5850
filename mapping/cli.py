"""The `python -m mapping` command line: sandbox, preview, sync and runs.

Each subsystem registers its own subcommand, so this module only assembles the parser and
turns the usual failures into exit codes: 0 success, 2 a usage or configuration error (with a
message naming the problem), 3 rows rejected by validation or by Iterable (set by `sync`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with the command line or its input files that the user must fix."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the chosen subcommand and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every URL at INFO, and getByEmail URLs carry a person's email address.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.handler(args) or EXIT_OK)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # `python -m mapping preview ... | head` closes stdout early; that is not a failure.
        sys.stderr.close()
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mapping",
        description="Map widget submissions onto Iterable user fields and sync them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from mapping.iterable.sandbox.cli import add_cli_parser as add_sandbox_parser
    from mapping.sync.cli import add_cli_parsers as add_sync_parsers

    add_sandbox_parser(subparsers)
    _add_preview_parser(subparsers)
    add_sync_parsers(subparsers)
    return parser


def _add_preview_parser(subparsers: argparse._SubParsersAction) -> None:
    preview = subparsers.add_parser(
        "preview",
        help="print the mapped item and issues of each input row as JSON Lines",
        description=(
            "Apply a mapping file to a submissions export and print one JSON object per row: "
            '{"row": N, "item": <user object or null>, "issues": [...]}. Nothing is sent.'
        ),
    )
    preview.add_argument("--input", required=True, type=Path, help="submissions file")
    preview.add_argument("--mapping", required=True, type=Path, help="mapping JSON file")
    preview.add_argument(
        "--limit", type=int, default=None, help="print only the first N rows (default: all)"
    )
    preview.add_argument("--encoding", default=None, help="override the sniffed text encoding")
    preview.add_argument("--delimiter", default=None, help="override the sniffed CSV delimiter")
    preview.set_defaults(handler=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    """Print the preview records of the input file, reading it in chunks."""
    from mapping import submissions, transform
    from mapping.config import MappingConfig, MappingFileError

    if args.limit is not None and args.limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {args.limit}")
    try:
        config = MappingConfig.load(args.mapping)
    except MappingFileError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot read mapping file {args.mapping}: {error.strerror}") from None

    context = {"source_file": args.input.name}
    remaining = args.limit
    row_offset = 0
    out = sys.stdout
    try:
        chunks = submissions.iter_chunks(
            args.input, encoding=args.encoding, delimiter=args.delimiter
        )
        for chunk in chunks:
            if remaining is not None and remaining <= 0:
                break
            if remaining is not None:
                chunk = chunk.iloc[:remaining]
            result = transform.apply(chunk, config, row_offset=row_offset, context=context)
            for record in transform.preview_records(result):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            row_offset += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    except submissions.SubmissionsError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot read input file {args.input}: {error.strerror}") from None
    out.flush()
    return EXIT_OK
