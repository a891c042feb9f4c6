"""Shared helpers: tiny configurations and a runner for the real command-line entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests run with the XLA flags users get (their numerics are what the learning checks are about);
# compiled programs are shared between tests and test subprocesses through one cache.
os.environ.setdefault("LENGTHGEN_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "lengthgen-test-xla"))

from lengthgen.config import EvalConfig, ModelConfig, RunConfig, TrainConfig

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tiny_config(task="reverse_string", position="rope", model="encoder", steps=20, n=4, m=8, **kw) -> RunConfig:
    """A run small enough to train and evaluate in seconds."""
    task_node = task if isinstance(task, dict) else {"name": task}
    pos_node = position if isinstance(position, dict) else {"name": position}
    return RunConfig(
        task=task_node, position=pos_node,
        model=kw.pop("model_cfg", ModelConfig(kind=model, layers=1, d_model=16, heads=2, mlp_dim=32)),
        train=kw.pop("train", TrainConfig(max_length=n, steps=steps, batch_size=8, chunk_steps=10, warmup_steps=5,
                                            buckets=1)),
        eval=kw.pop("eval", EvalConfig(max_length=m, samples_per_length=8, batch_size=8)),
        **{"progress": False, **kw})


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run an installed console script (lengthgen, lengthgen-train) and capture its output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    cmd = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(cmd, cwd=cwd or ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def on_devices(script: str, root: Path, devices: int = 4) -> dict:
    """Run a Python `script` with `devices` forced CPU devices (fixed when JAX starts, so in a fresh
    process), given `root` and this folder as argv[1:]; returns the JSON its last line prints."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    done = subprocess.run([sys.executable, "-c", script, str(root), str(ROOT / "tests")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session", autouse=True)
def compilation_cache():
    from lengthgen.runtime import enable_compilation_cache

    return enable_compilation_cache()


@pytest.fixture
def tiny():
    return tiny_config
