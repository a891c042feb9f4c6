"""The bad-input catalogue: each bad invocation of the real command-line tools exits non-zero
before compiling anything, with exactly one line on stderr that names the bad value
(and the valid choices where there are any), no traceback, and no run directory.

The invocations run in parallel subprocesses; JAX_LOG_COMPILES=1 makes any compilation
print to stderr, so the one-line check also proves nothing was compiled.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import BIN, ROOT

PLUGIN_MODULES = {
    "broken.py": "import lengthgen_no_such_module  # noqa: F401\n",
    "badshape.py": '''
import numpy as np
from lengthgen.task import Batch, Task


class BadShapeTask(Task):
    """Claims I = T = length but samples one input symbol too many."""

    name = "bad_shape"
    vocab = ("0", "1")

    def shapes(self, length):
        return length, length

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length + 1))
        return Batch(x, x.copy(), np.ones_like(x, bool))

    def solve(self, inputs_I):
        return inputs_I


class BadTokenTask(BadShapeTask):
    """Right shapes, but tokens outside its two-symbol vocabulary."""

    name = "bad_token"

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length)) + 5
        return Batch(x, x.copy(), np.ones_like(x, bool))
''',
}
PLUGIN_ENTRY_POINTS = """[lengthgen.tasks]
broken_plugin = lg_badplugins.broken:Task
bad_shape = lg_badplugins.badshape:BadShapeTask
bad_token = lg_badplugins.badshape:BadTokenTask
"""

# (id, program, arguments, substrings the error line must contain, needs the plugin dir)
# "{dir}" is the case's own scratch directory; "{file}" a regular file inside it.
CASES = [
    ("unknown-task", "lengthgen-train", ["task=bogus"], ["unknown task 'bogus'", "valid:", "reverse_string"]),
    ("unknown-model", "lengthgen-train", ["model=transformerz"], ["unknown model 'transformerz'", "encoder"]),
    ("unknown-position", "lengthgen-train", ["position=rotary"], ["unknown position 'rotary'", "rope"]),
    ("unknown-study-variant", "lengthgen-train", ["--config-dir", "experiments/ruoss", "+study=bogus"],
     ["unknown study 'bogus'", "quick"]),
    ("missing-config-dir", "lengthgen-train", ["--config-dir", "{dir}/missing", "+study=quick"],
     ["--config-dir '{dir}/missing' is not a directory"]),
    ("unknown-position-in-sweep", "lengthgen-train", ["-m", "position=rope,bogus", "hydra.sweep.dir={dir}/run"],
     ["unknown position 'bogus'", "alibi"]),
    ("unknown-task-name-key", "lengthgen-train", ["task.name=bogus"], ["unknown task 'bogus'", "copy"]),
    ("unknown-launcher", "lengthgen-train", ["hydra/launcher=bogus"], ["'bogus'", "joblib"]),
    ("steps-not-int", "lengthgen-train", ["train.steps=abc"], ["train.steps=abc", "Integer"]),
    ("steps-float", "lengthgen-train", ["train.steps=1.5"], ["train.steps=1.5", "Integer"]),
    ("lr-not-number", "lengthgen-train", ["train.lr=fast"], ["train.lr=fast", "Float"]),
    ("progress-not-bool", "lengthgen-train", ["progress=maybe"], ["progress=maybe", "bool"]),
    ("empty-value", "lengthgen-train", ["train.batch_size="], ["train.batch_size=", "Integer"]),
    ("section-given-scalar", "lengthgen-train", ["train=5"], ["train=5", "TrainConfig"]),
    ("override-syntax", "lengthgen-train", ["train.steps=[1,2"], ["[1,2"]),
    ("steps-zero", "lengthgen-train", ["train.steps=0"], ["train.steps must be >= 1, got 0"]),
    ("batch-negative", "lengthgen-train", ["train.batch_size=-4"], ["train.batch_size must be >= 1, got -4"]),
    ("d-model-zero", "lengthgen-train", ["model.d_model=0"], ["model.d_model must be >= 1, got 0"]),
    ("layers-negative", "lengthgen-train", ["model.layers=-1"], ["model.layers must be >= 1, got -1"]),
    ("samples-zero", "lengthgen-train", ["eval.samples_per_length=0"], ["eval.samples_per_length must be >= 1, got 0"]),
    ("stride-zero", "lengthgen-train", ["eval.stride=0"], ["eval.stride must be >= 1, got 0"]),
    ("lr-zero", "lengthgen-train", ["train.lr=0"], ["train.lr must be a finite number > 0, got 0.0"]),
    ("lrs-negative", "lengthgen-train", ["train.lrs=[0.001,-0.1]"], ["train.lrs[1] must be a finite number > 0, got -0.1"]),
    ("lrs-repeated", "lengthgen-train", ["train.lrs=[0.001,0.001]"], ["train.lrs must not repeat a value"]),
    ("lrs-not-numbers", "lengthgen-train", ["train.lrs=[fast]"], ["train.lrs", "fast"]),
    ("threads-negative", "lengthgen-train", ["xla_threads=-1"], ["xla_threads must be >= 0, got -1"]),
    ("m-equals-n", "lengthgen-train", ["eval.max_length=16"], ["eval.max_length (16)", "train.max_length (16)"]),
    ("m-below-n", "lengthgen-train", ["train.max_length=20", "eval.max_length=10"],
     ["eval.max_length (10)", "train.max_length (20)"]),
    ("min-above-max", "lengthgen-train", ["train.min_length=10", "train.max_length=5"],
     ["train.min_length (10)", "train.max_length (5)"]),
    ("heads-not-dividing", "lengthgen-train", ["model.heads=3"], ["model.heads (3)", "model.d_model (64)"]),
    ("learned-table-short", "lengthgen-train", ["position=learned", "position.max_len=10", "eval.max_length=48"],
     ["position 'learned'", "max_len 10", "eval.max_length=48"]),
    ("randomized-l-below-m", "lengthgen-train",
     ["position=randomized_rope", "position.max_len=20", "eval.max_length=48"],
     ["position 'randomized_rope'", "max_len 20"]),
    ("copy-alphabet-1", "lengthgen-train", ["task=copy", "task.alphabet=1"], ["task 'copy'", "alphabet", "got 1"]),
    ("copy-alphabet-99", "lengthgen-train", ["task=copy", "task.alphabet=99"], ["task 'copy'", "got 99"]),
    ("parity-format", "lengthgen-train", ["task=parity", "task.format=odd"], ["'odd'", "valid:", "direct"]),
    ("dropout-range", "lengthgen-train", ["model.dropout=1.5"], ["model.dropout", "got 1.5"]),
    ("schedule-unknown", "lengthgen-train", ["train.schedule=linear"], ["'linear'", "constant, cosine"]),
    ("layout-unknown", "lengthgen-train", ["model.layout=sideways"], ["'sideways'", "placeholder"]),
    ("eval-buckets", "lengthgen-train", ["eval.buckets=0"], ["eval.buckets", "must be >= 1", "got 0"]),
    ("unknown-train-key", "lengthgen-train", ["train.bogus=1"], ["unknown config key 'train.bogus'", "steps"]),
    ("unknown-top-key", "lengthgen-train", ["bogus=1"], ["unknown config key 'bogus'", "train"]),
    ("appended-unknown-key", "lengthgen-train", ["+train.bogus=1"], ["train.bogus", "steps"]),
    ("unknown-task-option", "lengthgen-train", ["task=copy", "task.bogus=1"],
     ["task 'copy'", "unknown option 'bogus'", "alphabet"]),
    ("unknown-position-option", "lengthgen-train", ["position.bogus=1"], ["position 'rope'", "unknown option 'bogus'"]),
    ("rope-base-negative", "lengthgen-train", ["position.base=-1"], ["position 'rope': base must be > 1, got -1.0"]),
    ("yarn-scale-below-one", "lengthgen-train", ["position=rope_yarn", "position.scale=0.5"],
     ["position 'rope_yarn': scale must be 0 (dynamic) or >= 1, got 0.5"]),
    ("fire-init-c-nan", "lengthgen-train", ["position=fire", "position.init_c=nan"],
     ["position 'fire': init_c must be finite and > 0, got nan"]),
    ("broken-plugin", "lengthgen-train", ["task=broken_plugin"],
     ["task 'broken_plugin' failed to load", "lengthgen_no_such_module"], True),
    ("plugin-wrong-shapes", "lengthgen-train", ["task=bad_shape"], ["task 'bad_shape'", "shape", "expected"], True),
    ("plugin-tokens-outside-vocab", "lengthgen-train", ["task=bad_token"], ["task 'bad_token'", "outside [0, 2)"],
     True),
    ("output-dir-under-file", "lengthgen-train", ["hydra.run.dir={file}/run"], ["hydra.run.dir", "not a directory"]),
    ("output-dir-is-file", "lengthgen-train", ["hydra.run.dir={file}"], ["hydra.run.dir", "not a directory"]),
    ("sweep-dir-under-file", "lengthgen-train", ["-m", "hydra.sweep.dir={file}/sweep"],
     ["hydra.sweep.dir", "not a directory"]),
    ("lr-infinite", "lengthgen-train", ["train.lr=inf"], ["train.lr must be a finite number, got inf"]),
    ("weight-decay-nan", "lengthgen-train", ["train.weight_decay=nan"], ["train.weight_decay", "finite", "nan"]),
    ("seed-negative", "lengthgen-train", ["seed=-1"], ["seed must be >= 0, got -1"]),
    ("seed-beyond-32-bits", "lengthgen-train", ["seed=4294967295", "train.seeds=2"], ["seed + train.seeds", "4294967296"]),
    ("eval-seed-negative", "lengthgen-train", ["eval.seed=-5"], ["eval.seed must be >= 0, got -5"]),
    ("run-dir-empty", "lengthgen-train", ["hydra.run.dir="], ["hydra.run.dir is empty"]),
    ("sweep-dir-empty", "lengthgen-train", ["-m", "seed=0,1", "hydra.sweep.dir="], ["hydra.sweep.dir is empty"]),
    ("lstm-with-a-scheme", "lengthgen-train", ["model=lstm", "position=rope"],
     ["model 'lstm' reads no positions", "position 'rope' would be ignored", "position=none"]),
    ("eval-length-hangs", "lengthgen-train", ["eval.max_length=10000000"],
     ["eval.max_length=10000000", "GiB", "lower eval.max_length"]),
    ("eval-too-long", "lengthgen-train", ["eval.max_length=20000"],
     ["evaluation of 20000 lengths", "TFLOP", "eval.max_tflop=1000"]),
    ("train-batch-out-of-memory", "lengthgen-train", ["train.max_length=5000", "eval.max_length=5001"],
     ["training batch at train.max_length=5000", "GiB", "lower train.max_length"]),
    ("memory-limit", "lengthgen-train", ["memory_gb=0.001"], ["memory_gb=0.001", "GiB"]),
    ("bad-job-named-in-sweep", "lengthgen-train", ["-m", "position=rope,alibi", "train.lr=0.1,-1",
                                                   "hydra.sweep.dir={dir}/run"],
     ["job 1 (position=rope train.lr=-1)", "train.lr must be a finite number > 0"]),
    ("late-bad-job-of-a-large-sweep", "lengthgen-train", ["-m", "train.lr=0.1,-1", "seed=range(0,600)",
                                                          "position=rope,alibi", "hydra.sweep.dir={dir}/run"],
     ["job 1200 (train.lr=-1 seed=0 position=rope)", "train.lr must be a finite number > 0, got -1.0"]),
    ("sweep-jobs-share-a-directory", "lengthgen-train", ["--config-dir", "experiments/ruoss", "+study=demo",
                                                         "seed=0,1", "hydra.sweep.dir={dir}/run"],
     ["job 1 (position=randomized_rope_L128 seed=1)", "like job 0 (position=randomized_rope_L128 seed=0)",
      "hydra.sweep.subdir"]),
    ("option-missing-in-a-swept-scheme", "lengthgen-train", ["-m", "position=randomized_rope,rope",
                                                            "position.max_len=128", "hydra.sweep.dir={dir}/run"],
     ["job 1 (position=rope)", "unknown option 'max_len'"]),
    ("collect-empty-dir", "lengthgen", ["collect", "{dir}"], ["no finished runs", "{dir}"]),
    ("collect-missing-dir", "lengthgen", ["collect", "{dir}/missing"], ["no finished runs", "{dir}/missing"]),
    ("plot-empty-dir", "lengthgen", ["plot", "{dir}"], ["no finished runs"]),
    ("report-empty-dir", "lengthgen", ["report", "{dir}"], ["no finished runs"]),
]
CASES = [c if len(c) == 5 else (*c, False) for c in CASES]


def make_plugin_dir(root: Path) -> Path:
    """A directory that, on PYTHONPATH, installs three bad task plugins through entry points."""
    package = root / "lg_badplugins"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name, source in PLUGIN_MODULES.items():
        (package / name).write_text(source)
    info = root / "lg_badplugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lg-badplugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(PLUGIN_ENTRY_POINTS)
    return root


def invoke(case, base: Path, plugins: Path, extra_env: dict | None = None) -> dict:
    case_id, program, args, _, needs_plugins = case
    scratch = base / case_id
    scratch.mkdir(parents=True)
    (scratch / "afile").write_text("not a directory\n")
    fill = {"dir": str(scratch), "file": str(scratch / "afile")}
    args = [a.format(**fill) for a in args]
    if program == "lengthgen-train" and not any(a.startswith(("hydra.run.dir=", "hydra.sweep.dir=")) for a in args):
        args.append(f"hydra.run.dir={scratch}/run")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_LOG_COMPILES": "1"}
    env.pop("LENGTHGEN_DEBUG", None)
    env.update(extra_env or {})
    if needs_plugins:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugins), env.get("PYTHONPATH")]))
    proc = subprocess.run([str(BIN / program), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "scratch": scratch, "fill": fill}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_inputs")
    plugins = make_plugin_dir(base / "plugins")
    workers = max(2, min(4, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        futures = {case[0]: pool.submit(invoke, case, base / "cases", plugins) for case in CASES}
        return {key: future.result() for key, future in futures.items()}


def test_catalogue_is_large_enough():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_invocation_fails_with_one_clear_line(case, outcomes):
    case_id, program, _, expected, _ = case
    out = outcomes[case_id]
    lines = [line for line in out["stderr"].splitlines() if line.strip()]
    assert out["rc"] != 0, out
    assert len(lines) == 1, f"expected one line on stderr, got:\n{out['stderr']}"
    assert lines[0].startswith(f"{program}: error: "), lines[0]
    for text in expected:
        assert text.format(**out["fill"]) in lines[0], lines[0]
    assert "Traceback" not in out["stderr"] + out["stdout"]
    assert not (out["scratch"] / "run").exists(), "a run directory was created"


def test_debug_env_shows_the_traceback(tmp_path):
    """LENGTHGEN_DEBUG=1 trades the one-line error for the full traceback."""
    case = ("debug", "lengthgen-train", ["model.heads=3"], [], False)
    out = invoke(case, tmp_path, tmp_path, {"LENGTHGEN_DEBUG": "1"})
    assert out["rc"] != 0
    assert "Traceback" in out["stderr"] and "ConfigError" in out["stderr"]
    assert "model.heads (3)" in out["stderr"]
