"""Sandwich (Chi et al. 2023): the inner product of two sinusoidal embeddings as a parameter-free bias.

  bias_h(i, j) = (sum_{k=1..d'/2} cos((i - j) / 10000^(2k/d')) - d'/2) / r_h,   r_h = 8h/H, h = 1..H
The sum runs over k = 1..d'/2 (not 0..d'/2-1); subtracting d'/2 makes the bias
0 at distance 0 and negative elsewhere, decaying roughly logarithmically.

Per head the kernel is divided by the compression ratio r_h = 8h/H, so head 1
is the sharpest and head H (r = 8) the flattest. The ratios are the values of h
the paper's ALiBi figure lists ("the range of h is n*8/H, where n = {1...H}";
Chi, Fan, Rudnicky, Ramadge, "Dissecting Transformer Length Extrapolation via
the Lens of Receptive Field Analysis", ACL 2023, arXiv 2212.10356, Fig. 1), which
Sandwich divides by rather than using ALiBi's 2^(-h). NeMo's Megatron Sandwich
embedding computes this bias; attention-gym's Sandwich score mod uses the same
ratios. r_h needs no power-of-two fallback, so every head count gets 8h/H.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lengthgen.positions.base import CheckedOptions, PositionSpec, Rule, Scheme
from lengthgen.positions.bias import relative_distance


@dataclasses.dataclass(frozen=True)
class SandwichOptions(CheckedOptions):
    dim: int = 128
    bounds = {"dim": Rule(lambda v: v >= 2 and v % 2 == 0, "even and >= 2")}


def sandwich_kernel(dist: jax.Array, dim: int) -> jax.Array:
    """sum_{k=1..dim/2} cos(dist / 10000^(2k/dim)) - dim/2, elementwise."""
    k = jnp.arange(1, dim // 2 + 1, dtype=jnp.float32)
    angle = dist.astype(jnp.float32)[..., None] / (10000.0 ** (2.0 * k / dim))
    return jnp.cos(angle).sum(-1) - dim / 2


def compression_ratios(heads: int) -> np.ndarray:
    """Sandwich's per-head divisors r_h = 8h/H for h = 1..H."""
    return (8.0 * np.arange(1, heads + 1) / heads).astype(np.float32)


class Sandwich(Scheme):
    def bias(self, pos_Q, pos_S=None):
        kernel_QxS = sandwich_kernel(relative_distance(pos_Q, pos_S), self.options.dim)
        return kernel_QxS[None] / jnp.asarray(compression_ratios(self.heads))[:, None, None]


SANDWICH = PositionSpec(
    "sandwich", "relative", "parameter-free bias from the inner product of sinusoidal embeddings",
    "bias = (sum_k=1..d'/2 cos((i-j)/10000^(2k/d')) - d'/2) / (8h/H)", "Chi et al. 2023", Sandwich, SandwichOptions)
