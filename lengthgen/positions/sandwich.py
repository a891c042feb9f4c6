"""Sandwich (Chi et al. 2023): the inner product of two sinusoidal embeddings as a parameter-free bias.

  bias_h(i, j) = m_h * (sum_{k=1..d'/2} cos((i - j) / 10000^(2k/d')) - d'/2)
The sum runs over k = 1..d'/2 (not 0..d'/2-1); subtracting d'/2 makes the bias
0 at distance 0 and negative elsewhere, decaying roughly logarithmically. Heads
are scaled by m_h, ALiBi's geometric slopes, so they range from sharp to flat.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lengthgen.errors import ConfigError
from lengthgen.positions.base import PositionSpec, Scheme
from lengthgen.positions.bias import alibi_slopes, relative_distance


@dataclasses.dataclass(frozen=True)
class SandwichOptions:
    dim: int = 128

    def __post_init__(self):
        if self.dim < 2 or self.dim % 2:
            raise ConfigError(f"position 'sandwich': dim must be even and >= 2, got {self.dim}")


def sandwich_kernel(dist: jax.Array, dim: int) -> jax.Array:
    """sum_{k=1..dim/2} cos(dist / 10000^(2k/dim)) - dim/2, elementwise."""
    k = jnp.arange(1, dim // 2 + 1, dtype=jnp.float32)
    angle = dist.astype(jnp.float32)[..., None] / (10000.0 ** (2.0 * k / dim))
    return jnp.cos(angle).sum(-1) - dim / 2


class Sandwich(Scheme):
    def bias(self, pos_S):
        kernel_SxS = sandwich_kernel(relative_distance(pos_S), self.options.dim)
        return jnp.asarray(alibi_slopes(self.heads))[:, None, None] * kernel_SxS[None]


SANDWICH = PositionSpec(
    "sandwich", "relative", "parameter-free bias from the inner product of sinusoidal embeddings",
    "bias = m_h (sum_k=1..d'/2 cos((i-j)/10000^(2k/d')) - d'/2)", "Chi et al. 2023", Sandwich, SandwichOptions)
