"""Rotary position embedding (RoPE)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lengthgen.positions.base import PositionSpec, Scheme


@dataclasses.dataclass(frozen=True)
class RopeOptions:
    base: float = 10000.0


def rotate_pairs(x_BxSxHxK: jax.Array, angle_SxK2: jax.Array) -> jax.Array:
    """Rotate feature pairs (2i, 2i+1) by angle[:, i] (RoFormer / GPT-J pairing)."""
    cos = jnp.cos(angle_SxK2)[None, :, None, :]
    sin = jnp.sin(angle_SxK2)[None, :, None, :]
    x1, x2 = x_BxSxHxK[..., 0::2], x_BxSxHxK[..., 1::2]
    out = jnp.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return out.reshape(x_BxSxHxK.shape).astype(x_BxSxHxK.dtype)


def rope_angles(pos_S: jax.Array, head_dim: int, base: float) -> jax.Array:
    """angle[p, i] = p * base^(-2i/head_dim)."""
    inv_freq = base ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
    return pos_S.astype(jnp.float32)[:, None] * inv_freq[None, :]


class Rope(Scheme):
    def rotate(self, q_BxSxHxK, k_BxSxHxK, pos_S):
        angle = rope_angles(pos_S, q_BxSxHxK.shape[-1], self.options.base)
        return rotate_pairs(q_BxSxHxK, angle), rotate_pairs(k_BxSxHxK, angle)


ROPE = PositionSpec(
    "rope", "rotary", "rotate query/key feature pairs by position-dependent angles",
    "q,k pair i rotated by p * base^(-2i/d_head)", "Su et al. 2021", Rope, RopeOptions)
