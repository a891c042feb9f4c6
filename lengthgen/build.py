"""Turn a RunConfig into the objects a run needs, checking every rule first.

All bad input is caught here, with one-line ConfigErrors, before anything is
traced or compiled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lengthgen.config import RunConfig, validate
from lengthgen.data import LAYOUTS, model_vocab, seq_len
from lengthgen.errors import ConfigError
from lengthgen.models import ModelSpec
from lengthgen.models.transformer import NetConfig
from lengthgen.positions.base import PositionSpec
from lengthgen.registry import MODELS, POSITIONS, TASKS
from lengthgen.task import Task, make_options


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


def make_task(node: dict[str, Any]) -> Task:
    """Instantiate a task from a `{name: ..., <options>}` config node."""
    options = {k: v for k, v in node.items() if k != "name"}
    task_cls = TASKS.get(node["name"])
    return task_cls(**options)


def build(cfg: RunConfig) -> Built:
    validate(cfg)
    task = make_task(cfg.task)
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
            raise ConfigError(f"task '{task.name}' needs layout {', '.join(task.layouts)}, which model '{model.name}' cannot read")
        layout = usable[0]
    if position.causal_only and not model.causal:
        raise ConfigError(f"position '{position.name}' is defined for causal models only; use model=decoder, not '{model.name}'")

    for n in (cfg.train.min_length, cfg.eval.min_length):
        task.check_length(n)
    task.check_length(cfg.eval.max_length)
    longest = max(seq_len(task, n) for n in (cfg.train.max_length, cfg.eval.max_length))
    limit = position.table_size(pos_opts)
    if model.uses_positions and limit is not None and longest > limit:
        raise ConfigError(
            f"position '{position.name}': max_len {limit} is below the longest sequence "
            f"({longest} slots at eval.max_length={cfg.eval.max_length}); raise position.max_len")

    net = NetConfig(
        vocab_in=model_vocab(task), vocab_out=task.vocab_size, layers=cfg.model.layers,
        d_model=cfg.model.d_model, heads=cfg.model.heads, mlp_dim=cfg.model.mlp_dim,
        dropout=cfg.model.dropout, embed_dropout=cfg.model.embed_dropout, causal=model.causal,
        position=position, position_options=pos_opts)
    return Built(cfg, task, model, position, pos_opts, layout, net)
