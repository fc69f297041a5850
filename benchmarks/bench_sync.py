"""Benchmark of the sync engine against the sandbox with Iterable's rate limit and latency.

The sandbox runs in its own process with the documented users/bulkUpdate limit (5 requests per
second, sliding window) and 150 ms of added latency per request. One invocation makes four
measurements:

1. the engine as shipped: batches of 1,000 users, 4 requests in flight, one shared pace of
   4.9 requests per second and at most 5 in any 1.03 s -> compared with the ceiling the limit
   allows (5 x 1,000 rows/s), over the whole run and over the sending phase alone;
2. the same batches with one request at a time (workers=1), on a subset, extrapolated;
3. the naive script: one users/update request per user, one after the other, for a fixed
   time, extrapolated;
4. the sandbox's own capacity: a second sandbox with no rate limit and no latency, sent the
   same 1,000-user batches as fast as 3 threads can, for a fixed number of batches. When it is
   below 5 batches per second, the sandbox (not the client) is what caps the engine here.

Run:  python benchmarks/bench_sync.py [--rows 200000] [--latency-ms 150]
The figures are recorded in docs/BENCHMARKS.md ("## Sync").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mapping.config import MappingConfig  # noqa: E402
from mapping.iterable import IterableClient  # noqa: E402
from mapping.sync import Journal, SyncSettings, run_sync  # noqa: E402

DEMO_KEY_PATTERN = re.compile(r"(sandbox-[A-Za-z0-9-]+)")
BULK_LIMIT_PER_SECOND = 5


def main() -> int:
    args = _parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as folder:
        folder = Path(folder)
        os.environ["WORKBENCH_HOME"] = str(folder / "home")
        source = _write_input(folder / "submissions.csv", args.rows)
        subset = _write_input(folder / "subset.csv", args.subset_rows)
        config = _mapping()
        results = {"sandbox_capacity": _bench_capacity(folder / "unlimited", args)}
        args.capacity_rows_per_second = results["sandbox_capacity"]["batches_per_second"] * 1000
        sandbox, base_url, api_key = _start_sandbox(folder / "sandbox", args.latency_ms)
        try:
            results |= {
                "engine": _bench_engine(source, config, base_url, api_key, args),
                "one_request_at_a_time": _bench_single_worker(subset, config, base_url,
                                                              api_key, args),
                "one_user_per_request": _bench_naive(base_url, api_key, args),
            }
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
    results["machine"] = _machine()
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results, indent=2))
    return 0 if results["engine"]["share_of_ceiling"] >= 0.9 and results["engine"]["lost"] == 0 \
        else 1


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the main run")
    parser.add_argument("--latency-ms", type=float, default=150.0, help="added per request")
    parser.add_argument("--subset-rows", type=int, default=20_000,
                        help="rows sent one request at a time (then extrapolated)")
    parser.add_argument("--naive-seconds", type=float, default=20.0,
                        help="how long the one-user-per-request script runs")
    parser.add_argument("--capacity-batches", type=int, default=40,
                        help="batches sent to the unlimited sandbox to measure its capacity")
    return parser.parse_args()


# ---------------------------------------------------------------------- input and sandbox


def _write_input(path: Path, rows: int) -> Path:
    cities = ["Berlin", "São Paulo", "Kraków", "Osaka", "Lagos", "Montréal", "Zürich"]
    with path.open("w", encoding="utf-8") as handle:
        handle.write("Email,First name,Last name,City,Points\n")
        for index in range(rows):
            handle.write(
                f"user{index}@example.com,Name{index % 977},Family{index % 1013},"
                f"{cities[index % len(cities)]},{index % 5000}\n"
            )
    return path


def _mapping() -> MappingConfig:
    return MappingConfig.from_dict({
        "version": 1, "widget": "benchmark", "list_id": None, "identifier": "email",
        "fields": [
            {"source": "Email", "target": "email"},
            {"source": "First name", "target": "firstName"},
            {"source": "Last name", "target": "lastName"},
            {"source": "City", "target": "city"},
            {"source": "Points", "target": "points", "type": "long"},
        ],
        "static_fields": [{"target": "signupSource", "value": "benchmark"}],
        "options": {},
    })


def _start_sandbox(data_dir: Path, latency_ms: float, *, rate_limits: bool = True):
    port = _free_port()
    command = [sys.executable, "-m", "mapping", "sandbox", "--port", str(port), "--data-dir",
               str(data_dir), "--reset", "--latency-ms", str(latency_ms)]
    if not rate_limits:
        command.append("--no-rate-limits")
    process = subprocess.Popen(
        command,
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    api_key = _read_key(process)
    _wait_until_up(base_url, api_key)
    return process, base_url, api_key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_key(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        match = DEMO_KEY_PATTERN.search(line)
        if match:
            return match.group(1)
    raise RuntimeError("the sandbox did not print its API key within 30 s")


def _wait_until_up(base_url: str, api_key: str) -> None:
    for _ in range(100):
        try:
            httpx.get(base_url + "/_sandbox/state", headers={"Api-Key": api_key}, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the sandbox at {base_url} did not respond within 10 s")


def _admin(base_url: str, api_key: str, method: str, path: str) -> dict:
    response = httpx.request(method, base_url + path, headers={"Api-Key": api_key}, timeout=120)
    response.raise_for_status()
    return response.json()


# ---------------------------------------------------------------------- the three ways


def _bench_capacity(data_dir: Path, args) -> dict:
    sandbox, base_url, api_key = _start_sandbox(data_dir, 0, rate_limits=False)
    bodies = [_bulk_body(number) for number in range(args.capacity_batches)]
    try:
        with httpx.Client(base_url=base_url, timeout=120,
                          headers={"Api-Key": api_key, "Content-Type": "application/json"}) as http:
            started = time.perf_counter()
            with ThreadPoolExecutor(3) as pool:
                statuses = list(pool.map(
                    lambda body: http.post("/api/users/bulkUpdate", content=body).status_code,
                    bodies,
                ))
            elapsed = time.perf_counter() - started
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    return {
        "batches": len(bodies),
        "all_answered_200": set(statuses) == {200},
        "seconds": round(elapsed, 2),
        "batches_per_second": round(len(bodies) / elapsed, 2),
    }


def _bulk_body(number: int) -> bytes:
    users = [
        {"email": f"capacity{number}-{index}@example.com",
         "dataFields": {"firstName": f"Name{index}", "lastName": "Family", "city": "Berlin",
                        "points": index, "signupSource": "benchmark"}}
        for index in range(1000)
    ]
    return json.dumps({"users": users}, separators=(",", ":")).encode()


def _bench_engine(source: Path, config, base_url: str, api_key: str, args) -> dict:
    _admin(base_url, api_key, "POST", "/_sandbox/reset")
    started = time.perf_counter()
    summary = run_sync(source, config, api_key=api_key, base_url=base_url,
                       settings=SyncSettings())
    elapsed = time.perf_counter() - started
    log = _admin(base_url, api_key, "GET", "/_sandbox/requests")
    received = log["received"].get("POST /api/users/bulkUpdate", {})
    statuses = log["endpoints"].get("POST /api/users/bulkUpdate", {}).get("statuses", {})
    rows_per_second = summary.counts["sent"] / elapsed
    ceiling = BULK_LIMIT_PER_SECOND * SyncSettings().batch_size
    capacity = args.capacity_rows_per_second
    sending = _sending_seconds(summary.run_id)
    return {
        "rows": args.rows,
        "sent": summary.counts["sent"],
        "lost": args.rows - len(received),
        "sent_twice": sum(1 for count in received.values() if count > 1),
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows_per_second),
        "ceiling_rows_per_second": ceiling,
        "share_of_ceiling": round(rows_per_second / ceiling, 3),
        "share_of_what_this_sandbox_absorbs": round(rows_per_second / min(ceiling, capacity), 3),
        "seconds_from_first_request_to_last_response": round(sending, 1),
        "share_of_ceiling_while_sending": round(summary.counts["sent"] / sending / ceiling, 3),
        "requests": summary.requests,
        "answers_by_status": statuses,
    }


def _sending_seconds(run_id: str) -> float:
    """Seconds from the first batch sent to the last response recorded, from the journal."""
    with Journal() as journal:
        first, last = journal.sending_window(run_id)
    return last - first


def _bench_single_worker(subset: Path, config, base_url: str, api_key: str, args) -> dict:
    _admin(base_url, api_key, "POST", "/_sandbox/reset")
    started = time.perf_counter()
    summary = run_sync(subset, config, api_key=api_key, base_url=base_url,
                       settings=SyncSettings(workers=1))
    elapsed = time.perf_counter() - started
    rows_per_second = summary.counts["sent"] / elapsed
    return {
        "rows_measured": args.subset_rows,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows_per_second),
        "extrapolated_seconds_for_all_rows": round(args.rows / rows_per_second),
    }


def _bench_naive(base_url: str, api_key: str, args) -> dict:
    _admin(base_url, api_key, "POST", "/_sandbox/reset")
    sent = 0
    started = time.perf_counter()
    with IterableClient(api_key, base_url=base_url) as client:
        while time.perf_counter() - started < args.naive_seconds:
            client.update_user(
                email=f"user{sent}@example.com",
                data_fields={"firstName": f"Name{sent % 977}", "lastName": f"Family{sent % 1013}",
                             "city": "Berlin", "points": sent % 5000,
                             "signupSource": "benchmark"},
            )
            sent += 1
    elapsed = time.perf_counter() - started
    rows_per_second = sent / elapsed
    return {
        "rows_measured": sent,
        "seconds": round(elapsed, 1),
        "rows_per_second": round(rows_per_second, 1),
        "extrapolated_seconds_for_all_rows": round(args.rows / rows_per_second),
    }


def _machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "platform": platform.platform(),
    }


if __name__ == "__main__":
    sys.exit(main())
