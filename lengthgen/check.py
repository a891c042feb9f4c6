"""Validate a task, built-in or plugin, against the task contract (`lengthgen check-task`).

Every check samples real batches at several lengths and compares them with what the
contract and the task's own reference solver say:
  lengths      the task accepts its `min_length` and some of the requested lengths.
  layouts      declared layouts are known; an empty input needs "teacher_forced".
  determinism  the same generator seed gives the same batch; another seed a different one
               (`determinism_problem`, which `lengthgen-train` also runs on every task).
  shapes       `check_batch`: shapes from `shapes(length)`, integer dtypes, tokens in
               [0, vocab_size), boolean mask.
  sizes        sequence slots never shrink as the length grows, and the longest length has
               more slots, or (fixed-size formats) more scored tokens per row, than the shortest.
  mask         every row has at least one scored target position and, where the task
               declares `scored_mask`, exactly the positions it gives are scored (e.g. the
               answer through END and not the filler after it, each step but no marker).
  labels       on every row, the scored targets equal `solve(inputs)` at those positions.
  variants     every `eval_variants` entry builds and samples a batch with valid shapes,
               mask and labels.

The default lengths run from 1 to 5,000, far past the default `eval.max_length`, so that
a sampler that is right only at short lengths (a narrow counter or position dtype, say)
fails here; above `LONG_LENGTH` batches have at most `LONG_ROWS` rows, which keeps a check
of any built-in task under a second.

Solver convention for language-modelling tasks (empty input): `solve` and `scored_mask`
are given the target sequence with its scored positions blanked to token 0, so `solve`
must recompute them from the unscored tokens.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

from lengthgen.config import EvalConfig
from lengthgen.data import LAYOUTS
from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task, check_batch

DEFAULT_LENGTHS = tuple(sorted({1, 2, 3, 4, 5, 8, 13, 21, 40, EvalConfig().max_length, 100, 500, 5000}))
LONG_LENGTH = 100
LONG_ROWS = 4


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def rows_at(length: int, batch_size: int) -> int:
    """Rows per batch at `length`: `batch_size`, or at most `LONG_ROWS` above `LONG_LENGTH`."""
    return batch_size if length <= LONG_LENGTH else min(batch_size, LONG_ROWS)


def reference_instance(inputs_I: np.ndarray, targets_T: np.ndarray, mask_T: np.ndarray) -> np.ndarray:
    """What `solve` and `scored_mask` are given: the input, or for an empty input the target
    sequence with its scored positions blanked to token 0 (see the module docstring)."""
    return inputs_I if inputs_I.size else np.where(mask_T, 0, targets_T)


def label_mismatch(task: Task, batch: Batch, length: int) -> str | None:
    """The first row whose scored targets differ from the reference solver, described in one line."""
    for row, (x, y, m) in enumerate(zip(*batch)):
        want = np.asarray(task.solve(reference_instance(x, y, m)))
        gives = f"length {length} row {row}: sampler gives [{_clip(task.decode(y[m]))}], solver gives"
        if want.shape != y.shape:
            return f"{gives} shape {want.shape} for input [{_clip(task.decode(x))}]"
        if not np.array_equal(want[m], y[m]):
            at = int(np.flatnonzero(m & (want != y))[0])
            return (f"{gives} [{_clip(task.decode(want[m]))}] (first difference at target position {at}) "
                    f"for input [{_clip(task.decode(x))}]")
    return None


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


def mask_mismatch(task: Task, batch: Batch, length: int) -> str | None:
    """The first row whose mask differs from the task's `scored_mask`, described in one line;
    None when they agree or the task declares no `scored_mask`."""
    for row, (x, y, m) in enumerate(zip(*batch)):
        want = task.scored_mask(reference_instance(x, y, m))
        if want is None:
            return None
        want = np.asarray(want, bool)
        if want.shape != m.shape:
            return f"length {length} row {row}: scored_mask has shape {want.shape}, the targets {m.shape}"
        if not np.array_equal(want, m):
            at = int(np.flatnonzero(want != m)[0])
            return (f"length {length} row {row}: target position {at} is {'scored' if m[at] else 'unscored'}, "
                    f"scored_mask says {'scored' if want[at] else 'unscored'} (input [{_clip(task.decode(x))}])")
    return None


def determinism_problem(task: Task, length: int, rows: int, seed: int = 0, new_seed: bool = True) -> str | None:
    """Why `sample` at `length` is not a pure function of its generator, in one line, or None.
    The same seed must give the same batch (a sampler that draws from NumPy's global RNG does
    not, and a resumed run would then see other data) and, with `new_seed`, another seed a
    different one (ask that only at lengths with more than one instance)."""

    def draw(s: int) -> Batch:
        return task.sample(np.random.default_rng([s, length]), length, rows)

    first = draw(seed)
    if not same_batch(first, draw(seed)):
        return (f"sample() is not a pure function of its generator (same seed gave different batches at "
                f"length {length}); use the rng argument, not NumPy's global RNG")
    if new_seed and same_batch(first, draw(seed + 1)):
        return f"batches from different seeds are identical at length {length} (is the generator used?)"
    return None


def same_batch(a: Batch, b: Batch) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def first(problems: Iterable[str | None]) -> str | None:
    """The first problem that is not None (later ones are not computed), or None."""
    return next((p for p in problems if p is not None), None)


def usable_lengths(task: Task, lengths: Sequence[int]) -> list[int]:
    """The lengths among `lengths` (and `min_length`) that `check_length` accepts, sorted."""
    keep = []
    for n in sorted({task.min_length, *lengths}):
        try:
            task.check_length(n)
        except ConfigError:
            continue
        keep.append(n)
    return keep


def run_checks(task: Task, lengths: Sequence[int] = DEFAULT_LENGTHS, batches: int = 3,
               batch_size: int = 32, seed: int = 0) -> list[CheckResult]:
    """Run every check; each result says what was checked or what went wrong."""
    results: list[CheckResult] = []

    def record(name: str, problem: str | None, detail: str) -> None:
        results.append(CheckResult(name, problem is None, problem or detail))

    try:
        task.check_length(task.min_length)
        problem = None
    except ConfigError as exc:
        problem = f"check_length rejects min_length {task.min_length}: {exc}"
    use = usable_lengths(task, lengths)
    if problem is None and len(use) < 2:
        problem = f"fewer than two usable lengths among {sorted(set(lengths))}"
    record("lengths", problem, f"checking lengths {', '.join(map(str, use))}")
    if problem is not None:
        return results

    unknown = [name for name in task.layouts if name not in LAYOUTS]
    empty_input = task.shapes(use[-1])[0] == 0
    problem = (f"unknown layouts {unknown}; valid: {', '.join(LAYOUTS)}" if unknown else
               "empty input but layouts include 'placeholder' (needs 'teacher_forced' only)"
               if empty_input and "placeholder" in task.layouts else None)
    record("layouts", problem, ", ".join(task.layouts))

    samples: dict[int, list[Batch]] = {}
    try:
        for n in use:
            samples[n] = [task.sample(np.random.default_rng([seed, n, b]), n, rows_at(n, batch_size))
                          for b in range(batches)]
    except Exception as exc:  # a crashing sampler is a failed check, not a crash of the checker
        record("sampling", f"length {n}: sample raised {type(exc).__name__}: {exc}", "")
        return results

    problem = first(determinism_problem(task, n, rows_at(n, batch_size), seed, new_seed=n == use[-1]) for n in use)
    record("determinism", problem, "same seed, same batch; new seed, new batch")

    every = [(n, batch) for n, group in samples.items() for batch in group]

    def shapes_problem(n: int, batch: Batch) -> str | None:
        try:
            check_batch(task, batch, n, rows_at(n, batch_size))
        except (ValueError, AttributeError, TypeError) as exc:
            return str(exc) if isinstance(exc, ValueError) else f"sample() did not return a Batch: {exc}"
        return None

    problem = first(shapes_problem(n, batch) for n, batch in every)
    record("shapes", problem, f"shapes, dtypes and tokens in [0, {task.vocab_size}) at every length")
    if problem is not None:
        return results

    slots = {n: sum(task.shapes(n)) for n in use}
    scored = {n: float(samples[n][0].mask_BxT.sum(axis=1).mean()) for n in use}
    problem = None
    if any(slots[b] < slots[a] for a, b in zip(use, use[1:])):
        problem = f"sequence slots shrink as the length grows: {slots}"
    elif slots[use[-1]] == slots[use[0]] and scored[use[-1]] <= scored[use[0]]:
        problem = f"neither the slots nor the scored tokens per row grow with the length: {slots}, {scored}"
    record("sizes", problem, f"slots at length {use[0]}: {slots[use[0]]}, at {use[-1]}: {slots[use[-1]]}")

    def mask_problem(n: int, batch: Batch) -> str | None:
        empty = np.flatnonzero(~batch.mask_BxT.any(axis=1))
        if empty.size:
            return f"length {n}: row {empty[0]} has no scored target position"
        try:
            return mask_mismatch(task, batch, n)
        except Exception as exc:  # a crashing reference is a failed check, not a crash of the checker
            return f"length {n}: scored_mask raised {type(exc).__name__}: {exc}"

    declared = type(task).scored_mask is not Task.scored_mask
    record("mask", first(mask_problem(n, batch) for n, batch in every), "every row has a scored position; " +
           ("the scored positions are scored_mask's" if declared else "no scored_mask declared"))

    def labels_problem(n: int, batch: Batch) -> str | None:
        try:
            return label_mismatch(task, batch, n)
        except Exception as exc:  # a crashing solver is a failed check, not a crash of the checker
            return f"length {n}: reference solver raised {type(exc).__name__}: {exc}"

    rows = sum(len(batch.inputs_BxI) for _, batch in every)
    record("labels", first(labels_problem(n, batch) for n, batch in every),
           f"{rows} rows equal the reference solver at scored positions")

    def variant_problem(name: str, overrides: dict) -> str | None:
        try:
            variant = task.variant(overrides)
            n = usable_lengths(variant, use)[-1]
            size = rows_at(n, batch_size)
            batch = variant.sample(np.random.default_rng([seed, n]), n, size)
            check_batch(variant, batch, n, size)
            problem = mask_mismatch(variant, batch, n) or label_mismatch(variant, batch, n)
        except (ConfigError, ValueError, IndexError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        return f"variant '{name}': {problem}" if problem else None

    problem = first(variant_problem(name, overrides) for name, overrides in task.eval_variants.items())
    record("variants", problem, ", ".join(task.eval_variants) or "none declared")
    return results


def check_task(task: Task, lengths: Sequence[int] = DEFAULT_LENGTHS, batches: int = 3,
               batch_size: int = 32, seed: int = 0) -> list[str]:
    """The problems found in `task` ("check: detail"); empty when it honours the contract."""
    return [f"{r.name}: {r.detail}" for r in run_checks(task, lengths, batches, batch_size, seed) if not r.ok]
