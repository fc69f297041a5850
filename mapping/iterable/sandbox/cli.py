"""`python -m mapping sandbox`: run the sandbox in the foreground until Ctrl-C.

`add_cli_parser(subparsers)` registers the subcommand on the workbench's argument parser and
sets `handler` (and `func`, the same) to `run_sandbox_command`, which returns the exit status. The demo API key is
printed on purpose: it is a fixed, public key that only opens this local sandbox.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from mapping.iterable.sandbox.faults import Faults
from mapping.iterable.sandbox.server import SandboxError, SandboxServer

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
EXIT_OK = 0
EXIT_USAGE = 2


def default_data_dir() -> Path:
    """$WORKBENCH_HOME/sandbox, else ~/.local/share/iterable-workbench/sandbox."""
    home = os.environ.get("WORKBENCH_HOME")
    base = Path(home) if home else Path.home() / ".local" / "share" / "iterable-workbench"
    return base / "sandbox"


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1 (e.g. 0.1)")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the sandbox options to `parser`."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"where the SQLite state lives (default {default_data_dir()})")
    parser.add_argument("--reset", action="store_true",
                        help="delete the stored state and start from the seed project")
    parser.add_argument("--region", choices=("us", "eu"), default="us",
                        help="the data center this sandbox pretends to be (default us)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (the demo key is public: anyone "
                             "who reaches the port can write)")

    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--latency-ms", type=_non_negative, default=0,
                        help="added delay before each /api/ response")
    faults.add_argument("--error-rate-429", type=_rate, default=0.0,
                        help="share of /api/ requests that get 429 RateLimitExceeded")
    faults.add_argument("--retry-after", type=_non_negative, default=None,
                        help="Retry-After seconds sent with injected 429s (default: none)")
    faults.add_argument("--error-rate-5xx", type=_rate, default=0.0,
                        help="share that get a 5xx response (JSON, plain text or HTML)")
    faults.add_argument("--drop-rate", type=_rate, default=0.0,
                        help="share of connections closed without an answer")
    faults.add_argument("--slow-list-seconds", type=_non_negative, default=0.0,
                        help="new lists return 400 invalidListId for this many seconds")
    faults.add_argument("--subscribe-rate-limit", type=_positive, default=None,
                        help="requests per second allowed on lists/subscribe (default: none)")
    faults.add_argument("--no-rate-limits", action="store_true",
                        help="turn off Iterable's documented per-project rate limits")
    faults.add_argument("--seed", type=int, default=None,
                        help="seed for the fault dice, to repeat a run exactly")
    return parser


def add_cli_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `sandbox` on the workbench CLI; the parsed namespace's `handler` runs it."""
    parser = subparsers.add_parser(
        "sandbox", help="run the local Iterable-compatible sandbox",
        description="Run a local Iterable-compatible server (lists, user fields, subscribe, "
                    "bulk update) with its state in SQLite. Stops on Ctrl-C.",
    )
    configure_parser(parser)
    parser.set_defaults(handler=run_sandbox_command, func=run_sandbox_command)
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        latency_ms=args.latency_ms, error_429_rate=args.error_rate_429,
        error_5xx_rate=args.error_rate_5xx, drop_rate=args.drop_rate,
        slow_list_seconds=args.slow_list_seconds,
        subscribe_rate_limit=args.subscribe_rate_limit, seed=args.seed,
        retry_after_seconds=args.retry_after,
    )


def build_server(args: argparse.Namespace) -> SandboxServer:
    return SandboxServer(
        args.data_dir or default_data_dir(), host=args.host, port=args.port,
        faults=faults_from_args(args), reset=args.reset, region=args.region,
        rate_limits=not args.no_rate_limits,
    )


def run_sandbox_command(
    args: argparse.Namespace, *, out: TextIO | None = None, stop_event: threading.Event | None = None
) -> int:
    """Run the sandbox in the foreground; return the exit status (0, or 2 on a usage error).

    `stop_event` lets a caller (a test) stop it; otherwise Ctrl-C or SIGTERM does.
    """
    out = out or sys.stdout
    if not is_loopback(args.host) and not args.allow_remote:
        print(f"error: --host {args.host} is not a loopback address. The sandbox's demo key is "
              "public, so anyone who reaches it could write; add --allow-remote if you mean it.",
              file=sys.stderr)
        return EXIT_USAGE
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}; anyone who can reach this port can use the "
              "sandbox with the public demo key.", file=sys.stderr)
    try:
        server = build_server(args).start()
    except (SandboxError, ValueError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    stop = stop_event or threading.Event()
    try:
        print(f"Sandbox running at {server.base_url}", file=out)
        print(f"API key (fixed demo key, not a secret): {server.api_key}", file=out)
        print(f"Data directory: {server.data_dir}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        _wait(stop)
    finally:
        server.stop()
        print("Sandbox stopped.", file=out, flush=True)
    return EXIT_OK


def _wait(stop: threading.Event) -> None:
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if on_main_thread else None
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mapping.iterable.sandbox`."""
    parser = configure_parser(argparse.ArgumentParser(
        prog="python -m mapping.iterable.sandbox",
        description="Run the local Iterable-compatible sandbox.",
    ))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_sandbox_command(parser.parse_args(argv))
