"""Validate a task, built-in or plugin, against the task contract (`lengthgen check-task`).

Every check samples real batches at several lengths and compares them with what the
contract and the task's own reference solver say:
  lengths      the task accepts its `min_length` and some of the requested lengths.
  layouts      declared layouts are known; an empty input needs "teacher_forced".
  determinism  the same generator seed gives the same batch; another seed a different one.
  shapes       `check_batch`: shapes from `shapes(length)`, integer dtypes, tokens in
               [0, vocab_size), boolean mask.
  sizes        sequence slots never shrink as the length grows, and the longest length has
               more slots, or (fixed-size formats) more scored tokens, than the shortest.
  mask         every row has at least one scored target position.
  labels       on every row, the scored targets equal `solve(inputs)` at those positions.
  variants     every `eval_variants` entry builds and samples a valid batch.

Solver convention for language-modelling tasks (empty input): `solve` is given the
target sequence with its scored positions blanked to token 0, so it must recompute
them from the unscored tokens.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from lengthgen.data import LAYOUTS
from lengthgen.errors import ConfigError
from lengthgen.task import Batch, Task, check_batch

DEFAULT_LENGTHS = (1, 2, 3, 4, 5, 8, 13, 21, 40)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def reference_targets(task: Task, inputs_I: np.ndarray, targets_T: np.ndarray, mask_T: np.ndarray) -> np.ndarray:
    """What the reference solver says the targets are (see the module docstring)."""
    if inputs_I.size:
        return np.asarray(task.solve(inputs_I))
    return np.asarray(task.solve(np.where(mask_T, 0, targets_T)))


def label_mismatch(task: Task, batch: Batch, length: int) -> str | None:
    """The first row whose scored targets differ from the reference solver, described in one line."""
    for row, (x, y, m) in enumerate(zip(*batch)):
        want = reference_targets(task, x, y, m)
        if want.shape != y.shape or not np.array_equal(want[m], y[m]):
            return (f"length {length} row {row}: sampler gives [{task.decode(y[m])}], solver gives "
                    f"[{task.decode(want[m]) if want.shape == y.shape else f'shape {want.shape}'}] "
                    f"for input [{task.decode(x)[:120]}]")
    return None


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
            samples[n] = [task.sample(np.random.default_rng([seed, n, b]), n, batch_size) for b in range(batches)]
    except Exception as exc:  # a crashing sampler is a failed check, not a crash of the checker
        record("sampling", f"length {n}: sample raised {type(exc).__name__}: {exc}", "")
        return results

    problem = None
    for n in use:
        again = task.sample(np.random.default_rng([seed, n, 0]), n, batch_size)
        if not all(np.array_equal(u, v) for u, v in zip(samples[n][0], again)):
            problem = f"two batches from the same seed differ at length {n}"
            break
    if problem is None:
        n = use[-1]
        other = task.sample(np.random.default_rng([seed + 1, n, 0]), n, batch_size)
        if all(np.array_equal(u, v) for u, v in zip(samples[n][0], other)):
            problem = f"batches from different seeds are identical at length {n} (is the generator used?)"
    record("determinism", problem, "same seed, same batch; new seed, new batch")

    problem = None
    for n, group in samples.items():
        for batch in group:
            try:
                check_batch(task, batch, n, batch_size)
            except (ValueError, AttributeError, TypeError) as exc:
                problem = str(exc) if isinstance(exc, ValueError) else f"sample() did not return a Batch: {exc}"
                break
        if problem:
            break
    record("shapes", problem, f"shapes, dtypes and tokens in [0, {task.vocab_size}) at every length")
    if problem is not None:
        return results

    slots = {n: sum(task.shapes(n)) for n in use}
    scored = {n: int(samples[n][0].mask_BxT.sum()) for n in use}
    problem = None
    if any(slots[b] < slots[a] for a, b in zip(use, use[1:])):
        problem = f"sequence slots shrink as the length grows: {slots}"
    elif slots[use[-1]] == slots[use[0]] and scored[use[-1]] <= scored[use[0]]:
        problem = f"neither the slots nor the scored tokens grow with the length: {slots}, {scored}"
    record("sizes", problem, f"slots at length {use[0]}: {slots[use[0]]}, at {use[-1]}: {slots[use[-1]]}")

    problem = None
    for n, group in samples.items():
        for batch in group:
            empty = np.flatnonzero(~batch.mask_BxT.any(axis=1))
            if empty.size:
                problem = f"length {n}: row {empty[0]} has no scored target position"
                break
        if problem:
            break
    record("mask", problem, "every row has a scored position")

    problem = None
    rows = 0
    for n, group in samples.items():
        for batch in group:
            try:
                problem = label_mismatch(task, batch, n)
            except Exception as exc:  # a crashing solver is a failed check, not a crash of the checker
                problem = f"length {n}: reference solver raised {type(exc).__name__}: {exc}"
            rows += len(batch.inputs_BxI)
            if problem:
                break
        if problem:
            break
    record("labels", problem, f"{rows} rows equal the reference solver at scored positions")

    problem = None
    for name, overrides in task.eval_variants.items():
        try:
            variant = task.variant(overrides)
            n = usable_lengths(variant, use)[-1]
            batch = variant.sample(np.random.default_rng([seed, n]), n, batch_size)
            check_batch(variant, batch, n, batch_size)
            problem = label_mismatch(variant, batch, n)
        except (ConfigError, ValueError, IndexError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            problem = f"variant '{name}': {problem}"
            break
    record("variants", problem, ", ".join(task.eval_variants) or "none declared")
    return results


def check_task(task: Task, lengths: Sequence[int] = DEFAULT_LENGTHS, batches: int = 3,
               batch_size: int = 32, seed: int = 0) -> list[str]:
    """The problems found in `task` ("check: detail"); empty when it honours the contract."""
    return [f"{r.name}: {r.detail}" for r in run_checks(task, lengths, batches, batch_size, seed) if not r.ok]
