"""notebooks/backfill.ipynb runs top to bottom and leaves the sample's users in a sandbox list."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "backfill.ipynb"


def last_json_line(notebook) -> dict:
    for cell in reversed(notebook.cells):
        for output in cell.get("outputs", []):
            for line in reversed(output.get("text", "").splitlines()):
                if line.startswith("{"):
                    return json.loads(line)
    raise AssertionError("the notebook printed no JSON summary line")


@pytest.mark.slow
def test_backfill_notebook_syncs_the_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT),
                                                                   os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=180,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    summary = last_json_line(notebook)
    assert summary["sendable"] > 300
    assert summary["sent"] == summary["sendable"]
    assert summary["list_size"] == summary["sendable"]
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
