"""FIRE (Li et al. 2024): a learned function of the log-scaled, normalized distance.

  bias_h(i, j) = f(psi(|i - j|) / psi(max(L, i, j)))_h,   psi(x) = log(c x + 1)
f is an MLP (1 -> hidden -> H, ReLU), c > 0 and L > 0 are learned (softplus),
starting at c = init_c and L = threshold (0 = the run's training length). For
causal pairs max(L, i, j) = max(L, i), the paper's normalizer: the input stays
in [0, 1] at any length, is 0 at distance 0, and is 1 for the first key of any
query past L. Bidirectional models get a second set of H outputs for keys
after the query.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.positions.base import CheckedOptions, PositionSpec, Scheme, above, at_least, resolve_length
from lengthgen.positions.bias import relative_distance


@dataclasses.dataclass(frozen=True)
class FireOptions(CheckedOptions):
    """c and L start at init_c and threshold through the inverse softplus, defined for values > 0."""

    hidden: int = 32
    init_c: float = 1.0
    threshold: float = 0.0
    bounds = {"hidden": at_least(1), "init_c": above(0),
              "threshold": at_least(0, " (0 = the run's training length)")}


def fire_inputs(pos_Q: jax.Array, c, threshold, pos_S: jax.Array | None = None) -> jax.Array:
    """QxS normalized distance psi(|i-j|) / psi(max(L, i, j)) (the keys are the queries by default)."""
    q = pos_Q.astype(jnp.float32)
    k = q if pos_S is None else pos_S.astype(jnp.float32)
    dist = jnp.abs(q[:, None] - k[None, :])
    scale = jnp.maximum(threshold, jnp.maximum(q[:, None], k[None, :]))
    return jnp.log1p(c * dist) / jnp.log1p(c * scale)


def softplus_inverse(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class Fire(Scheme):
    @nn.compact
    def bias(self, pos_Q, pos_S=None):
        o = self.options
        threshold0 = o.threshold or float(resolve_length(0, self, "fire threshold"))
        c = jax.nn.softplus(self.param("raw_c", lambda k, s: jnp.full(s, softplus_inverse(o.init_c)), ()))
        threshold = jax.nn.softplus(self.param("raw_threshold", lambda k, s: jnp.full(s, softplus_inverse(threshold0)), ()))
        x_QxSx1 = fire_inputs(pos_Q, c, threshold, pos_S)[..., None]
        sides = 1 if self.causal else 2
        h = jax.nn.relu(nn.Dense(o.hidden, name="mlp_in")(x_QxSx1))
        out_QxSxO = nn.Dense(sides * self.heads, name="mlp_out")(h)
        if sides == 2:
            after = (relative_distance(pos_Q, pos_S) > 0)[..., None]
            out_QxSxO = jnp.where(after, out_QxSxO[..., self.heads:], out_QxSxO[..., :self.heads])
        return out_QxSxO.transpose(2, 0, 1)


FIRE = PositionSpec(
    "fire", "relative", "MLP over the log-scaled distance normalized by the query position, learned c and L",
    "bias = f(psi(i-j) / psi(max(L, i))), psi(x) = log(cx + 1)", "Li et al. 2024", Fire, FireOptions)
