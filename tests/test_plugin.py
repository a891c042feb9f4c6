"""A task from a package outside this repository is listed and trained, with no edit here."""

import json
import os
import textwrap

import pandas as pd

from conftest import run_cli

PLUGIN = '''
import numpy as np
from lengthgen.task import Batch, Task


class LastBitTask(Task):
    """Input: `length` bits; target: the last bit."""

    name = "last_bit"
    description = "repeat the last bit of a bit string"
    family = "regular"
    vocab = ("0", "1")
    chance = 0.5

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        return Batch(x, x[:, -1:].copy(), np.ones((batch_size, 1), bool))

    def solve(self, inputs_I):
        return np.array([inputs_I[-1]])
'''


def install_plugin(root):
    """A package plus its dist-info on a path entry: what `pip install` of a third-party package leaves."""
    (root / "lastbit_plugin").mkdir(parents=True)
    (root / "lastbit_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "lastbit_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lastbit-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lengthgen.tasks]\nlast_bit = lastbit_plugin:LastBitTask\n")
    return {"PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_plugin_task_is_listed_and_trains(tmp_path):
    env = install_plugin(tmp_path / "site")
    listing = run_cli("lengthgen", "list", "tasks", env=env)
    assert listing.returncode == 0 and "last_bit" in listing.stdout
    assert "last_bit" not in run_cli("lengthgen", "list", "tasks").stdout

    out = tmp_path / "run"
    result = run_cli("lengthgen-train", "task=last_bit", "position=alibi", "train.max_length=4", "eval.max_length=6",
                     "train.steps=150", "train.lr=0.003", "model.layers=1", "model.d_model=16", "model.heads=2",
                     "eval.samples_per_length=32", "progress=false", f"hydra.run.dir={out}", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "summary.json").read_text())["task"] == "last_bit"
    curve = pd.read_csv(out / "curve.csv")
    assert set(curve.task) == {"last_bit"} and sorted(curve.length) == [1, 2, 3, 4, 5, 6]


def test_a_package_entry_registers_every_task_its_modules_declare(tmp_path):
    """`name = "pkg"` in the entry-point group: each module's Task subclasses under their own names,
    underscore modules skipped, a module that fails to import reported by its name."""
    root = tmp_path / "site"
    pkg = root / "bits_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "last.py").write_text(textwrap.dedent(PLUGIN))
    (pkg / "first.py").write_text(textwrap.dedent(PLUGIN).replace("LastBitTask", "FirstBitTask")
                                  .replace('"last_bit"', '"first_bit"').replace("x[:, -1:]", "x[:, :1]"))
    (pkg / "_shared.py").write_text("raise RuntimeError('never imported')\n")
    (pkg / "broken.py").write_text("import no_such_module_here  # noqa: F401\n")
    info = root / "bits_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bits-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lengthgen.tasks]\nbits = bits_plugin\n")
    env = {"PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = run_cli("lengthgen", "list", "tasks", env=env)
    assert listing.returncode == 0, listing.stderr
    names = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert {"first_bit", "last_bit", "reverse_string"} <= set(names) and "bits" not in names
    assert listing.stderr.strip() == ("warning: task 'broken' failed to load: bits_plugin.broken: "
                                      "ModuleNotFoundError: No module named 'no_such_module_here'")
