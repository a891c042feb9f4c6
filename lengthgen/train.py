"""Training every model of a run: the loop around the compiled chunk (`lengthgen.program`),
with resume, fit checks, checkpoints, the non-finite stop and progress.

Resume. The checkpoint holds the full `TrainState` of every model: parameters,
optimizer state, step and PRNG key; the step is also the data-stream position
(`TrainStream` is a pure function of seed and step). It is written every
`train.checkpoint_every` steps, rounded up to whole chunks of
`train.chunk_steps` (0 = no checkpoints), and when training ends, so a kill
during evaluation or writing costs no training. Launching the same
configuration into the same directory continues from the checkpoint and writes
the same curve.csv, byte for byte, as an uninterrupted run; a checkpoint of a
different configuration is refused.

Failure. A non-finite loss (or non-finite parameters at a checkpoint) stops
training before anything from that chunk is saved: the last good checkpoint is
kept, failed.json records the reason and step, and `TrainingFailed` carries a
one-line message. Launching the run again retries from that checkpoint.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from lengthgen.build import Built
from lengthgen.config import RunConfig, differences, fingerprint, listed
from lengthgen.data import TrainStream
from lengthgen.errors import ConfigError
from lengthgen.results import CHECKPOINT, read_checkpoint, restore_state, save_checkpoint, write_json
from lengthgen.runtime import CompileCounter, progress_bar
from lengthgen.trackers import Tracker

log = logging.getLogger("lengthgen")
FAILED = "failed.json"
FIT_AT = 0.9


class TrainingFailed(FloatingPointError):
    """Training produced a non-finite loss or parameters; the run is marked failed."""


def checkpoint_interval(t) -> int:
    """Chunks between checkpoints: `checkpoint_every` steps rounded up to whole chunks (0 = never)."""
    return -(-t.checkpoint_every // t.chunk_steps)


def check_checkpoint(cfg: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The run directory's raw checkpoint, refused (ConfigError) if another configuration wrote it."""
    raw = read_checkpoint(run_dir)
    if raw is None:
        return None
    stored = json.loads(raw["meta"].get("config", "null"))
    if stored is None:
        raise ConfigError(f"{Path(run_dir) / CHECKPOINT} records no configuration, so resuming from it is unsafe; "
                          "delete it or relaunch with overwrite=true to restart the run")
    diffs = differences(stored, fingerprint(cfg, with_eval=False))
    if diffs:
        raise ConfigError(f"{Path(run_dir) / CHECKPOINT} belongs to another configuration ({listed(diffs)}); "
                          "relaunch with overwrite=true to replace it, or use another output directory")
    return raw


def model_name(cfg: RunConfig, index: int) -> str:
    """'seed 3', or 'seed 3 (lr 0.001)' in a run of several learning rates."""
    lr, seed = cfg.models[index]
    return f"seed {seed}" + (f" (lr {lr:g})" if len(cfg.lrs) > 1 else "")


def all_finite(tree) -> bool:
    return all(bool(np.isfinite(leaf).all()) for leaf in jax.tree.leaves(tree)
               if np.issubdtype(np.asarray(leaf).dtype, np.inexact))


def fail(run_dir: Path, reason: str, step: int, seed: int | None, checkpoint_step: int | None):
    """Record the failure in failed.json and raise TrainingFailed with a one-line reason."""
    write_json(run_dir / FAILED, {"reason": reason, "step": step, "seed": seed, "checkpoint_step": checkpoint_step,
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    kept = f"last good checkpoint at step {checkpoint_step}" if checkpoint_step is not None else "no checkpoint yet"
    raise TrainingFailed(f"{reason}; run marked failed ({run_dir / FAILED}), {kept}")


def train(built: Built, program, run_dir: Path, checkpoint: dict[str, Any] | None = None, tracker: Tracker | None = None,
          fit_check: Callable[[Any], list[float]] | None = None):
    """Train every model (lr, seed) to cfg.train.steps; returns (params, seconds, per_model, fit_history):
    per_model maps a name to one value per model (the loss of the first step, the mean loss of the
    last chunk, the steps trained and, with `train.fit_every`, the steps to fit).

    `checkpoint` is the raw checkpoint to continue from (see `check_checkpoint`);
    `tracker` receives every chunk's metrics (`lengthgen.trackers`); `fit_check(params)`, needed
    with `train.fit_every`, gives each model's lowest exact match over the training lengths.
    """
    cfg, t = built.cfg, built.cfg.train
    tracker = tracker or Tracker(cfg)
    stream = TrainStream(built.task, built.layout, built.train_lengths, t.buckets, t.batch_size, t.chunk_steps)
    seeds = [seed for _, seed in cfg.models]
    size = max(stream.sizes)
    meta = {"train_seconds": 0.0, "config": json.dumps(fingerprint(cfg, with_eval=False), sort_keys=True)}
    if checkpoint is not None:
        state = restore_state(program.state_shape(size), checkpoint["state"], str(run_dir / CHECKPOINT))
        meta["train_seconds"] = float(checkpoint["meta"].get("train_seconds", 0.0))
        for key in ("first_loss", "last_loss", "fit_history"):
            meta[key] = checkpoint["meta"].get(key, "null")
    else:
        state = program.start(size)
    done = int(np.asarray(state.step)[0])
    saved_step = done if checkpoint is not None else None
    chunks = -(-t.steps // t.chunk_steps)
    first = done // t.chunk_steps
    fit_every = -(-t.fit_every // t.chunk_steps)  # 0: no fit checks
    history = json.loads(meta.get("fit_history", "null")) or []
    if t.stop_when_fit and history and history[-1]["step"] == done and all_fit(history[-1]):
        first = chunks  # stopped here before the checkpoint was read back
    every = checkpoint_interval(t)
    elapsed = resumed_at = meta["train_seconds"]
    building = 0.0  # of `elapsed` since this process started training: building programs
    if checkpoint is not None:
        log.info("resumed from step %d", done)
    log.info("training steps %d..%d", first * t.chunk_steps, chunks * t.chunk_steps)
    bar = progress_bar(chunks * t.chunk_steps, "train", cfg.progress)
    bar.update(first * t.chunk_steps)
    for chunk in range(first, chunks):
        step = (chunk + 1) * t.chunk_steps
        start, compiling = time.perf_counter(), CompileCounter.get().totals()[2]
        _, examples = stream.chunk(seeds, chunk)
        state, metrics = program.train_chunk(state, examples)
        loss = np.asarray(metrics["loss"])
        seconds = time.perf_counter() - start
        built_now = CompileCounter.get().totals()[2] - compiling
        elapsed += seconds
        building += built_now
        if chunk == 0:
            meta["first_loss"] = json.dumps(loss[:, 0].tolist())
        meta["last_loss"] = json.dumps(loss.mean(axis=1).tolist())
        if not np.all(np.isfinite(loss)):
            offset, seed_idx = np.argwhere(~np.isfinite(loss.T))[0]  # the first step, then the first model
            bad = chunk * t.chunk_steps + int(offset) + 1
            fail(run_dir, f"non-finite loss ({loss[seed_idx, offset]}) at step {bad} of {model_name(cfg, seed_idx)}",
                 bad, seeds[seed_idx], saved_step)
        acc = float(np.asarray(metrics["acc"])[:, -1].mean())
        tracker.train(step, loss, np.asarray(metrics["acc"]), None if built_now else t.chunk_steps / max(seconds, 1e-9))
        bar.set_postfix(loss=f"{loss[:, -1].mean():.3f}", acc=f"{acc:.3f}")
        bar.update(t.chunk_steps)
        last = chunk == chunks - 1
        if fit_every and ((chunk + 1) % fit_every == 0 or last):
            history.append({"step": step, "min_seq_acc": fit_check(state.params)})
            meta["fit_history"] = json.dumps(history)
            tracker.fit_check(step, history[-1]["min_seq_acc"])
            log.info("step %d: lowest exact match at lengths <= %d: %s", step, t.max_length,
                     " ".join(f"{a:.3f}" for a in history[-1]["min_seq_acc"]))
            if t.stop_when_fit and all_fit(history[-1]) and not last:
                log.info("every model fits its training lengths: stopping at step %d", step)
                last = True
        if every and ((chunk + 1) % every == 0 or last):
            host = jax.device_get(state)
            if not all_finite((host.params, host.opt_state)):
                fail(run_dir, f"non-finite parameters at step {step}", step, None, saved_step)
            save_checkpoint(run_dir, host, {**meta, "train_seconds": elapsed, "step": step})
            saved_step = step
            log.info("checkpoint at step %d", step)
        if (chunk + 1) % max(1, chunks // 10) == 0 or last:
            log.info("step %d loss %.4f acc %.3f (%.1f steps/s, not counting %.1f s building programs)",
                     step, float(loss[:, -1].mean()), acc,
                     (chunk + 1 - first) * t.chunk_steps / max(elapsed - resumed_at - building, 1e-9), building)
        if last:
            break
    bar.close()
    jax.block_until_ready(state.params)
    if not every and not all_finite(jax.device_get(state.params)):
        fail(run_dir, f"non-finite parameters at step {chunks * t.chunk_steps}", chunks * t.chunk_steps, None, None)
    unknown = [float("nan")] * len(cfg.models)
    per_model = {f"train_loss_{which}": json.loads(meta.get(f"{which}_loss", "null")) or unknown
                 for which in ("first", "last")}
    if fit_every:
        per_model["steps_to_fit"] = [next((h["step"] for h in history if h["min_seq_acc"][i] >= FIT_AT), None)
                                     for i in range(len(cfg.models))]
    per_model["steps_trained"] = np.asarray(state.step).tolist()
    return state.params, elapsed, per_model, history


def all_fit(entry: dict[str, Any]) -> bool:
    return all(a >= FIT_AT for a in entry["min_seq_acc"])


