"""Crash safety, resume and numerical faults.

The kill tests drive the real `lengthgen-train` in a subprocess, SIGKILL it at
moments drawn from a seeded RNG (during training, evaluation and writing), check
that every file left behind is whole, relaunch into the same directory and
compare the final curve.csv, byte for byte, with an uninterrupted run. The
subprocesses share a private persistent compilation cache (LENGTHGEN_CACHE_DIR)
that the uninterrupted run fills, so relaunches skip most compilation.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import yaml
from flax import serialization

from conftest import BIN, ROOT
from lengthgen.config import TrainConfig, fingerprint
from lengthgen.errors import ConfigError
from lengthgen.evaluate import CURVE_COLUMNS
from lengthgen.program import Functions, functions
from lengthgen.results import CHECKPOINT, PARAMS, read_checkpoint, save_checkpoint
from lengthgen.run import run
from lengthgen.train import FAILED, TrainingFailed, checkpoint_interval

TOY = ["train.max_length=4", "train.min_length=1", "train.batch_size=8", "train.chunk_steps=10",
       "train.checkpoint_every=20", "train.buckets=2", "train.warmup_steps=5", "model.layers=1", "model.d_model=16",
       "model.heads=2", "model.mlp_dim=32", "eval.max_length=8", "eval.samples_per_length=8", "eval.batch_size=8",
       "progress=false"]
OUR_FILES = ("config.yaml", "curve.csv", "summary.json", "curve.png", PARAMS, CHECKPOINT, FAILED)
SUMMARY_METRICS = ("mean_test_token_acc", "mean_test_seq_acc", "generalization_length", "per_seed")
MARKERS = {"train": "training steps", "checkpoint": "checkpoint at step", "eval": "evaluating ",
           "write": "writing results"}


class Launch:
    """A `lengthgen-train` subprocess whose stdout lines are read as they come."""

    def __init__(self, run_dir: Path, args: list[str], cache: Path):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LENGTHGEN_CACHE_DIR": str(cache)}
        env.pop("LENGTHGEN_DEBUG", None)
        self.start = time.monotonic()
        self.proc = subprocess.Popen([str(BIN / "lengthgen-train"), *args, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=lambda: self.errors.extend(self.proc.stderr), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, marker: str, count: int = 1, timeout: float = 300) -> bool:
        """Block until the count-th line containing `marker`; False if the process ended first."""
        deadline = time.monotonic() + timeout
        hits = 0
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                return False
            self.seen.append((time.monotonic() - self.start, line))
            if marker in line:
                hits += 1
                if hits >= count:
                    return True
        raise TimeoutError(f"no '{marker}' after {timeout}s")

    def kill(self) -> bool:
        """SIGKILL the run; False if it had already exited."""
        if self.proc.poll() is not None:
            return False
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(60)
        return self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append((time.monotonic() - self.start, line))
        return self.proc.returncode, "\n".join(line for _, line in self.seen), "".join(self.errors)

    def phase(self) -> str:
        """The run's phase when last heard from, by the last marker line it printed."""
        current = "startup"
        for _, line in self.seen:
            for name, marker in MARKERS.items():
                if marker in line:
                    current = "train" if name == "checkpoint" else name
        return current


def complete(run_dir: Path, args: list[str], cache: Path) -> tuple[str, str]:
    launch = Launch(run_dir, args, cache)
    rc, out, err = launch.finish()
    assert rc == 0, f"run failed ({rc}):\n{out}\n{err}"
    return out, err


def check_files_whole(run_dir: Path) -> list[str]:
    """Every file of ours in `run_dir` parses completely; returns their names."""
    present = [name for name in OUR_FILES if (run_dir / name).exists()]
    assert FAILED not in present
    if "config.yaml" in present:
        assert isinstance(yaml.safe_load((run_dir / "config.yaml").read_text())["train"], dict)
    if "curve.csv" in present:
        curve = pd.read_csv(run_dir / "curve.csv")
        assert list(curve.columns) == CURVE_COLUMNS and len(curve) == 8
    if "summary.json" in present:
        assert set(SUMMARY_METRICS) <= set(json.loads((run_dir / "summary.json").read_text()))
    if "curve.png" in present:
        data = (run_dir / "curve.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[-12:-4] == b"\x00\x00\x00\x00IEND"
    if PARAMS in present:
        raw = serialization.msgpack_restore((run_dir / PARAMS).read_bytes())
        assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(raw))
    if CHECKPOINT in present:
        raw = read_checkpoint(run_dir)
        steps = np.asarray(raw["state"]["step"])
        assert steps.shape == (1,) and steps[0] % 20 == 0 and steps[0] > 0
        assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(raw["state"]["params"]))
    return present


def summary_metrics(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {k: summary[k] for k in SUMMARY_METRICS}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("xla_cache")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, cache):
    """An uninterrupted run of 60 steps (it also fills the compilation cache)."""
    run_dir = tmp_path_factory.mktemp("baseline") / "run"
    args = [*TOY, "train.steps=60"]
    complete(run_dir, args, cache)
    assert not (run_dir / CHECKPOINT).exists(), "a finished run keeps no checkpoint"
    return {"dir": run_dir, "args": args, "curve": (run_dir / "curve.csv").read_bytes(),
            "metrics": summary_metrics(run_dir)}


def test_kill_after_a_checkpoint_resumes_to_identical_results(baseline, cache, tmp_path):
    run_dir = tmp_path / "run"
    launch = Launch(run_dir, baseline["args"], cache)
    assert launch.wait_for(MARKERS["checkpoint"]), launch.finish()
    assert launch.kill(), "the run finished before it could be killed"
    left = check_files_whole(run_dir)
    assert CHECKPOINT in left and "summary.json" not in left

    out, _ = complete(run_dir, baseline["args"], cache)
    assert re.search(r"resumed from step [1-9]\d*", out), out
    assert (run_dir / "curve.csv").read_bytes() == baseline["curve"]
    assert summary_metrics(run_dir) == baseline["metrics"]
    assert not (run_dir / CHECKPOINT).exists()

    stamp = (run_dir / "summary.json").stat().st_mtime_ns
    out, _ = complete(run_dir, baseline["args"], cache)
    assert "run already finished" in out and "training steps" not in out
    assert (run_dir / "summary.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_repeated_random_kills_leave_no_corrupt_file_and_identical_results(cache, tmp_path_factory):
    """Eight kills at seeded-random moments across startup, training, evaluation and writing."""
    rng = random.Random(20240611)
    args = [*TOY, "train.steps=100"]
    base_dir = tmp_path_factory.mktemp("kill_baseline") / "run"
    complete(base_dir, args, cache)
    run_dir = tmp_path_factory.mktemp("killed") / "run"
    plan = [("checkpoint", rng.randint(1, 2), rng.uniform(0, 0.05)),
            (None, 1, rng.uniform(0.5, 4.0)),
            ("checkpoint", 1, rng.uniform(0, 0.3)),
            ("train", 1, rng.uniform(0, 0.5)),
            ("eval", 1, rng.uniform(0, 0.1)),
            ("write", 1, rng.uniform(0, 0.3)),
            ("eval", 1, rng.uniform(0, 0.1)),
            ("write", 1, rng.uniform(0, 0.3))]
    survived = []
    for marker, count, delay in plan:
        launch = Launch(run_dir, args, cache)
        if marker is not None:
            assert launch.wait_for(MARKERS[marker], count), f"run ended before '{marker}'"
        time.sleep(delay)
        if not launch.kill():
            break
        launch.finish()
        left = check_files_whole(run_dir)
        step = int(np.asarray(read_checkpoint(run_dir)["state"]["step"])[0]) if CHECKPOINT in left else None
        survived.append((launch.phase(), round(delay, 3), step, left))
    print("kills (phase, delay s, checkpoint step, files present):", *survived, sep="\n  ")
    assert len(survived) == len(plan), f"only {len(survived)} kills landed: {survived}"
    phases = {phase for phase, *_ in survived}
    assert {"train", "eval", "write"} <= phases, survived

    complete(run_dir, args, cache)
    assert (run_dir / "curve.csv").read_bytes() == (base_dir / "curve.csv").read_bytes()
    assert summary_metrics(run_dir) == summary_metrics(base_dir)
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert not (run_dir / CHECKPOINT).exists()


def test_nan_loss_from_the_cli_fails_with_one_line(tmp_path, cache):
    """lr=1e30 blows the loss up within a few steps: exit 1, one line, failed.json, no results."""
    run_dir = tmp_path / "run"
    launch = Launch(run_dir, [*TOY, "train.steps=40", "train.lr=1e30"], cache)
    rc, _, err = launch.finish()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1
    assert len(lines) == 1 and lines[0].startswith("lengthgen-train: error: non-finite loss"), err
    failed = json.loads((run_dir / FAILED).read_text())
    assert failed["step"] >= 1 and f"at step {failed['step']}" in lines[0]
    assert not (run_dir / "summary.json").exists() and not (run_dir / "curve.csv").exists()


def poison_after(step: int, target: str):
    """A Functions._train_step that, from `step` on, makes the loss (or only the parameters) NaN."""
    original = Functions._train_step

    def poisoned(self, state, ex):
        new, metrics = original(self, state, ex)
        nan = jnp.where(state.step >= step, jnp.nan, 0.0)
        params = jax.tree.map(lambda p: p + nan.astype(p.dtype), new.params)
        if target == "loss":
            metrics = {**metrics, "loss": metrics["loss"] + nan}
        return new.replace(params=params), metrics

    return poisoned


@pytest.fixture
def fresh_functions():
    """No jitted functions of earlier tests, before and after: a patched step must be traced."""
    functions.cache_clear()
    yield
    functions.cache_clear()


@pytest.mark.parametrize("target, failed_step, reason", [("loss", 16, "non-finite loss (nan) at step 16 of seed 0"),
                                                         ("params", 20, "non-finite parameters at step 20")])
def test_nan_keeps_the_last_good_checkpoint(monkeypatch, fresh_functions, tmp_path, tiny, target, failed_step, reason):
    cfg = tiny(train=TrainConfig(max_length=4, steps=30, batch_size=8, chunk_steps=10, warmup_steps=5,
                                        buckets=1, checkpoint_every=10))
    poison_from = 15 if target == "loss" else 19
    monkeypatch.setattr(Functions, "_train_step", poison_after(poison_from, target))
    with pytest.raises(TrainingFailed, match=re.escape(reason)) as info:
        run(cfg, tmp_path)
    assert "\n" not in str(info.value) and "last good checkpoint at step 10" in str(info.value)
    failed = json.loads((tmp_path / FAILED).read_text())
    assert failed["step"] == failed_step and failed["checkpoint_step"] == 10 and failed["reason"] == reason
    raw = read_checkpoint(tmp_path)
    assert int(np.asarray(raw["state"]["step"])[0]) == 10
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(raw["state"]))
    assert not (tmp_path / "curve.csv").exists() and not (tmp_path / "summary.json").exists()

    if target == "loss":
        monkeypatch.undo()
        functions.cache_clear()
        summary = run(cfg, tmp_path)
        assert np.isfinite(summary["mean_test_token_acc"])
        assert not (tmp_path / FAILED).exists() and not (tmp_path / CHECKPOINT).exists()


def test_checkpoint_of_another_configuration_is_refused(tmp_path, tiny):
    ours = tiny()
    other = tiny(steps=40)
    save_checkpoint(tmp_path, {"step": np.zeros(1, np.int32)},
                    {"config": json.dumps(fingerprint(other, with_eval=False))})
    with pytest.raises(ConfigError, match=r"another configuration \(train\.steps: 40 there, 20 now\); "
                                          r"relaunch with overwrite=true"):
        run(ours, tmp_path, files={"config.yaml": "train: {}\n"})
    assert not (tmp_path / "config.yaml").exists(), "config.yaml must not be overwritten before the check"


def test_unreadable_checkpoint_is_one_line_error(tmp_path, tiny):
    (tmp_path / CHECKPOINT).write_bytes(b"\xc1 not msgpack")
    with pytest.raises(ConfigError, match="is unreadable.*delete it to restart the run"):
        run(tiny(), tmp_path)


def test_relaunch_refuses_other_settings_keeps_hydra_files_and_overwrite_replaces(tmp_path, cache):
    """The real command: same settings are skipped, other settings refused in one line with
    .hydra/ and results untouched, overwrite=true runs the new settings."""
    run_dir = tmp_path / "run"
    assert Launch(run_dir, [*TOY, "train.steps=20"], cache).finish()[0] == 0
    kept = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != "run.log"}
    assert {Path(".hydra/config.yaml"), Path(".hydra/overrides.yaml"), Path("summary.json")} <= set(kept)

    rc, _, err = Launch(run_dir, [*TOY, "train.steps=30", "task=copy"], cache).finish()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert "task.name: 'reverse_string' there, 'copy' now" in lines[0] and "train.steps: 20 there, 30 now" in lines[0]
    rc, out, _ = Launch(run_dir, [*TOY, "train.steps=20"], cache).finish()
    assert rc == 0 and "run already finished" in out
    assert {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*")
            if p.is_file() and p.name != "run.log"} == kept

    assert Launch(run_dir, [*TOY, "train.steps=30", "task=copy", "overwrite=true"], cache).finish()[0] == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == "copy" and summary["steps"] == 30
    assert "task=copy" in (run_dir / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize("every, chunk, expected", [(0, 25, 0), (500, 25, 20), (30, 25, 2), (25, 25, 1), (1, 25, 1)])
def test_checkpoint_interval_rounds_up_to_whole_chunks(every, chunk, expected):
    assert checkpoint_interval(TrainConfig(checkpoint_every=every, chunk_steps=chunk)) == expected


def test_default_checkpoint_every_is_500_steps():
    assert TrainConfig().checkpoint_every == 500
