"""Absolute schemes: NoPE (the base Scheme; causal masking still orders tokens), sin/cos and learned tables, linear positions."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lengthgen.positions.base import CheckedOptions, PositionSpec, Scheme, above, at_least


def sinusoid_table(pos_S: jax.Array, dim: int) -> jax.Array:
    """Interleaved table: column 2k is sin(p / 10000^(2k/dim)), column 2k+1 the cos.

    This is the original Transformer's column order (not GPT-J's [sin | cos]).
    `pos_S` may have any shape; the table gets one more axis of size dim.
    """
    k = jnp.arange(dim // 2, dtype=jnp.float32)
    angle = pos_S.astype(jnp.float32)[..., None] / (10000.0 ** (2.0 * k / dim))
    table = jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1).reshape(*pos_S.shape, -1)
    return jnp.pad(table, [(0, 0)] * pos_S.ndim + [(0, dim - table.shape[-1])])


class Sinusoidal(Scheme):
    def embed(self, x_BxSxD, pos_S):
        return x_BxSxD + sinusoid_table(pos_S, self.d_model)[None].astype(x_BxSxD.dtype)


@dataclasses.dataclass(frozen=True)
class TableOptions(CheckedOptions):
    max_len: int = 512
    bounds = {"max_len": at_least(1)}


class Learned(Scheme):
    @nn.compact
    def embed(self, x_BxSxD, pos_S):
        table = self.param("table", nn.initializers.normal(0.02), (self.options.max_len, self.d_model))
        return x_BxSxD + jnp.take(table, pos_S, axis=0)[None].astype(x_BxSxD.dtype)


@dataclasses.dataclass(frozen=True)
class LinearOptions(CheckedOptions):
    divisor: float = 64.0
    bounds = {"divisor": above(0)}


class Linear(Scheme):
    """p_t = t / C as one feature (Liu et al. 2023, Prop. 4).

    Concatenation keeps the model width: the token embedding supplies the first
    d_model - 1 features and the last feature is p_t (the token embedding's
    last column is unused). Every layer reads p_t through its pre-LayerNorm.
    """

    def embed(self, x_BxSxD, pos_S):
        p_S = pos_S.astype(jnp.float32) / self.options.divisor
        p_BxSx1 = jnp.broadcast_to(p_S[None, :, None], (*x_BxSxD.shape[:2], 1)).astype(x_BxSxD.dtype)
        return jnp.concatenate([x_BxSxD[..., :-1], p_BxSx1], axis=-1)


def linear_cross_terms(params, net) -> dict:
    """Per layer and head, |W_Qp^T W_Kp|: the weight of the i*j/C^2 term in the logits (Prop. 4).

    W_Qp, W_Kp are the query/key projections of the position feature (the last
    one), times that feature's LayerNorm scale. Zero is needed to generalize to
    every length.
    """
    out = {}
    for layer in range(net.layers):
        block = params[f"block_{layer}"]
        kernel = np.asarray(block["qkv"]["kernel"], np.float64)  # D x 3 x H x K
        gain = float(np.asarray(block["LayerNorm_0"]["scale"])[-1])
        w_qp, w_kp = gain * kernel[-1, 0], gain * kernel[-1, 1]
        out[f"block_{layer}"] = [round(float(abs(v)), 6) for v in (w_qp * w_kp).sum(-1)]
    return {"linear_qk_position_cross": out}


NONE = PositionSpec("none", "none", "no position information (NoPE)", "-", "Kazemnejad et al. 2023", Scheme)
SINUSOIDAL = PositionSpec(
    "sinusoidal", "absolute", "fixed sin/cos table added to the embeddings",
    "PE(p,2k)=sin(p/10000^(2k/D)), PE(p,2k+1)=cos(.)", "Vaswani et al. 2017", Sinusoidal)
LEARNED = PositionSpec(
    "learned", "absolute", "trainable table of max_len position vectors", "x + E[p], E in R^(max_len x D)",
    "Gehring et al. 2017", Learned, TableOptions, table_size=lambda o: o.max_len)
LINEAR = PositionSpec(
    "linear", "absolute", "position t/C as the last embedding feature; summary reports |W_Qp^T W_Kp|",
    "x = [tok_(1..D-1), t/C]", "Liu et al. 2023", Linear, LinearOptions, diagnostics=linear_cross_terms)
