"""Shared helpers for the position-scheme tests: standalone schemes, tiny networks, a NumPy RoPE score."""

from __future__ import annotations

import numpy as np

from lengthgen.build import build
from lengthgen.config import EvalConfig, ModelConfig, RunConfig, TrainConfig
from lengthgen.registry import POSITIONS
from lengthgen.task import make_options

ALL = [n for n in POSITIONS.names() if POSITIONS.origin(n).startswith("lengthgen.positions.")]  # built-in schemes


def task_for(name: str) -> str:
    return "addition" if POSITIONS.get(name).task_ids else "reverse_string"


def scheme(name: str, *, heads: int = 2, d_model: int = 16, causal: bool = True, train_length: int = 16,
           train: bool = False, length=None, **options):
    """(spec, unbound module) of a registered scheme."""
    spec = POSITIONS.get(name)
    opts = make_options(spec.Options, options, name)
    return spec, spec.module(opts, d_model, heads, causal, train_length=train_length, train=train, length=length)


def built(name: str, model: str = "decoder", n: int = 4, m: int = 8, attention=None, position_options=None,
          d_model: int = 16, heads: int = 2, layers: int = 1):
    """A Built for a tiny network (no training)."""
    cfg = RunConfig(
        task={"name": task_for(name)}, position={"name": name, **(position_options or {})},
        model=ModelConfig(kind=model, layers=layers, d_model=d_model, heads=heads, mlp_dim=32),
        train=TrainConfig(max_length=n, steps=10, batch_size=4, chunk_steps=10, warmup_steps=1),
        eval=EvalConfig(max_length=m, samples_per_length=4, batch_size=4), progress=False,
        **({"attention": attention} if attention is not None else {}))
    return build(cfg)


def rope_score(q_K: np.ndarray, k_K: np.ndarray, distance: float, base: float = 10000.0) -> float:
    """q.k / sqrt(K) after rotating q by distance * theta_i relative to k, pairs (2i, 2i+1)."""
    K = q_K.shape[-1]
    theta = base ** (-np.arange(0, K, 2) / K)
    q1, q2, k1, k2 = q_K[0::2], q_K[1::2], k_K[0::2], k_K[1::2]
    angle = distance * theta
    return float(((q1 * k1 + q2 * k2) * np.cos(angle) + (q1 * k2 - q2 * k1) * np.sin(angle)).sum() / np.sqrt(K))
