"""Relative schemes that add a bias to the attention logits: ALiBi and T5."""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lengthgen.positions.base import CheckedOptions, PositionSpec, Scheme, at_least, fail


def relative_distance(pos_Q: jax.Array, pos_S: jax.Array | None = None) -> jax.Array:
    """rel[i, j] = pos_S[j] - pos_Q[i] (key minus query; the keys are the queries by default)."""
    return (pos_Q if pos_S is None else pos_S)[None, :] - pos_Q[:, None]


def alibi_slopes(heads: int) -> np.ndarray:
    """Geometric slopes 2^(-8h/H); for H not a power of two, the slopes for the
    nearest lower power of two, then every other slope of the list for twice that many."""
    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    low = 2 ** int(math.floor(math.log2(heads)))
    slopes = power_of_two(low)
    if low < heads:
        slopes += power_of_two(2 * low)[0::2][: heads - low]
    return np.asarray(slopes, dtype=np.float32)


class Alibi(Scheme):
    def bias(self, pos_Q, pos_S=None):
        dist = jnp.abs(relative_distance(pos_Q, pos_S)).astype(jnp.float32)
        return -jnp.asarray(alibi_slopes(self.heads))[:, None, None] * dist[None]


@dataclasses.dataclass(frozen=True)
class T5Options(CheckedOptions):
    """num_buckets >= 4, so that each direction of a bidirectional model gets an exact and a
    log-spaced bucket; max_distance > num_buckets // 2, the causal max_exact (at or below
    max_exact the log spacing divides by ln(max_distance / max_exact) <= 0)."""

    num_buckets: int = 32
    max_distance: int = 128
    bounds = {"num_buckets": at_least(4)}

    def __post_init__(self):
        super().__post_init__()
        if not self.max_distance > self.num_buckets // 2:
            fail(self, f"max_distance must be > num_buckets // 2 ({self.num_buckets // 2}), got {self.max_distance}")


def t5_bucket(rel: jax.Array, bidirectional: bool, num_buckets: int, max_distance: int) -> jax.Array:
    """T5's bucket of relative position rel = key - query.

    Bidirectional: keys after the query take the upper half of the buckets. In
    each half, half the buckets are exact distances, the rest log-spaced up to
    max_distance (larger distances share the last bucket).
    """
    bucket = jnp.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        bucket = jnp.where(rel > 0, num_buckets, 0)
        n = jnp.abs(rel)
    else:
        n = jnp.maximum(-rel, 0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (
        jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact)
        / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).astype(jnp.int32)
    large = jnp.minimum(large, num_buckets - 1)
    return bucket + jnp.where(is_small, n, large)


class T5Bias(Scheme):
    @nn.compact
    def bias(self, pos_Q, pos_S=None):
        o = self.options
        table = self.param("table", nn.initializers.normal(0.02), (o.num_buckets, self.heads))
        bucket_QxS = t5_bucket(relative_distance(pos_Q, pos_S), not self.causal, o.num_buckets, o.max_distance)
        return jnp.take(table, bucket_QxS, axis=0).transpose(2, 0, 1)


ALIBI = PositionSpec(
    "alibi", "relative", "linear distance penalty with fixed geometric per-head slopes",
    "bias = -m_h |i-j|, m_h = 2^(-8h/H)", "Press et al. 2022", Alibi)
T5 = PositionSpec(
    "t5", "relative", "learned scalar per head per log-bucketed relative distance",
    "bias = b_h[bucket(j-i)], 32 buckets up to distance 128", "Raffel et al. 2020", T5Bias, T5Options)
