"""Time the Mapping page's rerun after a field-table edit with a 100,000-row file loaded.

Runs the real app in-process with Streamlit's AppTest. It logs in, connects the local sandbox
and uploads a synthetic export: the bundled sample's rows repeated, each with its own email.
Then it opens the Mapping page, applies alternating cell edits to the field table and times
each rerun. AppTest skips the browser and the websocket, so the figures are the
server-side script time of a rerun.

    python benchmarks/bench_mapping_page.py [--rows 100000] [--edits 20]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

USERNAME, PASSWORD = "bench", "benchmark password"


def synthetic_export(rows: int) -> bytes:
    """Return the bundled sample repeated to ``rows`` rows, each with its own email address."""
    import pandas as pd

    sample = pd.read_csv(ROOT / "sample_data" / "submissions.csv", dtype=str, keep_default_na=False)
    repeats = -(-rows // len(sample))
    frame = pd.concat([sample] * repeats, ignore_index=True).head(rows)
    frame["Email"] = [f"user{number}@example.com" for number in range(rows)]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def prepare_app(rows: int):
    """Log in, connect the sandbox, upload the export and open the Mapping page."""
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import edit_field_table, submit_login, upload_submissions
    from ui.credentials import write_credentials_file

    home = Path(os.environ["WORKBENCH_HOME"])
    write_credentials_file(home / "credentials.yaml", {USERNAME: PASSWORD}, rounds=4)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    submit_login(at, USERNAME, PASSWORD)
    at.button(key="connect_sandbox").click().run()
    started = time.perf_counter()
    upload_submissions(at, name="big.csv", content=synthetic_export(rows))
    print(f"upload and profile of {rows:,} rows: {time.perf_counter() - started:.1f} s")
    at.switch_page("app_pages/3_mapping.py").run()
    assert len(at.session_state["wb_submissions"].frame) == rows
    return at, edit_field_table


def time_edits(at, edit_field_table, edits: int) -> list[float]:
    """Apply ``edits`` alternating edits of the First name row; return each rerun's seconds."""
    timings = []
    for number in range(edits):
        new_name = "givenName" if number % 2 == 0 else None
        started = time.perf_counter()
        edit_field_table(at, {1: {"New field name": new_name}})
        timings.append(time.perf_counter() - started)
        assert not at.exception, at.exception
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=20)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workbench-") as home:
        os.environ["WORKBENCH_HOME"] = home
        from ui.connection import stop_local_sandboxes

        try:
            at, edit_field_table = prepare_app(arguments.rows)
            timings = time_edits(at, edit_field_table, arguments.edits)
        finally:
            stop_local_sandboxes()
    milliseconds = sorted(t * 1000 for t in timings)
    print(f"Mapping page rerun after an edit, {arguments.rows:,} rows, {len(timings)} edits: "
          f"median {statistics.median(milliseconds):.0f} ms, "
          f"p90 {milliseconds[int(len(milliseconds) * 0.9) - 1]:.0f} ms, "
          f"max {milliseconds[-1]:.0f} ms")


if __name__ == "__main__":
    main()
