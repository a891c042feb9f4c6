"""Gather finished runs under a directory into tidy tables (one row per run, seed and length)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lengthgen.config import NOT_RESULTS
from lengthgen.errors import ConfigError
from lengthgen.results import write_bytes, write_csv
from lengthgen.verdict import mean_interval

SUMMARY_METRICS = ["mean_test_token_acc", "mean_test_seq_acc", "generalization_length"]
# Per run (repeated on each of its seeds' rows): where its time went.
RUN_COSTS = ["train_seconds", "eval_seconds", "compile_seconds", "compiled_programs", "loaded_programs"]


def flatten(node: dict, prefix: str = "cfg.") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (list, tuple)):  # one cell, hashable: "[128, 256]"
            out[f"{prefix}{key}"] = str(list(value))
        else:
            out[f"{prefix}{key}"] = value
    return out


def finished_runs(root: Path) -> list[Path]:
    """Run directories under `root` with a summary.json (runs still going are skipped)."""
    return sorted(p.parent for p in Path(root).rglob("summary.json"))


def unfinished_runs(root: Path) -> list[tuple[str, bool]]:
    """(run, has a checkpoint) for each run directory under `root` that started (config.yaml)
    but has neither finished (summary.json) nor failed (failed.json): running, or interrupted."""
    out = []
    for path in sorted(Path(root).rglob("config.yaml")):
        run_dir = path.parent
        if run_dir.name == ".hydra" or (run_dir / "summary.json").exists() or (run_dir / "failed.json").exists():
            continue
        out.append((run_name(run_dir, root), (run_dir / "checkpoint.msgpack").exists()))
    return out


def run_config(run_dir: Path) -> dict[str, object]:
    """The run's cfg.* settings but cfg.seed (a multi-seed run's seeds are rows, not one setting)."""
    path = run_dir / "config.yaml"
    cfg = flatten(yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    return {k: v for k, v in cfg.items() if k != "cfg.seed"}


def run_name(run_dir: Path, root: Path) -> str:
    return str(run_dir.relative_to(root)) if run_dir != Path(root) else "."


def tagged(frame: pd.DataFrame, run: str, cfg: dict[str, object]) -> pd.DataFrame:
    """`frame` with its run's name and cfg.* columns."""
    return frame.assign(run=run, **{k: [v] * len(frame) for k, v in cfg.items()})


def collect(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, summaries): per-length rows and per-seed summary rows, both with cfg.* columns."""
    curves, summaries = [], []
    for run_dir in finished_runs(root):
        try:
            cfg = run_config(run_dir)
            curve = pd.read_csv(run_dir / "curve.csv")
            summary = json.loads((run_dir / "summary.json").read_text())
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"unreadable run {run_dir}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        run = run_name(run_dir, root)
        curve = tagged(curve, run, cfg)
        if "lr" in curve:  # a run of several learning rates: each row's own
            curve["cfg.train.lr"] = curve["lr"]
        curves.append(curve)
        for row in summary["per_seed"]:
            row = dict(row)
            sets = flatten(row.pop("eval_sets", None) or {}, "eval_sets.")  # one column per set and count
            summaries.append({"run": run, "task": summary["task"], "model": summary["model"],
                              "position": summary["position"], **row, **sets,
                              **{k: summary.get(k) for k in RUN_COSTS}, **cfg,
                              **({"cfg.train.lr": row["lr"]} if "lr" in row else {})})
    if not curves:
        raise FileNotFoundError(f"no finished runs (summary.json) under {root}")
    return pd.concat(curves, ignore_index=True), pd.DataFrame(summaries)


def collect_table(root: Path, name: str) -> pd.DataFrame:
    """The per-run table `name` (attention.csv, steps.csv, ...) of every finished run under
    `root` that has one, each row with its run's `run` and cfg.* columns."""
    frames = []
    for run_dir in finished_runs(root):
        if not (run_dir / name).exists():
            continue
        try:
            frame = pd.read_csv(run_dir / name)
            cfg = run_config(run_dir)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"unreadable {run_dir / name}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        frames.append(tagged(frame, run_name(run_dir, root), cfg))
    if not frames:
        raise FileNotFoundError(f"no run under {root} has {name}")
    return pd.concat(frames, ignore_index=True)


def varying_columns(frame: pd.DataFrame) -> list[str]:
    """Config columns that differ between runs: what a curve is labelled by.

    Seeds are averaged, not labelled; settings that change no result (`NOT_RESULTS`:
    progress bars, thread caps, ...) are not differences. An option only some runs have
    (a scheme's own parameter in a sweep over schemes) counts where the runs that have
    it differ in it (randomized runs with two ranges), not where it is merely absent.
    """
    ignored = {"cfg.train.seeds", *(f"cfg.{k}" for k in NOT_RESULTS)}
    return [c for c in frame.columns if c.startswith("cfg.") and c not in ignored
            and not any(c.startswith(f"{i}.") for i in ignored) and frame[c].dropna().map(str).nunique() > 1]


GENERALIZES_AT = 1.5


def seed_table(summaries: pd.DataFrame, by: tuple[str, ...] = ("task", "position"),
               metric: str = "mean_test_token_acc", factor: float = GENERALIZES_AT) -> pd.DataFrame:
    """Per group of `by`: the mean of `metric` over seeds with its 95% t interval, the number
    of seeds, how many generalize (generalization length >= factor x N), and the
    generalization length's mean, spread and range over seeds."""
    out = []
    for key, cell in summaries.groupby(list(by), sort=True):
        mean, lo, hi = mean_interval(cell[metric].to_numpy())
        gen = cell.generalization_length
        out.append({**dict(zip(by, key)), "mean": mean, "lo": lo, "hi": hi, "seeds": len(cell),
                    "generalizing": int((gen >= factor * cell["cfg.train.max_length"]).sum()),
                    "gen_length_mean": float(gen.mean()),
                    "gen_length_sd": float(gen.std(ddof=1)) if len(gen) > 1 else 0.0,
                    "gen_length_min": gen.min(), "gen_length_max": gen.max()})
    return pd.DataFrame(out)


def error_table(curves: pd.DataFrame, by: tuple[str, ...] = ("run", "eval_set", "length")) -> pd.DataFrame:
    """Rare errors, per group of `by`: seeds, how many made at least one error, reads (scored
    tokens) per seed, and over the seeds pooled: wrong reads, the error rate with its 95%
    Wilson interval (upper end 3.84 / (reads + 3.84) at zero errors) and the fraction of
    sequences with at least one error (`evaluate.error_counts` per seed and in all)."""
    from lengthgen.evaluate import error_counts

    out = []
    for key, cell in curves.groupby(list(by), sort=True):
        per_seed = [error_counts(rows) for _, rows in cell.groupby(["run", "lr", "seed"], sort=True)]
        pooled = error_counts(cell)
        out.append({**dict(zip(by, key)), "seeds": len(per_seed),
                    "seeds_with_errors": sum(c["token_errors"] > 0 for c in per_seed),
                    "reads_per_seed": int(np.median([c["tokens"] for c in per_seed])),
                    "errors": pooled["token_errors"], "error_rate": pooled["error_rate"],
                    "error_rate_lo": pooled["error_rate_lo"], "error_rate_hi": pooled["error_rate_hi"],
                    "max_seed_error_rate": max(c["error_rate"] for c in per_seed),
                    "seq_error_rate": pooled["seq_error_rate"]})
    return pd.DataFrame(out)


def time_spent(summaries: pd.DataFrame) -> dict[str, float]:
    """Totals over the runs of `summaries` (one row per run and seed) of RUN_COSTS."""
    runs = summaries.drop_duplicates("run")
    return {"runs": len(runs), **{k: float(runs[k].fillna(0).sum()) for k in RUN_COSTS if k in runs}}


def write_tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Collect and write results.parquet (per length) and summary.csv (per run and seed) into `root`."""
    curves, summaries = collect(root)
    write_bytes(Path(root) / "results.parquet", curves.to_parquet(index=False))
    write_csv(Path(root) / "summary.csv", summaries)
    return curves, summaries
