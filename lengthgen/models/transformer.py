"""A small pre-LayerNorm transformer; the position scheme, causality and attention variant come from its config.

Auxiliary losses (attention entropy, ReLU row sums) are sown into the "losses"
collection, already weighted; training applies the model with
`mutable=["losses"]` and adds their sum to the loss.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lengthgen.attention import (attend, attention_entropy, attention_weights, logit_scale, mix,
                                 row_sum_deviation, visibility, visible_keys)
from lengthgen.config import AttentionConfig
from lengthgen.positions.base import PositionSpec, Scheme


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """Everything a network needs, fixed before tracing (hashable, so jit can key on it).

    train_length: the longest training sequence in slots (L_train for schemes
    and for the attention's log-n reference).
    window: if > 0, each query sees only the last `window` slots (the task's
    `attention_window`, for its no-distractor formats).
    """

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
    attention: AttentionConfig = AttentionConfig()
    train_length: int = 0
    window: int = 0
    capture: bool = False  # sow every layer's attention weights into "intermediates" (inspection)
    context_axis: str = ""  # under shard_map over this mesh axis, each device holds a part of the sequence

    @property
    def reference_length(self) -> int:
        return self.attention.reference_length or self.train_length

    @property
    def fused_softmax(self) -> bool:
        """Softmax attention without weights to inspect: `attend` computes it (in query blocks)."""
        return self.attention.kind == "softmax" and self.attention.entropy_penalty == 0 and not self.capture

    @property
    def whole_logits(self) -> bool:
        """Whether a layer holds all B x H x S x S logits at once: weights to inspect, or a
        scheme that computes its own logits; else only a block of queries' at a time."""
        return not self.fused_softmax or self.position.module.logits is not Scheme.logits


class Block(nn.Module):
    cfg: NetConfig
    scheme: nn.Module

    @nn.compact
    def __call__(self, x_BxSxD, pos_S, mask_SxS, bias_HxSxS, scale_S, train: bool):
        c, a = self.cfg, self.cfg.attention
        head_dim = c.d_model // c.heads
        h = nn.LayerNorm()(x_BxSxD)
        qkv = nn.DenseGeneral((3, c.heads, head_dim), name="qkv")(h)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        q, k = self.scheme.rotate(q, k, pos_S)
        if c.context_axis:  # this device's queries attend to the keys and values of every part
            k, v = (jax.lax.all_gather(a, c.context_axis, axis=1, tiled=True) for a in (k, v))
        logits = self.scheme.logits(q, k, pos_S)
        gamma_H = jnp.exp(self.param("relu_log_gamma", nn.initializers.zeros, (c.heads,))) if a.kind == "relu" else None
        if c.fused_softmax:
            h = attend(q, k, v, mask_SxS, bias_HxSxS, logits, scale_S)
        else:
            weights = attention_weights(q, k, mask_SxS, bias_HxSxS, logits, kind=a.kind, scale_S=scale_S,
                                        gamma_H=gamma_H)
            if a.entropy_penalty > 0:
                self.sow("losses", "attention_entropy", a.entropy_penalty * attention_entropy(weights, mask_SxS))
            if a.kind == "relu" and a.rowsum_penalty > 0:
                self.sow("losses", "relu_row_sum", a.rowsum_penalty * row_sum_deviation(weights, mask_SxS))
            if c.capture:
                self.sow("intermediates", "attention", weights)
            h = mix(weights, v)
        h = nn.DenseGeneral(c.d_model, axis=(-2, -1), name="out")(h)
        x_BxSxD = x_BxSxD + nn.Dropout(c.dropout)(h, deterministic=not train)
        h = nn.LayerNorm()(x_BxSxD)
        h = nn.Dense(c.mlp_dim)(h)
        h = nn.Dense(c.d_model)(jax.nn.gelu(h))
        return x_BxSxD + nn.Dropout(c.dropout)(h, deterministic=not train)


class Transformer(nn.Module):
    """Maps tokens_BxS (with real length `length`) and positions pos_S to logits_BxSxV.

    slot_S: the sequence slot of each of the S tokens given (default 0..S-1). Under context
    parallelism (`cfg.context_axis`, `lengthgen.context`) each device is given a part of the
    sequence, and the masks and biases relate its queries to the slots and positions of all
    the parts' keys."""

    cfg: NetConfig

    @nn.compact
    def __call__(self, tokens_BxS, pos_S, length, train: bool = False, slot_S=None):
        c = self.cfg
        scheme = c.position.module(c.position_options, c.d_model, c.heads, c.causal, train_length=c.train_length,
                                   train=train, length=length, name="position")
        x = nn.Embed(c.vocab_in, c.d_model, embedding_init=nn.initializers.normal(1.0))(tokens_BxS)
        x = scheme.embed(x, pos_S)
        x = nn.Dropout(c.embed_dropout)(x, deterministic=not train)
        slot_S = jnp.arange(tokens_BxS.shape[1]) if slot_S is None else slot_S
        gather = (lambda a: jax.lax.all_gather(a, c.context_axis, tiled=True)) if c.context_axis else (lambda a: a)
        mask_SxS = visibility(length, slot_S, gather(slot_S), c.causal, c.window)
        bias_HxSxS = scheme.bias(pos_S, gather(pos_S))
        scale_S = logit_scale(c.attention.logit_scale, visible_keys(mask_SxS), c.reference_length)
        for i in range(c.layers):
            x = Block(c, scheme, name=f"block_{i}")(x, pos_S, mask_SxS, bias_HxSxS, scale_S, train)
        x = nn.LayerNorm()(x)
        return nn.Dense(c.vocab_out, name="head")(x)
