"""Rotary position embedding (RoPE) and its context-extension variants: PI, NTK, YaRN.

Pairing: features (2i, 2i+1) form pair i (RoFormer / GPT-J), rotated by
p * theta_i with theta_i = base^(-2i/K), K = head dim.

PI, NTK and YaRN are evaluation-time extensions of a context trained at
L_train: training uses plain RoPE (s = 1); at evaluation the factor is
  s = options.scale                     if scale > 0 (fixed), else
  s = max(1, n / L_train)               (dynamic; n = real slots of the sequence),
with L_train = options.train_length, or the run's longest training sequence
(in slots) when 0. Dynamic scaling leaves every length <= L_train exactly as trained.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from lengthgen.positions.base import (CheckedOptions, PositionSpec, Scheme, above, at_least, fail, resolve_length,
                                     zero_or_at_least)


@dataclasses.dataclass(frozen=True)
class RopeOptions(CheckedOptions):
    """base > 1, so that theta_i = base^(-2i/K) falls from 1 rad per position: base <= 0
    gives NaN, base = 1 the same angle for every pair, base < 1 rising frequencies (and
    YaRN divides by ln base)."""

    base: float = 10000.0
    bounds = {"base": above(1)}


def rotate_pairs(x_BxSxHxK: jax.Array, angle_SxK2: jax.Array) -> jax.Array:
    """Rotate feature pairs (2i, 2i+1) by angle[:, i] (RoFormer / GPT-J pairing)."""
    cos = jnp.cos(angle_SxK2)[None, :, None, :]
    sin = jnp.sin(angle_SxK2)[None, :, None, :]
    x1, x2 = x_BxSxHxK[..., 0::2], x_BxSxHxK[..., 1::2]
    out = jnp.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return out.reshape(x_BxSxHxK.shape).astype(x_BxSxHxK.dtype)


def inv_frequencies(head_dim: int, base) -> jax.Array:
    """theta_i = base^(-2i/head_dim), i = 0..head_dim/2 - 1."""
    return base ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)


class Rope(Scheme):
    def frequencies(self, head_dim: int):
        """(theta_K2, magnitude): per-pair frequencies and a factor applied to both q and k."""
        return inv_frequencies(head_dim, self.options.base), None

    def rotate(self, q_BxSxHxK, k_BxSxHxK, pos_S):
        theta, magnitude = self.frequencies(q_BxSxHxK.shape[-1])
        angle_SxK2 = pos_S.astype(jnp.float32)[:, None] * theta[None, :]
        q, k = rotate_pairs(q_BxSxHxK, angle_SxK2), rotate_pairs(k_BxSxHxK, angle_SxK2)
        if magnitude is not None:
            q, k = q * magnitude.astype(q.dtype), k * magnitude.astype(k.dtype)
        return q, k


@dataclasses.dataclass(frozen=True)
class ScaledRopeOptions(RopeOptions):
    """A fixed scale s must be >= 1: these schemes extend the trained context, and s < 1
    would stretch positions beyond it (and shrink NTK's base, to NaN for s < 0)."""

    scale: float = 0.0
    train_length: int = 0
    bounds = {"scale": zero_or_at_least(1, "dynamic"),
              "train_length": at_least(0, " (0 = the run's training length)")}


class ScaledRope(Rope):
    """RoPE whose frequencies depend on the extension factor s (1 while training)."""

    def factor(self):
        if self.train:
            return jnp.float32(1.0)
        if self.options.scale > 0:
            return jnp.float32(self.options.scale)
        reference = resolve_length(self.options.train_length, self, "rope scaling train_length")
        if self.length is None:
            raise ValueError("dynamic rope scaling needs the sequence length (Scheme.length)")
        return jnp.maximum(1.0, jnp.asarray(self.length, jnp.float32) / reference)


class PositionInterpolation(ScaledRope):
    def frequencies(self, head_dim):
        return inv_frequencies(head_dim, self.options.base) / self.factor(), None


def ntk_base(base, s, head_dim: int):
    """base' = base * s^(K/(K-2)): the lowest frequency is interpolated by exactly 1/s, the highest kept."""
    return base * s ** (head_dim / (head_dim - 2))


class NTKRope(ScaledRope):
    def frequencies(self, head_dim):
        return inv_frequencies(head_dim, ntk_base(self.options.base, self.factor(), head_dim)), None


@dataclasses.dataclass(frozen=True)
class YarnOptions(ScaledRopeOptions):
    """beta_slow > 0 (the ramp takes ln of L_train / (2 pi beta)) and beta_fast >= beta_slow
    (otherwise the ramp runs backwards: high frequencies interpolated, low ones kept)."""

    beta_fast: float = 32.0
    beta_slow: float = 1.0
    bounds = {"beta_slow": above(0)}

    def __post_init__(self):
        super().__post_init__()
        if not self.beta_fast >= self.beta_slow:
            fail(self, f"beta_fast must be >= beta_slow ({self.beta_slow:g}), got {self.beta_fast}")


def yarn_ramp(head_dim: int, base: float, train_length: int, beta_fast: float, beta_slow: float) -> np.ndarray:
    """Per-pair interpolation weight in [0, 1]: 0 keeps theta_i, 1 uses theta_i / s.

    Pair i turns L_train * theta_i / (2 pi) times over the trained context;
    pair_index(r) is the (fractional) pair that turns r times. The ramp is linear
    in the pair index from floor(pair_index(beta_fast)) (clamped at 0) to
    ceil(pair_index(beta_slow)) (clamped at head_dim - 1, as in the reference code).
    """
    def pair_index(rotations: float) -> float:
        return head_dim * math.log(train_length / (2 * math.pi * rotations)) / (2 * math.log(base))

    low = max(math.floor(pair_index(beta_fast)), 0)
    high = min(math.ceil(pair_index(beta_slow)), head_dim - 1)
    if high == low:
        high += 0.001
    return np.clip((np.arange(head_dim // 2) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def yarn_temperature(s):
    """sqrt of the logit factor: 0.1 ln s + 1 for s > 1, else 1 (multiplies cos and sin, so q and k)."""
    return jnp.where(s > 1.0, 0.1 * jnp.log(jnp.maximum(s, 1.0)) + 1.0, 1.0)


class Yarn(ScaledRope):
    def frequencies(self, head_dim):
        o = self.options
        s = self.factor()
        reference = resolve_length(o.train_length, self, "rope_yarn train_length")
        ramp = jnp.asarray(yarn_ramp(head_dim, o.base, reference, o.beta_fast, o.beta_slow))
        theta = inv_frequencies(head_dim, o.base)
        return theta * (1.0 - ramp) + theta / s * ramp, yarn_temperature(s)


ROPE = PositionSpec(
    "rope", "rotary", "rotate query/key feature pairs by position-dependent angles",
    "q,k pair i rotated by p * base^(-2i/d_head)", "Su et al. 2021", Rope, RopeOptions)
ROPE_PI = PositionSpec(
    "rope_pi", "rotary", "RoPE; at evaluation positions are squeezed by s into the trained range",
    "p -> p / s, s = L_test / L_train (dynamic by default)", "Chen et al. 2023", PositionInterpolation,
    ScaledRopeOptions)
ROPE_NTK = PositionSpec(
    "rope_ntk", "rotary", "RoPE; at evaluation the base grows so low frequencies interpolate, high ones extrapolate",
    "base' = base * s^(d/(d-2))", "bloc97 2023 (NTK-aware scaling)", NTKRope, ScaledRopeOptions)
ROPE_YARN = PositionSpec(
    "rope_yarn", "rotary", "RoPE; at evaluation a per-pair ramp between original and interpolated frequencies",
    "theta_i' = (1-r_i) theta_i + r_i theta_i / s; logits x (0.1 ln s + 1)^2", "Peng et al. 2023", Yarn, YarnOptions)
