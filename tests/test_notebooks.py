"""Every notebook in notebooks/ executes, as a notebook, from a directory outside the repo."""

from __future__ import annotations

import jupytext
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
COMMITTED = ROOT / "experiments" / "ruoss" / "results" / "full"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_from_any_directory(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEP", str(COMMITTED))
    monkeypatch.setenv("OUT", str(tmp_path))
    notebook = jupytext.read(path)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert list(tmp_path.glob("*.png")), "the notebook drew no figure"


def test_notebooks_are_found():
    assert {p.name for p in NOTEBOOKS} >= {"anil.py", "explore_results.py", "liu.py", "ruoss.py"}
