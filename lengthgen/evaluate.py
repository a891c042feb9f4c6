"""Evaluation at every length on a fixed set, per-length metrics with Wilson intervals.

Lengths are grouped into `eval.buckets` contiguous buckets chosen to waste
the least compute on padding; each bucket is one compiled program (fixed
rows x slots), so evaluating hundreds of lengths compiles a handful of
programs. The instances at each length depend only on (eval.seed, length):
every model of a sweep sees the very same test set.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from lengthgen.cost import bucket_rows
from lengthgen.data import EVAL_STREAM, cost_buckets, encode, eval_batch, raw_key, seq_len
from lengthgen.errors import ConfigError
from lengthgen.program import Program
from lengthgen.task import Task

SMALL_SLOTS = 32

CURVE_COLUMNS = ["task", "model", "position", "lr", "seed", "eval_set", "length", "split", "n", "tokens", "token_errors",
                 "token_acc", "token_acc_lo", "token_acc_hi", "seq_acc", "seq_acc_lo", "seq_acc_hi"]


def wilson(successes: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def eval_sets(task: Task) -> dict[str, Task]:
    """Every evaluation set of a task by name: "default" (the task itself), then its variants."""
    return {"default": task, **{name: task.variant(o) for name, o in task.eval_variants.items()}}


@dataclasses.dataclass(frozen=True)
class EvalSet:
    name: str
    task: Task
    lengths: list[int]
    samples: int


def eval_plan(built) -> list[EvalSet]:
    """Every evaluation set with its lengths and instances per length: the eval settings,
    narrowed or changed per set by `eval.sets` (e.g. many more instances of a set whose
    scored tokens are rare, evaluated at the training length only)."""
    e = built.cfg.eval
    sets = eval_sets(built.task)
    unknown = sorted(set(e.sets) - set(sets))
    if unknown:
        raise ConfigError(f"eval.sets: unknown evaluation set '{unknown[0]}' of task '{built.task.name}'; "
                          f"valid: {', '.join(sets)}")
    plan = []
    for name, task in sets.items():
        o = {"samples_per_length": e.samples_per_length, "min_length": e.min_length, "max_length": e.max_length,
             **e.sets.get(name, {})}
        lengths = [n for n in built.eval_lengths if o["min_length"] <= n <= o["max_length"]]
        if not lengths:
            raise ConfigError(f"eval.sets.{name}: no evaluated length in {o['min_length']}..{o['max_length']} "
                              f"(evaluated: {built.eval_lengths[0]}..{built.eval_lengths[-1]})")
        plan.append(EvalSet(name, task, lengths, int(o["samples_per_length"])))
    return plan


def eval_buckets(built, lengths: list[int], task: Task) -> list[list[int]]:
    """The run's evaluation buckets. Multiply-adds per token of the dense layers (4 d^2 + 2 d f)
    against those of attention per key (2 d, for q.k and the mixing) give the size
    at which attention's cost overtakes theirs; sequences shorter than SMALL_SLOTS
    count as that long, since fixed costs dominate there and a program of their
    own would cost more to compile than it saves."""
    m = built.cfg.model
    quadratic_at = 2 * m.d_model + m.mlp_dim if built.model.attention else math.inf
    slots = [max(SMALL_SLOTS, seq_len(task, n)) for n in lengths]
    return cost_buckets(lengths, built.cfg.eval.buckets, slots, quadratic_at)


def evaluate(program: Program, params, eval_set: EvalSet, lengths: list[int] | None = None,
             progress: Iterable | None = None) -> dict[int, np.ndarray]:
    """Per length of `eval_set` (or the given subset of them), an array Mx3 (per model):
    correct tokens, scored tokens, correct sequences, over the set's instances."""
    built = program.built
    task, samples = eval_set.task, eval_set.samples
    e, models = built.cfg.eval, len(built.cfg.models)
    out: dict[int, np.ndarray] = {}
    for group in eval_buckets(built, eval_set.lengths if lengths is None else lengths, task):
        size = max(seq_len(task, n) for n in group)
        rows = min(bucket_rows(built, size), -(-samples // built.cfg.mesh.data) * built.cfg.mesh.data)
        for n in group:
            batch = eval_batch(task, n, samples, e.seed)
            totals = np.zeros((models, 3), np.int64)
            for b, start in enumerate(range(0, samples, rows)):
                part = type(batch)(*(a[start:start + rows] for a in batch))
                ex = encode(task, part, n, built.layout, size, rows)
                correct, total, seq_ok = program.eval_batch(params, ex, raw_key(EVAL_STREAM, e.seed, n, b))
                real = len(part.inputs_BxI)
                totals += np.stack([np.asarray(x)[:, :real].sum(-1) for x in (correct, total, seq_ok)], -1)
            out[n] = totals
            if progress is not None:
                progress.update(1)
    return out


def curve_table(built, stats: dict[int, np.ndarray], eval_set: EvalSet) -> pd.DataFrame:
    """Tidy per-length rows (one per model (lr, seed) and length) with Wilson intervals."""
    cfg = built.cfg
    samples = eval_set.samples
    rows = []
    for n, per_seed in sorted(stats.items()):
        for s, (lr, seed) in enumerate(cfg.models):
            correct, total, seq_ok = (int(v) for v in per_seed[s])
            rows.append({
                "task": built.task.name, "model": built.model.name, "position": built.position.name,
                "lr": lr, "seed": seed, "eval_set": eval_set.name, "length": n,
                "split": "train" if n <= cfg.train.max_length else "test", "n": samples, "tokens": total,
                "token_errors": total - correct, "token_acc": correct / max(total, 1), **_interval("token_acc", correct, total),
                "seq_acc": seq_ok / samples, **_interval("seq_acc", seq_ok, samples),
            })
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _interval(name: str, k: int, n: int) -> dict[str, float]:
    """`name`_lo and `name`_hi: the Wilson interval of k successes in n."""
    lo, hi = wilson(k, n)
    return {f"{name}_lo": lo, f"{name}_hi": hi}


def generalization_length(curve: pd.DataFrame, threshold: float = 0.9) -> int:
    """Largest length L such that exact match stays >= threshold at every evaluated length <= L."""
    best = 0
    for length, acc in curve.sort_values("length")[["length", "seq_acc"]].itertuples(index=False):
        if acc < threshold:
            break
        best = int(length)
    return best


def error_counts(rows: pd.DataFrame) -> dict[str, Any]:
    """Errors pooled over the curve rows of one model: scored tokens (reads), wrong ones, the
    error rate with its 95% Wilson interval (whose upper end is 3.84 / (tokens + 3.84) at zero
    errors, not 0), sequences, sequences with at least one error and their rate (with its
    interval), and the mean token accuracy over the lengths."""
    tokens, errors = int(rows.tokens.sum()), int(rows.token_errors.sum())
    sequences = int(rows.n.sum())
    failed = int(round(float((rows.n * (1 - rows.seq_acc)).sum())))
    return {"tokens": tokens, "token_errors": errors, "error_rate": errors / max(tokens, 1),
            **_interval("error_rate", errors, tokens), "sequences": sequences, "sequences_with_error": failed,
            "seq_error_rate": failed / max(sequences, 1), **_interval("seq_error_rate", failed, sequences),
            "mean_token_acc": float(rows.token_acc.mean())}


def summarize(curve: pd.DataFrame, train_max_length: int) -> dict[str, Any]:
    """Per-seed metrics of the default evaluation set: means over test lengths N+1..M
    inclusive and the generalization length; plus error counts for every set (`error_counts`)."""
    main = curve[curve.eval_set == "default"]
    test = main[main.length > train_max_length]
    sets = {str(name): error_counts(rows) for name, rows in curve.groupby("eval_set", sort=True)}
    return {
        "mean_test_token_acc": float(test.token_acc.mean()),
        "mean_test_seq_acc": float(test.seq_acc.mean()),
        "generalization_length": generalization_length(main),
        "eval_sets": sets,
    }
