"""Turn a RunConfig into the objects a run needs, checking every rule first.

All bad input is caught here, with one-line ConfigErrors, before anything is
traced or compiled.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from lengthgen.config import RunConfig, make_options, validate
from lengthgen.cost import check_budget
from lengthgen.data import LAYOUTS, model_vocab, seq_len
from lengthgen.errors import ConfigError
from lengthgen.models import ModelSpec
from lengthgen.models.transformer import NetConfig
from lengthgen.positions.base import PositionSpec
from lengthgen import context, sharding
from lengthgen.registry import MODELS, POSITIONS, TASKS
from lengthgen.task import Task, check_batch


@dataclasses.dataclass(frozen=True)
class Built:
    cfg: RunConfig
    task: Task
    model: ModelSpec
    position: PositionSpec
    position_options: Any
    layout: str
    net: NetConfig

    @property
    def train_lengths(self) -> list[int]:
        return list(range(self.cfg.train.min_length, self.cfg.train.max_length + 1))

    @property
    def eval_lengths(self) -> list[int]:
        e = self.cfg.eval
        lengths = list(range(e.min_length, e.max_length + 1, e.stride))
        if lengths[-1] != e.max_length:
            lengths.append(e.max_length)
        return lengths


SAMPLER_CHECK_ROWS = 2
DETERMINISM_ROWS = 16


def check_sampler(task: Task, cfg: RunConfig) -> None:
    """Sample a tiny batch at the shortest and longest train and eval lengths, for the task and each
    evaluation variant, and hold it to the task contract: a plugin whose sampler returns wrong
    shapes, dtypes or tokens fails here with one line instead of inside a compiled program. Then
    check that, at the longest training length, the same seed gives the same batch and another seed another
    one (`lengthgen check-task`'s determinism check): a sampler that draws from NumPy's global RNG
    would otherwise train on data that a resumed run cannot reproduce."""
    from lengthgen.check import determinism_problem

    lengths = sorted({cfg.train.min_length, cfg.train.max_length, cfg.eval.min_length, cfg.eval.max_length})
    tasks = {"": task}
    for name, overrides in task.eval_variants.items():
        try:
            tasks[f" (eval set '{name}')"] = task.variant(overrides)
        except ConfigError as exc:
            raise ConfigError(f"task '{task.name}' eval set '{name}': {exc}") from None
    for where, t in tasks.items():
        for n in lengths:
            batch = _sampling(task, where, n, lambda: t.sample(np.random.default_rng(n), n, SAMPLER_CHECK_ROWS))
            try:
                check_batch(t, batch, n, SAMPLER_CHECK_ROWS)
            except ValueError as exc:
                raise ConfigError(f"{exc}{where}") from None
            except Exception:
                raise ConfigError(f"task '{task.name}'{where}: sample() returned {type(batch).__name__}, "
                                  "expected a Batch(inputs_BxI, targets_BxT, mask_BxT) of arrays") from None
    n = cfg.train.max_length
    problem = _sampling(task, "", n, lambda: determinism_problem(task, n, DETERMINISM_ROWS))
    if problem:
        raise ConfigError(f"task '{task.name}': {problem}")


def _sampling(task: Task, where: str, n: int, draw: Callable[[], Any]) -> Any:
    """`draw()`; a sampler that raised (other than a ConfigError) fails as one ConfigError line: the
    exception's type and the first line of its message."""
    try:
        return draw()
    except ConfigError:
        raise
    except Exception as exc:
        detail = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"task '{task.name}'{where}: sampling length {n} failed: {type(exc).__name__}: {detail}") from None


def build(cfg: RunConfig) -> Built:
    validate(cfg)
    task = TASKS.get(cfg.task["name"])(**{k: v for k, v in cfg.task.items() if k != "name"})
    model: ModelSpec = MODELS.get(cfg.model.kind)
    position: PositionSpec = POSITIONS.get(cfg.position["name"])
    pos_opts = make_options(position.Options, {k: v for k, v in cfg.position.items() if k != "name"},
                            f"position '{position.name}'")

    layout = cfg.model.layout or model.layouts[0]
    if layout not in LAYOUTS:
        raise ConfigError(f"model.layout: unknown value '{layout}'; valid: {', '.join(LAYOUTS)}")
    if layout not in model.layouts:
        raise ConfigError(f"model '{model.name}' does not support layout '{layout}'; valid: {', '.join(model.layouts)}")
    if layout not in task.layouts:
        if cfg.model.layout:
            raise ConfigError(f"task '{task.name}' does not support layout '{layout}'; valid: {', '.join(task.layouts)}")
        usable = [name for name in model.layouts if name in task.layouts]
        if not usable:
            raise ConfigError(f"task '{task.name}' needs layout {', '.join(task.layouts)}, "
                              f"which model '{model.name}' cannot read")
        layout = usable[0]
    if task.attention_window and not (model.causal and model.attention):
        raise ConfigError(f"task '{task.name}' masks attention to the last {task.attention_window} slots, which needs "
                          f"a causal attention model (model=decoder), not '{model.name}'")
    if not model.uses_positions and position.name != "none":
        raise ConfigError(f"model '{model.name}' reads no positions, so position '{position.name}' would be ignored; "
                          "use position=none")
    if position.causal_only and not model.causal:
        raise ConfigError(f"position '{position.name}' is defined for causal models only; use model=decoder, not '{model.name}'")

    for n in (cfg.train.min_length, cfg.eval.min_length, cfg.eval.max_length):
        task.check_length(n)
    if model.uses_positions and position.task_ids and task.position_ids(cfg.train.max_length) is None:
        raise ConfigError(f"position '{position.name}' needs position ids from the task (Task.position_ids); "
                          f"task '{task.name}' gives none")
    longest = max(seq_len(task, n) for n in (cfg.train.max_length, cfg.eval.max_length))
    limit = position.table_size(pos_opts)
    if model.uses_positions and limit is not None:
        if longest > limit:
            raise ConfigError(
                f"position '{position.name}': max_len {limit} is below the longest sequence "
                f"({longest} slots at eval.max_length={cfg.eval.max_length}); raise position.max_len")
        _check_reach(task, position, pos_opts, cfg, limit)
    train_slots = max(seq_len(task, n) for n in (cfg.train.min_length, cfg.train.max_length))
    a = cfg.attention
    if a.logit_scale != "none" and (a.reference_length or train_slots) < 2:
        raise ConfigError(f"attention.logit_scale={a.logit_scale} needs a reference length >= 2 "
                          f"(attention.reference_length, or the longest training sequence: {train_slots} slots)")

    net = NetConfig(
        vocab_in=model_vocab(task), vocab_out=task.vocab_size, layers=cfg.model.layers,
        d_model=cfg.model.d_model, heads=cfg.model.heads, mlp_dim=cfg.model.mlp_dim,
        dropout=cfg.model.dropout, embed_dropout=cfg.model.embed_dropout, causal=model.causal,
        position=position, position_options=pos_opts, attention=cfg.attention, train_length=train_slots,
        window=task.attention_window)
    built = Built(cfg, task, model, position, pos_opts, layout, net)
    context.check(built)
    sharding.check(cfg)
    check_budget(built)
    check_sampler(task, cfg)
    return built


def _position_reach(task: Task, position: PositionSpec, length: int) -> int:
    """Largest position index + 1 before any offset: the slot count, or the task's largest id + 1."""
    if position.task_ids:
        ids_I, ids_T = task.position_ids(length)
        return int(max([0, *ids_I, *ids_T])) + 1
    return seq_len(task, length)


def _check_reach(task: Task, position: PositionSpec, options: Any, cfg: RunConfig, limit: int) -> None:
    """Position tables must hold training positions plus the largest training offset, and test positions."""
    offset = position.train_offset(options)
    for where, length, extra in (("train", cfg.train.max_length, offset), ("eval", cfg.eval.max_length, 0)):
        reach = _position_reach(task, position, length) + extra
        if reach > limit:
            plus = f" + max_offset {extra}" if extra else ""
            raise ConfigError(
                f"position '{position.name}': max_len {limit} is below the largest {where} position + 1 "
                f"({reach - extra}{plus} at {where}.max_length={length}); raise position.max_len"
                + (" or lower position.max_offset" if extra else ""))
