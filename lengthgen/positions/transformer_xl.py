"""Transformer-XL relative attention (Dai et al. 2019).

  logit(i, j) = [(q_i + u) . k_j + (q_i + v) . W_R R(p_i - p_j)] / sqrt(K)
R is the interleaved sinusoid of the signed distance (dimension `dim`, 0 =
d_model); u, v (per head) and W_R are learned and shared by the layers. The
position term projects queries into R's space once (BxSxHxdim) and contracts
with the SxSxdim table, so randomized (non-contiguous) positions work as they
are: they give Ruoss et al.'s noisy distances.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from lengthgen.positions.absolute import sinusoid_table
from lengthgen.positions.base import CheckedOptions, PositionSpec, Scheme, zero_or_at_least


@dataclasses.dataclass(frozen=True)
class TransformerXLOptions(CheckedOptions):
    """dim 1 would give R no sin/cos column, so no position term."""

    dim: int = 0
    bounds = {"dim": zero_or_at_least(2, "d_model")}


class TransformerXL(Scheme):
    @nn.compact
    def logits(self, q_BxSxHxK, k_BxSxHxK, pos_S):
        heads, head_dim = q_BxSxHxK.shape[-2:]
        dim = self.options.dim or self.d_model
        u = self.param("u", nn.initializers.zeros, (heads, head_dim))
        v = self.param("v", nn.initializers.zeros, (heads, head_dim))
        w_r = self.param("w_r", nn.initializers.lecun_normal(), (dim, heads, head_dim))
        r_SxSxR = sinusoid_table(pos_S[:, None] - pos_S[None, :], dim)
        content = jnp.einsum("bihk,bjhk->bhij", q_BxSxHxK + u, k_BxSxHxK)
        q_r = jnp.einsum("bihk,rhk->bihr", q_BxSxHxK + v, w_r)
        position = jnp.einsum("bihr,ijr->bhij", q_r, r_SxSxR.astype(q_r.dtype))
        return (content + position) * head_dim ** -0.5


TRANSFORMER_XL = PositionSpec(
    "transformer_xl", "relative", "content and sinusoidal-distance terms with learned u, v biases",
    "(q_i+u).k_j + (q_i+v).W_R R(i-j)", "Dai et al. 2019", TransformerXL, TransformerXLOptions)
