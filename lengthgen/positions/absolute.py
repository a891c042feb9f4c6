"""Absolute schemes: no positions (NoPE), sinusoidal and learned tables."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.positions.base import PositionSpec, Scheme


def sinusoid_table(pos_S: jax.Array, dim: int) -> jax.Array:
    """Interleaved table: column 2k is sin(p / 10000^(2k/dim)), column 2k+1 the cos.

    This is the original Transformer's column order (not GPT-J's [sin | cos]).
    """
    k = jnp.arange(dim // 2, dtype=jnp.float32)
    angle_SxK = pos_S.astype(jnp.float32)[:, None] / (10000.0 ** (2.0 * k / dim))[None, :]
    table = jnp.stack([jnp.sin(angle_SxK), jnp.cos(angle_SxK)], axis=-1).reshape(pos_S.shape[0], -1)
    return jnp.pad(table, ((0, 0), (0, dim - table.shape[1])))


class NoPositions(Scheme):
    """NoPE: the model gets no position signal (causal masking still orders tokens)."""


class Sinusoidal(Scheme):
    def embed(self, x_BxSxD, pos_S):
        return x_BxSxD + sinusoid_table(pos_S, self.d_model)[None].astype(x_BxSxD.dtype)


@dataclasses.dataclass(frozen=True)
class TableOptions:
    max_len: int = 512


class Learned(Scheme):
    @nn.compact
    def embed(self, x_BxSxD, pos_S):
        table = self.param("table", nn.initializers.normal(0.02), (self.options.max_len, self.d_model))
        return x_BxSxD + jnp.take(table, pos_S, axis=0)[None].astype(x_BxSxD.dtype)


NONE = PositionSpec("none", "none", "no position information (NoPE)", "-", "Kazemnejad et al. 2023", NoPositions)
SINUSOIDAL = PositionSpec(
    "sinusoidal", "absolute", "fixed sin/cos table added to the embeddings",
    "PE(p,2k)=sin(p/10000^(2k/D)), PE(p,2k+1)=cos(.)", "Vaswani et al. 2017", Sinusoidal)
LEARNED = PositionSpec(
    "learned", "absolute", "trainable table of max_len position vectors", "x + E[p], E in R^(max_len x D)",
    "Gehring et al. 2017", Learned, TableOptions, table_size=lambda o: o.max_len)
