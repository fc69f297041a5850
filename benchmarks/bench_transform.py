"""Benchmark of the mapping engine: load, map + validate, serialise, against two baselines.

    python benchmarks/bench_transform.py --rows 1000000
    python benchmarks/bench_transform.py --chunked --rows 2000000

The first form generates N synthetic submissions with sample_data/generate.py (the sample's
columns), writes them as CSV, and measures in one process:

1. loading the CSV with mapping.submissions.load;
2. mapping.transform.apply with the sample mapping (every converter and all validation);
3. serialising the request bodies with mapping.payload.batches;
4. a plain per-row Python loop doing the same mapping with the same scalar libraries
   (what an analyst's script would do), serialising with json.dumps. Its rows are handed
   over as ready Python dicts (frame.to_dict("records"), timed apart and not counted), so
   its time is a lower bound. The run checks that its user objects equal the engine's on
   the first 20,000 rows;
5. pandas' DataFrame.to_json(orient="records") on the raw frame (no validation at all).

It prints rows per second and the ratios the issue sets targets for: map + validate + serialise
at least 20 times faster than the loop, and within 3 times of the raw to_json.

The --chunked form measures the peak resident memory of the command-line path (chunked reading
with submissions.iter_chunks, a first pass for duplicates, then apply and batches per chunk) in
a fresh child process, so the generator's memory does not count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mapping import normalize, payload, submissions, transform  # noqa: E402
from mapping.config import MappingConfig  # noqa: E402

# The sandbox's seed project (see INTERFACES: getFields of a fresh sandbox).
PROJECT_FIELDS = {
    "email": "string", "firstName": "string", "lastName": "string", "phoneNumber": "string",
    "signupDate": "date", "signupSource": "string", "city": "string", "country": "string",
    "countryCode": "string", "locale": "string", "consent": "boolean",
}
MAX_STRING_LENGTH = normalize.MAX_STRING_LENGTH
SAME_OBJECTS_ROWS = 20_000


def write_csv(path: Path, rows: int) -> None:
    """Write N synthetic submissions (the sample generator's rows) to a CSV, streaming."""
    from sample_data import generate

    generate.write_csv(path, generate.iter_rows(rows))


def load_mapping(path: str | None) -> MappingConfig:
    return MappingConfig.load(Path(path) if path else ROOT / "sample_data" / "mapping.json")


# --------------------------------------------------------------------------- per-row loop


class RowLoop:
    """The same mapping done one row at a time with the scalar libraries.

    This is what an analyst's script would do. For each row it calls the same library per
    value: phonenumbers.parse, the email syntax and top-level domain check, datetime parsing,
    the boolean truth table and a country table. An invalid value is noted as an issue and
    keeps its row out. The last row per email is kept, and json.dumps writes the request
    bodies. The rules are the engine's: an empty consent is false, and a string over
    Iterable's length limit is an issue. check_same_objects() compares the objects.
    """

    def __init__(self, config: MappingConfig):
        import phonenumbers

        self.phonenumbers = phonenumbers
        self.config = config
        self.truth = normalize.truth_table()
        self.plans = transform._plan.build_plan(pd.DataFrame(columns=[f.source for f in
                                                                      config.fields]),
                                                config, PROJECT_FIELDS, None)
        self.countries = self._countries()
        self.issues: list[tuple[int, str, str, str]] = []

    @staticmethod
    def _countries() -> dict[str, str]:
        import pycountry

        table = {}
        for country in pycountry.countries:
            table[country.alpha_2.casefold()] = country.alpha_2
            table[country.name.casefold()] = country.alpha_2
        return table

    def convert(self, converter: str, value: str, kwargs: dict):
        """Return the converted value, or None when the value is invalid."""
        if converter == "email":
            value = value.strip().lower()
            return value if normalize.is_valid_email(value) else None
        if converter == "phone":
            try:
                number = self.phonenumbers.parse(value, kwargs.get("region"))
            except self.phonenumbers.NumberParseException:
                return None
            if not self.phonenumbers.is_valid_number(number):
                return None
            return self.phonenumbers.format_number(number,
                                                   self.phonenumbers.PhoneNumberFormat.E164)
        if converter == "boolean":
            return self.truth.get(value.strip().casefold())
        if converter == "date":
            moment = self._date(value.strip(), kwargs.get("date_order"))
            if moment is None:
                return None
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.timezone.utc)
            return moment.strftime("%Y-%m-%d %H:%M:%S +00:00")
        if converter == "country":
            return self.countries.get(value.strip().casefold())
        if kwargs.get("trim"):
            value = value.strip()
        return value if len(value) <= MAX_STRING_LENGTH else None

    @staticmethod
    def _date(text: str, order: str | None) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        day_first = {"DMY": "%d/%m/%Y", "MDY": "%m/%d/%Y"}.get(order or "")
        if day_first is None:
            return None
        for pattern in (day_first + " %H:%M", day_first + " %H:%M:%S", day_first):
            try:
                return dt.datetime.strptime(text, pattern)
            except ValueError:
                continue
        return None

    def fields(self) -> list[tuple]:
        """(source, target, converter, options, empty value) of each mapped field."""
        return [(p.source, p.target, p.converter, p.converter_kwargs,
                 False if p.converter_kwargs.get("empty_is_false") else None)
                for p in self.plans.fields]

    def map_rows(self, records: list[dict]) -> dict[str, dict]:
        """Map every row; returns the user object per email (the last row wins)."""
        items: dict[str, dict] = {}
        statics = {s.target: s.value for s in self.plans.statics}
        fields = self.fields()
        self.issues = []
        for number, record in enumerate(records, start=1):
            item = self._row(number, record, fields, statics)
            if item is not None:
                items[item["email"]] = item
        return items

    def run(self, records: list[dict]) -> tuple[int, int]:
        """Map every row, then serialise the bodies; returns (rows sent, bytes)."""
        return self._serialise(list(self.map_rows(records).values()))

    def _row(self, number: int, record: dict, fields, statics) -> dict | None:
        data: dict = {}
        email = None
        valid = True
        for source, target, converter, kwargs, empty in fields:
            raw = record.get(source)
            if raw is None or raw != raw or raw == "":
                if empty is not None:
                    data[target] = empty
                continue
            value = self.convert(converter, raw, kwargs)
            if value is None:
                self.issues.append((number, source, converter, raw))
                valid = False  # a row with an invalid value is not sent
            elif target == "email":
                email = value
            else:
                data[target] = value
        if email is None or not valid:
            return None
        data.update(statics)
        return {"email": email, "dataFields": data}

    def _serialise(self, items: list[dict]) -> tuple[int, int]:
        total = 0
        for start in range(0, len(items), 1000):
            body = {"listId": self.config.list_id, "subscribers": items[start:start + 1000]}
            total += len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        return len(items), total


def check_same_objects(loop: RowLoop, frame: pd.DataFrame, result, rows: int) -> int:
    """Compare the loop's user objects with the engine's on the first rows; return differences.

    An email repeated across the end of the compared rows would count as a difference,
    because the engine kept its later row. The synthetic rows have no repeated email.
    """
    records = frame.iloc[:rows].to_dict("records")
    expected = loop.map_rows(records)
    engine = {}
    for item in result.items[:rows]:
        if item is not None:
            engine[item["email"]] = item
    differences = sum(1 for email, item in expected.items() if engine.get(email) != item)
    differences += sum(1 for email in engine if email not in expected)
    return differences


# --------------------------------------------------------------------------- measuring


def timed(label: str, function, rows: int, results: dict):
    gc.collect()
    start = time.perf_counter()
    value = function()
    seconds = time.perf_counter() - start
    results[label] = seconds
    print(f"  {label:<34} {seconds:8.2f} s  {rows / seconds:12,.0f} rows/s", flush=True)
    return value


def machine() -> str:
    cores = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.processor() or platform.machine()}, {cores} cores, {memory:.0f} GiB, "
            f"Python {platform.python_version()}, pandas {pd.__version__}, "
            f"pyarrow {pa.__version__}")


def run_throughput(rows: int, mapping_path: str | None, loop_rows: int | None) -> dict:
    config = load_mapping(mapping_path)
    results: dict[str, float] = {}
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "submissions.csv"
        write_csv(path, rows)
        print(f"load average at the start: {load_average()}")
        print(f"{rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB CSV, mapping "
              f"{mapping_path or 'sample'} ({len(config.fields)} fields)")
        loaded = timed("load CSV (submissions.load)", lambda: submissions.load(path), rows,
                       results)
    frame = loaded.frame
    result = timed("map + validate (transform.apply)",
                   lambda: transform.apply(frame, config, PROJECT_FIELDS), rows, results)
    print("    of which: " + ", ".join(f"{step} {seconds:.1f} s"
                                      for step, seconds in result.timings.items()))
    sent = timed("serialise (payload.batches)",
                 lambda: sum(len(b.body) for b in payload.batches_for(result, config)), rows,
                 results)
    timed("raw DataFrame.to_json(records)", lambda: frame.to_json(orient="records"), rows,
          results)
    loop_frame = frame if not loop_rows or loop_rows >= rows else frame.iloc[:loop_rows]
    loop_count = len(loop_frame)
    loop = RowLoop(config)
    records = timed("loop input: frame.to_dict(records)",
                    lambda: loop_frame.to_dict("records"), loop_count, results)
    timed(f"per-row loop ({loop_count:,} rows)", lambda: loop.run(records), loop_count,
          results)
    records.clear()  # frees the million dicts before the comparison
    compared = min(rows, SAME_OBJECTS_ROWS)
    differences = check_same_objects(loop, frame, result, compared)
    print(f"  loop and engine objects differ in {differences} of the first {compared:,} rows")
    report(rows, loop_count, results, result, sent)
    return results


def report(rows: int, loop_rows: int, results: dict, result, sent_bytes: int) -> None:
    engine = results["map + validate (transform.apply)"] + results["serialise (payload.batches)"]
    loop_key = next(k for k in results if k.startswith("per-row loop"))
    loop_per_row = results[loop_key] / loop_rows
    input_per_row = results["loop input: frame.to_dict(records)"] / loop_rows
    raw = results["raw DataFrame.to_json(records)"]
    print(f"  sent {result.sent_count:,} rows, {len(result.issues):,} issues, "
          f"{result.merged:,} merged, {sent_bytes / 2**20:.0f} MiB of bodies")
    print(f"map + validate + serialise: {engine:.2f} s = {rows / engine:,.0f} rows/s")
    print(f"  vs per-row loop: {loop_per_row * rows / engine:.1f}x faster (target >= 20x; the "
          f"loop's rows were ready dicts; {(loop_per_row + input_per_row) * rows / engine:.1f}x "
          "counting frame.to_dict)")
    print(f"  vs raw to_json:  {engine / raw:.1f}x the time (target <= 3x)")
    print(f"load average at the end: {load_average()}")


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def run_chunked(rows: int, mapping_path: str | None, chunksize: int) -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "submissions.csv"
        write_csv(path, rows)
        print(f"{rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB CSV; CLI path in a child "
              f"process, chunks of {chunksize:,}", flush=True)
        command = [sys.executable, __file__, "--chunked-child", str(path), "--chunksize",
                   str(chunksize)] + (["--mapping", mapping_path] if mapping_path else [])
        subprocess.run(command, check=True)


def chunked_child(path: str, mapping_path: str | None, chunksize: int) -> None:
    config = load_mapping(mapping_path)
    start = time.perf_counter()
    plan = transform.plan_duplicates(submissions.iter_chunks(path, chunksize=chunksize), config)
    sent = body_bytes = offset = 0
    for chunk in submissions.iter_chunks(path, chunksize=chunksize):
        result = transform.apply(chunk, config, PROJECT_FIELDS, row_offset=offset,
                                 duplicates=plan)
        for batch in payload.batches_for(result, config):
            sent += len(batch.rows)
            body_bytes += len(batch.body)
        offset += len(chunk)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  rows {offset:,}, sent {sent:,}, bodies {body_bytes / 2**20:.0f} MiB, "
          f"{seconds:.1f} s ({offset / seconds:,.0f} rows/s)")
    print(f"peak RSS of the CLI path: {peak:,.0f} MiB (target < 1024 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--mapping", default=None, help="mapping file (default: the sample)")
    parser.add_argument("--loop-rows", type=int, default=None,
                        help="run the per-row loop on only the first N rows (rows/s compared)")
    parser.add_argument("--chunked", action="store_true", help="measure peak RSS, chunked")
    parser.add_argument("--chunksize", type=int, default=100_000)
    parser.add_argument("--chunked-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chunked_child:
        chunked_child(args.chunked_child, args.mapping, args.chunksize)
    elif args.chunked:
        run_chunked(args.rows, args.mapping, args.chunksize)
    else:
        run_throughput(args.rows, args.mapping, args.loop_rows)


if __name__ == "__main__":
    main()
