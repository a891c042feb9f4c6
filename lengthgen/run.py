"""One run: build, train (resuming from a checkpoint), evaluate, write results.

Files in the run directory: config.yaml (resolved), curve.csv, summary.json,
curve.png, run.log, and checkpoint.msgpack while training. A finished run
(summary.json present) is not redone.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lengthgen.build import Built, build
from lengthgen.config import RunConfig
from lengthgen.data import TrainStream
from lengthgen.results import load_checkpoint, save_checkpoint, write_csv, write_json

log = logging.getLogger("lengthgen")
SUMMARY_MEANS = ("mean_test_token_acc", "mean_test_seq_acc", "generalization_length")


class CompileCounter:
    """Counts XLA backend compilations (every program jax builds) while active."""

    _instance: "CompileCounter | None" = None

    def __init__(self):
        self.count = 0

    @classmethod
    def get(cls) -> "CompileCounter":
        if cls._instance is None:
            from jax import monitoring

            cls._instance = cls()
            monitoring.register_event_duration_secs_listener(cls._instance._on_event)
        return cls._instance

    def _on_event(self, name: str, duration: float, **kwargs) -> None:
        if name == "/jax/core/compile/backend_compile_duration":
            self.count += 1


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("lengthgen", "jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True, leave=False)


def train(built: Built, program, run_dir: Path, counter: CompileCounter):
    """Train every seed to cfg.train.steps, checkpointing every K steps; returns (params, seconds)."""
    import jax

    from lengthgen.train import raw_key

    cfg, t = built.cfg, built.cfg.train
    stream = TrainStream(built.task, built.layout, built.train_lengths, t.buckets, t.batch_size, t.chunk_steps)
    keys = np.stack([raw_key(seed) for seed in cfg.seeds])
    state = program.init(keys, max(stream.sizes))
    meta = {"train_seconds": 0.0}
    restored = load_checkpoint(run_dir, state)
    if restored is not None:
        state, meta = restored
        log.info("resumed from step %d", int(np.asarray(state.step)[0]))
    chunks = -(-t.steps // t.chunk_steps)
    first = int(np.asarray(state.step)[0]) // t.chunk_steps
    every = max(1, t.checkpoint_every // t.chunk_steps) if t.checkpoint_every else 0
    elapsed = float(meta["train_seconds"])
    bar = progress_bar(chunks * t.chunk_steps, "train", cfg.progress)
    bar.update(first * t.chunk_steps)
    for chunk in range(first, chunks):
        start = time.perf_counter()
        _, examples = stream.chunk(cfg.seeds, chunk)
        state, metrics = program.train_chunk(state, examples)
        loss = np.asarray(metrics["loss"])
        elapsed += time.perf_counter() - start
        if not np.all(np.isfinite(loss)):
            raise FloatingPointError(f"non-finite loss at step {(chunk + 1) * t.chunk_steps}")
        acc = float(np.asarray(metrics["acc"])[:, -1].mean())
        bar.set_postfix(loss=f"{loss[:, -1].mean():.3f}", acc=f"{acc:.3f}")
        bar.update(t.chunk_steps)
        last = chunk == chunks - 1
        if every and ((chunk + 1) % every == 0 or last):
            save_checkpoint(run_dir, state, {"train_seconds": elapsed})
        if (chunk + 1) % max(1, chunks // 10) == 0 or last:
            log.info("step %d loss %.4f acc %.3f (%.1f steps/s)", (chunk + 1) * t.chunk_steps,
                     float(loss[:, -1].mean()), acc, (chunk + 1 - first) * t.chunk_steps / max(elapsed, 1e-9))
    bar.close()
    jax.block_until_ready(state.params)
    return state.params, elapsed


def run(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Run (or resume) one configuration into `run_dir`; returns the summary."""
    from lengthgen.evaluate import curve_table, evaluate, summarize
    from lengthgen.plots import plot_curves
    from lengthgen.train import Program

    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        log.info("run already finished: %s", summary_path)
        return json.loads(summary_path.read_text())
    built = build(cfg)
    counter = CompileCounter.get()
    compiled_before = counter.count
    program = Program(built)
    params, train_seconds = train(built, program, run_dir, counter)

    start = time.perf_counter()
    sets = {"default": built.task, **{k: built.task.variant(v) for k, v in built.task.eval_variants.items()}}
    bar = progress_bar(len(built.eval_lengths) * len(sets), "eval", cfg.progress)
    curve = pd.concat([curve_table(built, evaluate(program, params, built.eval_lengths, bar, task), name)
                       for name, task in sets.items()], ignore_index=True)
    bar.close()
    eval_seconds = time.perf_counter() - start
    write_csv(run_dir / "curve.csv", curve)

    per_seed = []
    for seed, rows in curve.groupby("seed", sort=True):
        per_seed.append({"seed": int(seed), **summarize(rows, cfg.train.max_length)})
    means = {k: float(np.mean([p[k] for p in per_seed])) for k in SUMMARY_MEANS}
    summary = {
        "task": built.task.name, "model": built.model.name, "position": built.position.name,
        "seeds": cfg.seeds, "train_max_length": cfg.train.max_length, "eval_max_length": cfg.eval.max_length,
        **means, "per_seed": per_seed, "steps": cfg.train.steps, "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(eval_seconds, 3), "compiled_programs": counter.count - compiled_before,
        "versions": versions(), "git_commit": git_commit(),
    }
    plot_curves(curve[curve.eval_set == "default"], run_dir / "curve.png", train_max_length=cfg.train.max_length,
                title=f"{built.task.name} / {built.model.name}")
    write_json(summary_path, summary)
    log.info("mean test acc %.3f (token) %.3f (seq), generalization length %s, %d programs compiled",
             summary["mean_test_token_acc"], summary["mean_test_seq_acc"], summary["generalization_length"],
             summary["compiled_programs"])
    return summary
