"""What a run will cost, estimated before it runs: FLOPs and peak memory.

`check_budget` refuses, with one line and before anything compiles, a run whose
training batch or evaluation batch would not fit in memory or whose evaluation
would take longer than `eval.max_tflop` allows: such runs otherwise train for
hours and then hang, or die in an out-of-memory traceback after compiling.

The estimates count float32 arrays of the transformer: per layer the
activations a training step keeps for the backward pass (about 8 x d_model +
2 x mlp_dim floats per token) and the attention logits (3 arrays of B x H x S x
S floats: logits, exponentials and their gradient; evaluation holds one block of
them at a time), plus the S x S mask and a scheme's H x S x S bias. They stay
within a factor of 2 of what XLA allocates (tests/test_cost.py).
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

from lengthgen.attention import held_queries
from lengthgen.data import seq_len
from lengthgen.errors import ConfigError
from lengthgen.positions.base import Scheme

# Upper bounds on what an evaluation batch holds at once (floats, all seeds): attention
# logits, and one layer's activations.
ATTENTION_BUDGET = 2**26
ACTIVATION_BUDGET = 2**28
FLOAT = 4
GIB = 2.0**30
ACTIVATIONS_PER_D = 8
LOGIT_ARRAYS = 3
MEMORY_FRACTION = 0.8
# Evaluation speed on two CPU cores: 43 TFLOP (lengths 41..500, Ruoss et al. setting) in 28.9 minutes
# (benchmarks/README.md).
REFERENCE_GFLOPS = 25.0


def forward_flops(model, attention: bool, slots: int, vocab: int) -> float:
    """FLOPs of one instance's forward pass at `slots` slots: the dense layers, q.k and the
    mixing for every query-key pair (attention models), and the output head over `vocab`."""
    d, f = model.d_model, model.mlp_dim
    if attention:
        per_layer = 2 * (4 * d * d + 2 * d * f) + 4 * slots * d
    else:
        per_layer = 2 * 4 * (2 * d) * d
    return float(slots) * (model.layers * per_layer + 2 * d * vocab)


def bucket_rows(built, size: int) -> int:
    """Instances per evaluation batch at `size` slots: as many as eval.batch_size allows with
    the attention logits held at once within ATTENTION_BUDGET and one layer's activations
    within ACTIVATION_BUDGET on each device (a multiple of `mesh.data`, whose devices
    each take an equal part of the rows, for the run's models over `mesh.models`)."""
    net, mesh = built.net, built.cfg.mesh
    seeds = len(built.cfg.models) // mesh.models
    per_row = seeds * size * activation_floats(built.cfg.model)
    rows = min(-(-built.cfg.eval.batch_size // mesh.data), ACTIVATION_BUDGET // per_row)
    if built.model.attention:
        held = held_queries(size, size, net.whole_logits, train=False)
        rows = min(rows, ATTENTION_BUDGET // (held * size * net.heads * seeds))
    return max(1, rows) * mesh.data


def activation_floats(model) -> int:
    """Floats per token that a layer's forward and backward pass keep (see the module docstring)."""
    return ACTIVATIONS_PER_D * model.d_model + 2 * model.mlp_dim


def machine_memory_bytes() -> float:
    """Physical memory, or the container's limit where one is set and lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(OSError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    return float(total)


def batch_bytes(built, rows: int, slots: int, train: bool) -> float:
    """Peak bytes of one batch of `rows` instances at `slots` slots, all models; a training
    step keeps every layer's activations and logits (`held_queries` says how many)."""
    m, seeds = built.cfg.model, len(built.cfg.models)
    per_token = activation_floats(m) * FLOAT
    layers_kept = m.layers if train else 1
    total = seeds * rows * slots * per_token * layers_kept
    if built.model.attention:
        q = held_queries(slots, slots, built.net.whole_logits, train)
        total += seeds * rows * m.heads * q * slots * FLOAT * (LOGIT_ARRAYS * layers_kept if train else 1)
        total += slots * slots
        if built.position.module.bias is not Scheme.bias:
            total += seeds * m.heads * slots * slots * FLOAT * (2 if train else 1)
    return float(total)


def eval_tflop(built, lengths: list[int], slots_of, samples: int | None = None) -> float:
    """Evaluation TFLOP of one evaluation set over `lengths` (every model; `samples` instances
    per length, default eval.samples_per_length), from at most ~1,000 sampled lengths:
    sequence sizes never shrink as the length grows, so each sampled length stands for the
    lengths after it up to the next sample (an upper bound)."""
    step = max(1, len(lengths) // 1000)
    total = 0.0
    for i in range(0, len(lengths), step):
        chunk = lengths[i:i + step]
        total += len(chunk) * forward_flops(built.cfg.model, built.model.attention, slots_of(chunk[-1]), built.task.vocab_size)
    return total * (samples or built.cfg.eval.samples_per_length) * len(built.cfg.models) / 1e12


def check_budget(built) -> None:
    """Refuse a run whose training or evaluation batch exceeds the memory limit, or whose
    evaluation exceeds eval.max_tflop."""
    cfg = built.cfg
    limit = cfg.memory_gb * GIB if cfg.memory_gb else MEMORY_FRACTION * machine_memory_bytes()
    where = f"memory_gb={cfg.memory_gb:g}" if cfg.memory_gb else f"{limit / GIB:.1f} GiB usable on this machine"
    train_slots = seq_len(built.task, cfg.train.max_length)
    need = batch_bytes(built, cfg.train.batch_size, train_slots, train=True)
    if need > limit:
        raise ConfigError(
            f"a training batch at train.max_length={cfg.train.max_length} ({train_slots} slots, "
            f"train.batch_size={cfg.train.batch_size}, {len(cfg.models)} model(s)) needs about {need / GIB:.1f} GiB, "
            f"over the {where}; lower train.max_length, train.batch_size, train.seeds or train.lrs")
    eval_slots = seq_len(built.task, cfg.eval.max_length)
    rows = bucket_rows(built, eval_slots)
    need = batch_bytes(built, rows, eval_slots, train=False)
    if need > limit:
        raise ConfigError(
            f"an evaluation batch at eval.max_length={cfg.eval.max_length} ({eval_slots} slots, {rows} row(s)) needs "
            f"about {need / GIB:.1f} GiB, over the {where}; lower eval.max_length")
    from lengthgen.evaluate import eval_plan

    tflop = sum(eval_tflop(built, s.lengths, lambda n: seq_len(s.task, n), s.samples) for s in eval_plan(built))
    if tflop > cfg.eval.max_tflop:
        hours = tflop * 1e3 / REFERENCE_GFLOPS / 3600
        raise ConfigError(
            f"evaluation of {len(built.eval_lengths)} lengths up to eval.max_length={cfg.eval.max_length} is "
            f"estimated at {tflop:.3g} TFLOP (about {_duration(hours)} at {REFERENCE_GFLOPS:g} GFLOP/s), over "
            f"eval.max_tflop={cfg.eval.max_tflop:g}; lower eval.max_length or eval.samples_per_length, raise "
            "eval.stride, or raise eval.max_tflop")


def _duration(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.3g} days"
    return f"{hours:.3g} hours" if hours >= 1 else f"{max(1, math.ceil(hours * 60))} minutes"
