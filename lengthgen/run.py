"""One run: build, train (resuming from a checkpoint), evaluate, write results.

Files in the run directory: config.yaml (resolved), curve.csv, summary.json,
curve.png, params.msgpack (final parameters), run.log; with `eval.attention_lengths`,
attention.csv, steps.csv and attention_L<length>.npz/.png (`lengthgen.attention_maps`);
checkpoint.msgpack while the run is unfinished; failed.json after a non-finite loss.
Every file is written atomically (`lengthgen.results`).

Resume. The checkpoint holds the full `TrainState` of every seed: parameters,
optimizer state, step and PRNG key; the step is also the data-stream position
(`TrainStream` is a pure function of seed and step). It is written every
`train.checkpoint_every` steps, rounded up to whole chunks of
`train.chunk_steps` (0 = no checkpoints), and when training ends, so a kill
during evaluation or writing costs no training. Launching the same
configuration into the same directory continues from the checkpoint and writes
the same curve.csv, byte for byte, as an uninterrupted run; a checkpoint of a
different configuration is refused. A finished run (summary.json present) is
not redone, so its checkpoint is deleted once summary.json is written: nothing
would read it again, and a sweep would keep optimizer state for every run.

Failure. A non-finite loss (or non-finite parameters at a checkpoint) stops
training before anything from that chunk is saved: the last good checkpoint is
kept, failed.json records the reason and step, and `TrainingFailed` carries a
one-line message. Launching the run again retries from that checkpoint.

Determinism. On CPU the same configuration and seed give the same curve.csv
and summary metrics bit for bit. A seed trained inside a multi-seed run sees
the same data and keys as a single-seed run of that seed, but XLA vectorizes
the vmapped program differently, so parameters agree only to float32 rounding
(about 1e-6 after tens of steps; tests/test_determinism.py holds the tolerance).
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
from lengthgen.config import NOT_RESULTS, RunConfig
from lengthgen.data import TrainStream
from lengthgen.errors import ConfigError
from lengthgen.runtime import CompileCounter
from lengthgen.trackers import Tracker, tracking
from lengthgen.results import (CHECKPOINT, PARAMS, read_checkpoint, remove_temp_files, restore_state,
                               save_checkpoint, save_params, write_csv, write_json, write_text)

log = logging.getLogger("lengthgen")
SUMMARY_MEANS = ("mean_test_token_acc", "mean_test_seq_acc", "generalization_length")
FAILED = "failed.json"
SUMMARY = "summary.json"


class TrainingFailed(FloatingPointError):
    """Training produced a non-finite loss or parameters; the run is marked failed."""


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


def checkpoint_interval(t) -> int:
    """Chunks between checkpoints: `checkpoint_every` steps rounded up to whole chunks (0 = never)."""
    return -(-t.checkpoint_every // t.chunk_steps) if t.checkpoint_every else 0


def fingerprint(cfg: RunConfig, with_eval: bool = True) -> dict[str, Any]:
    """The settings a run's results depend on; without `eval`, those its checkpoint depends on."""
    out = cfg.to_dict()
    for key in NOT_RESULTS + (() if with_eval else ("eval",)):
        section, _, leaf = key.rpartition(".")
        (out.get(section, {}) if section else out).pop(leaf, None)
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """'key: old there, new now' for every dotted key whose value differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)
                for d in differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [f"{prefix.rstrip('.')}: {old!r} there, {new!r} now"]


def _listed(diffs: list[str], shown: int = 3) -> str:
    more = f"; and {len(diffs) - shown} more" if len(diffs) > shown else ""
    return "; ".join(diffs[:shown]) + more


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
        raise ConfigError(f"{Path(run_dir) / CHECKPOINT} belongs to another configuration ({_listed(diffs)}); "
                          "relaunch with overwrite=true to replace it, or use another output directory")
    return raw


def check_finished(cfg: RunConfig, run_dir: Path) -> dict[str, Any] | None:
    """The summary of the finished run in `run_dir` if it is this configuration's; refused
    (ConfigError) if another configuration's; None if the directory holds no finished run."""
    path = Path(run_dir) / SUMMARY
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    stored = summary.get("config")
    diffs = (differences(stored, fingerprint(cfg)) if stored is not None
             else ["its summary.json records no configuration"])
    if diffs:
        raise ConfigError(f"{run_dir} holds a finished run of another configuration ({_listed(diffs)}); "
                          "relaunch with overwrite=true to replace it, or use another output directory")
    return summary


def model_name(cfg: RunConfig, index: int) -> str:
    """'seed 3', or 'seed 3 (lr 0.001)' in a run of several learning rates."""
    lr, seed = cfg.models[index]
    return f"seed {seed}" + (f" (lr {lr:g})" if len(cfg.lrs) > 1 else "")


def all_finite(tree) -> bool:
    import jax

    return all(bool(np.isfinite(leaf).all()) for leaf in jax.tree.leaves(tree)
               if np.issubdtype(np.asarray(leaf).dtype, np.inexact))


def fail(run_dir: Path, reason: str, step: int, seed: int | None, checkpoint_step: int | None):
    """Record the failure in failed.json and raise TrainingFailed with a one-line reason."""
    kept = f"last good checkpoint at step {checkpoint_step}" if checkpoint_step is not None else "no checkpoint yet"
    message = f"{reason}; run marked failed ({run_dir / FAILED}), {kept}"
    write_json(run_dir / FAILED, {"reason": reason, "step": step, "seed": seed, "checkpoint_step": checkpoint_step,
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    raise TrainingFailed(message)


def train(built: Built, program, run_dir: Path, checkpoint: dict[str, Any] | None = None, tracker: Tracker | None = None):
    """Train every model (lr, seed) to cfg.train.steps, checkpointing every K steps; returns
    (params, seconds, per_model, fit_history): per_model maps a name to one value per
    model (the loss of the first step, the mean loss of the last chunk and, with
    `train.fit_every`, the steps to fit).

    `checkpoint` is the raw checkpoint to continue from (see `check_checkpoint`);
    `tracker` receives every chunk's metrics (`lengthgen.trackers`).
    """
    import jax

    cfg, t = built.cfg, built.cfg.train
    tracker = tracker or Tracker(cfg)
    stream = TrainStream(built.task, built.layout, built.train_lengths, t.buckets, t.batch_size, t.chunk_steps)
    inputs = program.model_inputs()
    seeds = [seed for _, seed in cfg.models]
    size = max(stream.sizes)
    meta = {"train_seconds": 0.0, "config": json.dumps(fingerprint(cfg, with_eval=False), sort_keys=True)}
    if checkpoint is not None:
        template = jax.eval_shape(lambda k, h: program.init(k, h, size), *inputs)
        state = restore_state(template, checkpoint["state"], str(run_dir / CHECKPOINT))
        meta["train_seconds"] = float(checkpoint["meta"].get("train_seconds", 0.0))
        for key in ("first_loss", "last_loss", "fit_history"):
            meta[key] = checkpoint["meta"].get(key, "null")
    else:
        state = program.init(*inputs, size)
    done = int(np.asarray(state.step)[0])
    saved_step = done if checkpoint is not None else None
    chunks = -(-t.steps // t.chunk_steps)
    first = done // t.chunk_steps
    fit_every = -(-t.fit_every // t.chunk_steps) if t.fit_every else 0
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
            seed_idx, offset = min(zip(*np.nonzero(~np.isfinite(loss))), key=lambda so: (so[1], so[0]))
            step = chunk * t.chunk_steps + int(offset) + 1
            fail(run_dir, f"non-finite loss ({loss[seed_idx, offset]}) at step {step} of {model_name(cfg, seed_idx)}",
                 step, seeds[seed_idx], saved_step)
        acc = float(np.asarray(metrics["acc"])[:, -1].mean())
        tracker.train((chunk + 1) * t.chunk_steps, loss, np.asarray(metrics["acc"]),
                      None if built_now else t.chunk_steps / max(seconds, 1e-9))
        bar.set_postfix(loss=f"{loss[:, -1].mean():.3f}", acc=f"{acc:.3f}")
        bar.update(t.chunk_steps)
        last = chunk == chunks - 1
        if fit_every and ((chunk + 1) % fit_every == 0 or last):
            history.append({"step": (chunk + 1) * t.chunk_steps, "min_seq_acc": fit_check(built, program, state.params)})
            meta["fit_history"] = json.dumps(history)
            tracker.fit_check(history[-1]["step"], history[-1]["min_seq_acc"])
            log.info("step %d: lowest exact match at lengths <= %d: %s", history[-1]["step"], t.max_length,
                     " ".join(f"{a:.3f}" for a in history[-1]["min_seq_acc"]))
            if t.stop_when_fit and all_fit(history[-1]) and not last:
                log.info("every model fits its training lengths: stopping at step %d", history[-1]["step"])
                last = True
        if every and ((chunk + 1) % every == 0 or last):
            host = jax.device_get(state)
            step = (chunk + 1) * t.chunk_steps
            if not all_finite(host.params) or not all_finite(host.opt_state):
                fail(run_dir, f"non-finite parameters at step {step}", step, None, saved_step)
            save_checkpoint(run_dir, host, {**meta, "train_seconds": elapsed, "step": step})
            saved_step = step
            log.info("checkpoint at step %d", step)
        if (chunk + 1) % max(1, chunks // 10) == 0 or last:
            log.info("step %d loss %.4f acc %.3f (%.1f steps/s, not counting %.1f s building programs)",
                     (chunk + 1) * t.chunk_steps, float(loss[:, -1].mean()), acc,
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
    per_model["steps_trained"] = [int(np.asarray(state.step)[i]) for i in range(len(cfg.models))]
    return state.params, elapsed, per_model, history


FIT_AT = 0.9


def all_fit(entry: dict[str, Any]) -> bool:
    return all(a >= FIT_AT for a in entry["min_seq_acc"])


def fit_check(built: Built, program, params) -> list[float]:
    """Per model, the lowest exact match over the training lengths of the evaluation set."""
    from lengthgen.evaluate import eval_plan, evaluate

    default = eval_plan(built)[0]
    lengths = [n for n in default.lengths if n <= built.cfg.train.max_length]
    stats = evaluate(program, params, default, lengths)
    return (np.min([s[:, 2] for s in stats.values()], axis=0) / default.samples).tolist()


def run(cfg: RunConfig, run_dir: Path, files: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or resume) one configuration into `run_dir`; returns the summary.

    A finished run of the same configuration is returned as it is, and one of
    another configuration refused, unless `cfg.overwrite` clears the directory's
    results first. `files` (relative path -> text: the resolved config.yaml,
    Hydra's .hydra/ files) are written once the run is known to go ahead, so a
    refused or skipped run leaves them as they were.
    """
    run_dir = Path(run_dir)
    if cfg.overwrite:
        discard(run_dir)
    finished = check_finished(cfg, run_dir)
    if finished is not None:
        log.info("run already finished: %s", run_dir / SUMMARY)
        finish(run_dir)
        return finished
    for stale in remove_temp_files(run_dir):
        log.info("removed %s, left by an interrupted write", stale.name)
    built = build(cfg)
    checkpoint = check_checkpoint(cfg, run_dir)
    if (run_dir / FAILED).exists():
        log.info("retrying a failed run: %s", (run_dir / FAILED).read_text().strip().replace("\n", " "))
    for name, text in (files or {}).items():
        write_text(run_dir / name, text)
    with tracking(cfg, run_dir) as tracker:
        summary = train_and_evaluate(built, run_dir, checkpoint, tracker)
    finish(run_dir)
    log.info("mean test acc %.3f (token) %.3f (seq), generalization length %.1f; %d programs compiled, %d loaded "
             "from the cache, %.1f s", summary["mean_test_token_acc"], summary["mean_test_seq_acc"],
             summary["generalization_length"], summary["compiled_programs"], summary["loaded_programs"],
             summary["compile_seconds"])
    return summary


def train_and_evaluate(built: Built, run_dir: Path, checkpoint: dict[str, Any] | None, tracker: Tracker):
    """Train, evaluate and write every result file; returns the summary."""
    import jax

    from lengthgen.evaluate import curve_table, eval_plan, evaluate, summarize
    from lengthgen.plots import plot_curves
    from lengthgen.train import Program

    cfg = built.cfg
    compiles = CompileCounter.get()
    compiles_before = compiles.totals()
    program = Program(built)
    params, train_seconds, per_model, fit_history = train(built, program, run_dir, checkpoint, tracker)
    save_params(run_dir, jax.device_get(params))

    start = time.perf_counter()
    plan = eval_plan(built)
    log.info("evaluating %s", "; ".join(f"{s.name}: {len(s.lengths)} lengths x {s.samples}" for s in plan))
    bar = progress_bar(sum(len(s.lengths) for s in plan), "eval", cfg.progress)
    curve = pd.concat([curve_table(built, evaluate(program, params, s, progress=bar), s) for s in plan],
                      ignore_index=True)
    bar.close()
    log.info("writing results to %s", run_dir)
    write_csv(run_dir / "curve.csv", curve)
    tracker.evaluation(curve)
    if cfg.eval.attention_lengths and built.model.attention:
        from lengthgen.attention_maps import analyze

        log.info("capturing attention at lengths %s", ", ".join(map(str, cfg.eval.attention_lengths)))
        analyze(built, program, params, run_dir)
    eval_seconds = time.perf_counter() - start

    per_seed = []
    for i, (lr, seed) in enumerate(cfg.models):
        rows = curve[(curve.lr == lr) & (curve.seed == seed)]
        per_seed.append({"lr": lr, "seed": seed, **summarize(rows, cfg.train.max_length),
                         **{key: values[i] for key, values in per_model.items()}})
    means = {k: float(np.mean([p[k] for p in per_seed])) for k in SUMMARY_MEANS}
    summary = {
        "task": built.task.name, "model": built.model.name, "position": built.position.name,
        "seeds": cfg.seeds, "train_max_length": cfg.train.max_length, "eval_max_length": cfg.eval.max_length,
        **means, "per_seed": per_seed, "steps": cfg.train.steps, "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(eval_seconds, 3), **compiles.since(compiles_before),
        **({"fit_history": fit_history} if cfg.train.fit_every else {}),
        "versions": versions(), "git_commit": git_commit(), "config": fingerprint(cfg),
    }
    if built.position.diagnostics is not None:
        from jax import tree
        summary["diagnostics"] = built.position.diagnostics(tree.map(lambda a: np.asarray(a)[0], params), built.net)
    plot_curves(curve[curve.eval_set == "default"], run_dir / "curve.png", train_max_length=cfg.train.max_length,
                title=f"{built.task.name} / {built.model.name}")
    write_json(run_dir / SUMMARY, summary)
    tracker.summary(summary, max(p["steps_trained"] for p in per_seed))
    return summary


RESULTS = (SUMMARY, "curve.csv", "curve.png", "config.yaml", PARAMS, CHECKPOINT, FAILED, "attention.csv", "steps.csv",
           "attention_L*.npz", "attention_L*.png")


def discard(run_dir: Path) -> None:
    """Delete what an earlier run left in `run_dir` (overwrite=true)."""
    for pattern in RESULTS:
        for path in sorted(run_dir.glob(pattern)):
            log.info("overwrite: removing %s", path)
            path.unlink()


def finish(run_dir: Path) -> None:
    """After summary.json: drop what only an unfinished run needs (checkpoint, failure mark, temp files)."""
    for name in (CHECKPOINT, FAILED):
        (run_dir / name).unlink(missing_ok=True)
    remove_temp_files(run_dir)
