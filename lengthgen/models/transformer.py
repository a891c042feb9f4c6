"""A small pre-LayerNorm transformer; the position scheme and causality come from its config."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.attention import attend, attention_mask
from lengthgen.positions.base import PositionSpec


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """Everything a network needs, fixed before tracing (hashable, so jit can key on it)."""

    vocab_in: int
    vocab_out: int
    layers: int
    d_model: int
    heads: int
    mlp_dim: int
    dropout: float
    embed_dropout: float
    causal: bool
    position: PositionSpec
    position_options: Any


class Block(nn.Module):
    cfg: NetConfig
    scheme: nn.Module

    @nn.compact
    def __call__(self, x_BxSxD, pos_S, mask_SxS, bias_HxSxS, train: bool):
        c = self.cfg
        head_dim = c.d_model // c.heads
        h = nn.LayerNorm()(x_BxSxD)
        qkv = nn.DenseGeneral((3, c.heads, head_dim), name="qkv")(h)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        q, k = self.scheme.rotate(q, k, pos_S)
        h = attend(q, k, v, mask_SxS, bias_HxSxS)
        h = nn.DenseGeneral(c.d_model, axis=(-2, -1), name="out")(h)
        x_BxSxD = x_BxSxD + nn.Dropout(c.dropout)(h, deterministic=not train)
        h = nn.LayerNorm()(x_BxSxD)
        h = nn.Dense(c.mlp_dim)(h)
        h = nn.Dense(c.d_model)(jax.nn.gelu(h))
        return x_BxSxD + nn.Dropout(c.dropout)(h, deterministic=not train)


class Transformer(nn.Module):
    """Maps tokens_BxS (with real length `length`) and positions pos_S to logits_BxSxV."""

    cfg: NetConfig

    @nn.compact
    def __call__(self, tokens_BxS, pos_S, length, train: bool = False):
        c = self.cfg
        scheme = c.position.module(c.position_options, c.d_model, c.heads, c.causal, name="position")
        x = nn.Embed(c.vocab_in, c.d_model, embedding_init=nn.initializers.normal(1.0))(tokens_BxS)
        x = scheme.embed(x, pos_S)
        x = nn.Dropout(c.embed_dropout)(x, deterministic=not train)
        mask_SxS = attention_mask(length, tokens_BxS.shape[1], c.causal)
        bias_HxSxS = scheme.bias(pos_S)
        for i in range(c.layers):
            x = Block(c, scheme, name=f"block_{i}")(x, pos_S, mask_SxS, bias_HxSxS, train)
        x = nn.LayerNorm()(x)
        return nn.Dense(c.vocab_out, name="head")(x)
