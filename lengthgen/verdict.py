"""Claims about a study, checked against its results: `lengthgen verdict SPEC RESULTS_DIR`.

A claims file (YAML) lists claims; each is data, not code, so the same file judges the
study rerun with other tasks, lengths or seeds:

    claims:
      - id: randomized_rope_beats_rope
        text: randomized RoPE beats RoPE beyond N on most tasks   # optional
        table: curves              # optional: curves (curve.csv), attention or steps (below)
        metric: token_acc          # a column of the table: token_acc, seq_acc or error_rate for curves
        lengths: test              # test (N+1..M), train (1..N) or [lo, hi] in terms of N and M, e.g. [N+1, 2*N]
        where: {task: [reverse_string, duplicate_string]}         # optional filters on any column
        compare: {column: position, a: randomized_rope, b: rope}  # a difference a - b, paired
        per: task                  # judged per group (a column or a list of columns)
        above: 0.0                 # the group's value must exceed this (or `below:`)
        require: most              # all | most (more than half) | mean (the mean over groups)
        test: mean                 # mean (the point estimate) or interval (the whole 95% interval)
        min_seeds: 1               # SKIP with fewer seeds in the results: "most seeds" needs several

Tables: `curves` (each run's curve.csv); `attention` and `steps`, the runs' attention.csv
and steps.csv (`lengthgen.attention_maps`, written for `eval.attention_lengths`):
attention has needed, distractor (mass per layer and head) and distractor_gap (mass at
wrong minus right steps of one length); steps has step_acc per step number, with a
`trained` column (step number <= N) to filter on.

Each model (run, lr, seed) contributes its mean of `metric` over the selected lengths
(and layers, heads or steps; NaN, where a length has no wrong step, is left out) of the
default evaluation set, or of the sets named by `where: {eval_set: [sparse, dense]}`;
error_rate is pooled instead: the model's wrong scored tokens over its scored tokens, so a
rare error counts by its weight, and zero errors give exactly 0. With `compare`, models of `a` and `b` are paired on the
`per` columns, lr and seed, and the group's value is the mean paired difference; without
it, the mean over the group's models. Runs of one side that share those keys (runs that
differ in another setting) are averaged: narrow them with `where` to compare one setting.
Intervals are 95% Student-t intervals over seeds (pairs). Every claim prints one line,
PASS or FAIL with the numbers, or SKIP when the results hold no run of a task or scheme it
names, or no run directory it names (`where: {run: dropout}`; a variant of the study run on
fewer tasks, schemes or models); names that are not registered tasks or schemes are errors.
The command exits 1 if any claim fails, or if none passed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from lengthgen.errors import ConfigError

# Two-sided 95% Student-t quantiles, df = 1..30; beyond, the normal 1.96.
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
REQUIRE = ("all", "most", "mean")
TESTS = ("mean", "interval")
TABLES = {"curves": ("token_acc", "seq_acc", "error_rate"),
          "attention": ("needed", "distractor", "distractor_gap", "needed_right", "needed_wrong",
                        "distractor_right", "distractor_wrong"),
          "steps": ("step_acc",)}
BOUND = re.compile(r"^[\sNM0-9+\-*/().]+$")


@dataclass(frozen=True)
class Claim:
    id: str
    metric: str
    table: str = "curves"
    lengths: Any = "test"
    per: tuple[str, ...] = ("task",)
    where: dict[str, list] = field(default_factory=dict)  # column: the values kept
    compare: dict[str, Any] | None = None
    above: float | None = None
    below: float | None = None
    require: str = "all"
    test: str = "mean"
    min_seeds: int = 1
    text: str = ""


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the 95% Student-t interval of the mean (the mean itself for one value)."""
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    t = T95[len(values) - 2] if len(values) - 1 <= len(T95) else 1.96
    half = t * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def load_claims(path: Path) -> list[Claim]:
    """Parse and check a claims file; a bad entry is a one-line ConfigError naming it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read claims file {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("claims"), list) or not raw["claims"]:
        raise ConfigError(f"{path}: expected a mapping with a non-empty list 'claims'")
    claims = []
    for i, entry in enumerate(raw["claims"]):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: claim {i + 1} is not a mapping")
        name = entry.get("id", f"#{i + 1}")
        unknown = sorted(set(entry) - set(Claim.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"claim '{name}': unknown key '{unknown[0]}'; valid: {', '.join(Claim.__dataclass_fields__)}")
        per = entry.get("per", "task")
        where = {col: v if isinstance(v, list) else [v] for col, v in (entry.get("where") or {}).items()}
        claim = Claim(**{**entry, "id": str(name), "per": tuple([per] if isinstance(per, str) else per), "where": where})
        check_claim(claim)
        check_names(claim)
        claims.append(claim)
    return claims


def check_claim(c: Claim) -> None:
    def bad(message: str):
        raise ConfigError(f"claim '{c.id}': {message}")

    if c.table not in TABLES:
        bad(f"unknown table '{c.table}'; valid: {', '.join(TABLES)}")
    if c.metric not in TABLES[c.table]:
        bad(f"unknown metric '{c.metric}' of table {c.table}; valid: {', '.join(TABLES[c.table])}")
    if c.require not in REQUIRE:
        bad(f"unknown require '{c.require}'; valid: {', '.join(REQUIRE)}")
    if c.test not in TESTS:
        bad(f"unknown test '{c.test}'; valid: {', '.join(TESTS)}")
    if (c.above is None) == (c.below is None):
        bad("give exactly one of 'above' and 'below'")
    if c.compare is not None and set(c.compare) != {"column", "a", "b"}:
        bad("compare needs exactly the keys column, a, b")
    if not (c.lengths in ("test", "train") or (isinstance(c.lengths, list) and len(c.lengths) == 2
                                                and all(BOUND.match(str(b)) for b in c.lengths))):
        bad(f"lengths must be test, train or [lo, hi] in terms of N and M, got {c.lengths!r}")


NAMED = {"task": "TASKS", "position": "POSITIONS"}


def selected(c: Claim) -> list[tuple[str, list]]:
    """(column, values) for each `where` filter, then for each side of `compare` (a, b)."""
    sides = [(c.compare["column"], [c.compare[side]]) for side in ("a", "b")] if c.compare else []
    return [*c.where.items(), *sides]


def check_names(c: Claim) -> None:
    """Task and scheme names in `where` and `compare` must be registered (a typo is an error, not a SKIP)."""
    from lengthgen import registry

    for col, value in [(col, value) for col, values in selected(c) if col in NAMED for value in values]:
        table = getattr(registry, NAMED[col])
        if str(value) not in table.names():
            raise ConfigError(f"claim '{c.id}': unknown {col} '{value}'; valid: {', '.join(table.names())}")


def absent(curves: pd.DataFrame, c: Claim) -> str | None:
    """Why the claim does not apply to these results (no run of a task or scheme it names), or None."""
    for col, values in selected(c):
        if (col in NAMED or col == "run") and col in curves and not curves[col].isin(values).any():
            return f"no run {'' if col == 'run' else f'of {col} '}{', '.join(map(str, values))}"
    return None


def _bound(expr: Any, n: pd.Series, m: pd.Series) -> pd.Series:
    """An expression of N and M (checked by BOUND: numbers, N, M and arithmetic only), per row."""
    return pd.Series(eval(str(expr), {"__builtins__": {}}, {"N": n, "M": m}), index=n.index)  # noqa: S307


def model_values(curves: pd.DataFrame, c: Claim) -> pd.DataFrame:
    """One row per model (run, lr, seed) in the claim's selection: its mean metric over the lengths."""
    rows = curves[curves.eval_set == "default"] if "eval_set" in curves and "eval_set" not in c.where else curves
    for column, wanted in c.where.items():
        if column not in rows:
            raise ConfigError(f"claim '{c.id}': no column '{column}' in the results")
        rows = rows[rows[column].isin(wanted)]
    n, m = rows["cfg.train.max_length"], rows["cfg.eval.max_length"]
    if c.lengths == "test":
        keep = rows.length > n
    elif c.lengths == "train":
        keep = rows.length <= n
    else:
        keep = (rows.length >= _bound(c.lengths[0], n, m)) & (rows.length <= _bound(c.lengths[1], n, m))
    rows = rows[keep]
    columns = [*c.per, *([c.compare["column"]] if c.compare else [])]
    missing = [col for col in columns if col not in rows]
    if missing:
        raise ConfigError(f"claim '{c.id}': no column '{missing[0]}' in the results")
    keys = list(dict.fromkeys(["run", *columns, "lr", "seed"]))
    groups = rows.groupby([k for k in keys if k in rows], sort=True)
    if c.metric == "error_rate":  # pooled over the lengths (and sets): wrong reads / reads
        values = (groups.token_errors.sum() / groups.tokens.sum()).rename("error_rate").reset_index()
    else:
        values = groups[c.metric].mean().reset_index()
    return values.dropna(subset=[c.metric])


def judge(curves: pd.DataFrame, c: Claim) -> tuple[bool | None, str]:
    """(passed, one line) for one claim; passed is None for a claim the results do not cover."""
    why = absent(curves, c)
    if why:
        return None, f"SKIP {c.id}: {why} in these results"
    models = model_values(curves, c)
    per = list(c.per)
    if c.compare:
        col, a, b = c.compare["column"], c.compare["a"], c.compare["b"]
        pair = [k for k in [*per, "lr", "seed"] if k in models]
        sides = [models[models[col] == side].groupby(pair)[c.metric].mean().rename(name)
                 for side, name in ((a, "a"), (b, "b"))]
        paired = pd.concat(sides, axis=1, join="inner").reset_index()
        paired["value"] = paired["a"] - paired["b"]
        what = f"{c.metric}({a}) - {c.metric}({b})"
    else:
        paired = models.assign(value=models[c.metric])
        what = c.metric
    if paired.empty:
        return False, f"FAIL {c.id}: no data (check where, compare and lengths against the results)"
    seeds = int(paired["seed"].nunique()) if "seed" in paired else 1
    if seeds < c.min_seeds:
        return None, f"SKIP {c.id}: {seeds} seed(s) in these results, fewer than the {c.min_seeds} it needs"
    threshold = c.above if c.above is not None else c.below
    sign = 1 if c.above is not None else -1
    groups, parts = [], []
    for key, rows in paired.groupby(per, sort=True):
        mean, lo, hi = mean_interval(rows["value"].to_numpy())
        point = lo if sign > 0 else hi
        ok = sign * ((point if c.test == "interval" else mean) - threshold) > 0
        groups.append((mean, ok))
        label = "/".join(map(str, key))
        parts.append(f"{label} {_num(mean)} [{_num(lo)}, {_num(hi)}] n={len(rows)}{'' if ok else ' (x)'}")
    passing = sum(ok for _, ok in groups)
    if c.require == "mean":
        overall = float(np.mean([mean for mean, _ in groups]))
        passed = sign * (overall - threshold) > 0
        summary = f"mean over {len(groups)} {'/'.join(per)} {_num(overall)}"
    else:
        passed = passing == len(groups) if c.require == "all" else passing * 2 > len(groups)
        summary = f"{passing}/{len(groups)} {'/'.join(per)} pass ({c.require} required)"
    lengths = c.lengths if isinstance(c.lengths, str) else f"[{c.lengths[0]}, {c.lengths[1]}]"
    rule = f"{'>' if sign > 0 else '<'} {threshold:g}"
    return passed, (f"{'PASS' if passed else 'FAIL'} {c.id}: {what} over {lengths} lengths {rule}, by {c.test}; "
                    f"{summary}: {'; '.join(parts)}")


def _num(v: float) -> str:
    """+0.123, or +1.23e-04 for a small nonzero value (error rates)."""
    return f"{v:+.2e}" if v != 0 and abs(v) < 1e-3 else f"{v:+.3f}"


def verdict(spec: Path, results: Path) -> tuple[bool, list[str]]:
    """(every claim passed, one line per claim) for the claims file and the runs under `results`."""
    from lengthgen.collect import collect, collect_table

    claims = load_claims(spec)
    tables = {"curves": collect(Path(results))[0]}
    lines, outcomes = [], []
    for claim in claims:
        if claim.table not in tables:
            tables[claim.table] = collect_table(Path(results), f"{claim.table}.csv")
        ok, line = judge(tables[claim.table], claim)
        outcomes.append(ok)
        lines.append(line)
    return False not in outcomes and True in outcomes, lines
