"""KERPLE (Chi et al. 2022): conditionally positive definite kernels of the distance as biases.

  log:   -r1 * log(1 + r2 |i - j|)      power: -r1 * |i - j|^r2
r1, r2 are learned per head (shared by the layers). The constraints r1, r2 >=
0.01 and r2 <= 2 (power) hold by parametrization, whatever the optimizer does:
r = 0.01 + softplus(raw), and for the power r2 = 0.01 + 1.99 * sigmoid(raw).
Both start at r1 = r2 = 1.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.positions.base import PositionSpec, Scheme
from lengthgen.positions.bias import relative_distance
from lengthgen.positions.fire import softplus_inverse

FLOOR = 0.01
POWER_CAP = 2.0


def positive(raw: jax.Array) -> jax.Array:
    return FLOOR + jax.nn.softplus(raw)


def bounded(raw: jax.Array) -> jax.Array:
    return FLOOR + (POWER_CAP - FLOOR) * jax.nn.sigmoid(raw)


def _constant(value: float):
    return lambda key, shape: jnp.full(shape, value, jnp.float32)


class Kerple(Scheme):
    """bias = -r1 * kernel(|i - j|): a subclass defines kernel(dist_1xQxS), which creates r2."""

    @nn.compact
    def bias(self, pos_Q, pos_S=None):
        r1 = positive(self.param("raw_r1", _constant(softplus_inverse(1.0 - FLOOR)), (self.heads,)))
        dist = jnp.abs(relative_distance(pos_Q, pos_S)).astype(jnp.float32)[None]
        return -r1[:, None, None] * self.kernel(dist)


class KerpleLog(Kerple):
    def kernel(self, dist_1xQxS):
        r2 = positive(self.param("raw_r2", _constant(softplus_inverse(1.0 - FLOOR)), (self.heads,)))
        return jnp.log1p(r2[:, None, None] * dist_1xQxS)


class KerplePower(Kerple):
    def kernel(self, dist_1xQxS):
        start = (1.0 - FLOOR) / (POWER_CAP - FLOOR)
        r2 = bounded(self.param("raw_r2", _constant(math.log(start / (1.0 - start))), (self.heads,)))
        safe = jnp.where(dist_1xQxS > 0, dist_1xQxS, 1.0)
        return jnp.where(dist_1xQxS > 0, safe ** r2[:, None, None], 0.0)


KERPLE_LOG = PositionSpec(
    "kerple_log", "relative", "logarithmic distance penalty, learned r1, r2 per head",
    "bias = -r1 log(1 + r2 |i-j|), r1, r2 >= 0.01", "Chi et al. 2022", KerpleLog)
KERPLE_POWER = PositionSpec(
    "kerple_power", "relative", "power distance penalty, learned r1, r2 per head",
    "bias = -r1 |i-j|^r2, r1 >= 0.01, 0.01 <= r2 <= 2", "Chi et al. 2022", KerplePower)
