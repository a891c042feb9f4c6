"""One run: build, train (`lengthgen.train`), evaluate (`lengthgen.evaluate`), write results.

Files in the run directory: config.yaml (resolved), curve.csv, summary.json,
curve.png, params.msgpack (final parameters), run.log; with `eval.attention_lengths`,
attention.csv, steps.csv and attention_L<length>.npz/.png (`lengthgen.attention_maps`);
checkpoint.msgpack while the run is unfinished; failed.json after a non-finite loss or any
other error once the run has started (its reason in one line; an interrupt, a kill or a
launcher's requeue at a time limit leaves none: the run is unfinished and resumes).
Every file is written atomically (`lengthgen.results`). A finished run (summary.json
present) is not redone, so its checkpoint is deleted once summary.json is written:
nothing would read it again, and a sweep would keep optimizer state for every run.

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
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from lengthgen.attention_maps import analyze
from lengthgen.build import Built, build
from lengthgen.config import RunConfig, differences, fingerprint, listed
from lengthgen.errors import ConfigError, one_line
from lengthgen.evaluate import curve_table, eval_plan, evaluate, summarize
from lengthgen.plots import plot_curves
from lengthgen.program import Program
from lengthgen.results import CHECKPOINT, PARAMS, remove_temp_files, save_params, write_csv, write_json, write_text
from lengthgen.runtime import CompileCounter, progress_bar
from lengthgen.trackers import Tracker, tracking
from lengthgen.train import FAILED, TrainingFailed, check_checkpoint, train

log = logging.getLogger("lengthgen")
SUMMARY_MEANS = ("mean_test_token_acc", "mean_test_seq_acc", "generalization_length")
SUMMARY = "summary.json"


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
        raise ConfigError(f"{run_dir} holds a finished run of another configuration ({listed(diffs)}); "
                          "relaunch with overwrite=true to replace it, or use another output directory")
    return summary


def fit_check(built: Built, program, params) -> list[float]:
    """Per model, the lowest exact match over the training lengths of the evaluation set."""
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
    try:
        with tracking(cfg, run_dir) as tracker:
            summary = train_and_evaluate(built, run_dir, checkpoint, tracker)
    except TrainingFailed:
        raise
    except Exception as exc:
        mark_failed(run_dir, exc)
        raise
    finish(run_dir)
    log.info("mean test acc %.3f (token) %.3f (seq), generalization length %.1f; %d programs compiled, %d loaded "
             "from the cache, %.1f s", summary["mean_test_token_acc"], summary["mean_test_seq_acc"],
             summary["generalization_length"], summary["compiled_programs"], summary["loaded_programs"],
             summary["compile_seconds"])
    return summary


def mark_failed(run_dir: Path, exc: Exception) -> None:
    """failed.json for an error other than a non-finite loss (which `train` records with its step)."""
    write_json(run_dir / FAILED, {"reason": f"{type(exc).__name__}: {one_line(exc)}", "error": type(exc).__name__,
                                  "checkpoint": (run_dir / CHECKPOINT).exists(),
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")})


def train_and_evaluate(built: Built, run_dir: Path, checkpoint: dict[str, Any] | None, tracker: Tracker):
    """Train, evaluate and write every result file; returns the summary."""
    cfg = built.cfg
    compiles = CompileCounter.get()
    compiles_before = compiles.totals()
    program = Program(built)
    if program.place.mesh is not None:
        log.info("spread over %d %s devices: models x data = %d x %d", program.place.mesh.size,
                 program.place.devices["backend"], cfg.mesh.models, cfg.mesh.data)
    params, train_seconds, per_model, fit_history = train(built, program, run_dir, checkpoint, tracker,
                                                          lambda params: fit_check(built, program, params))
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
        "eval_seconds": round(eval_seconds, 3), **compiles.since(compiles_before), "devices": program.place.devices,
        **({"fit_history": fit_history} if cfg.train.fit_every else {}),
        "versions": versions(), "git_commit": git_commit(), "config": fingerprint(cfg),
    }
    if built.position.diagnostics is not None:
        summary["diagnostics"] = built.position.diagnostics(jax.tree.map(lambda a: np.asarray(a)[0], params), built.net)
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
