"""Multi-head attention over explicit masks and an optional relative-position bias."""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEG_INF = -1e30


def attention_mask(length: jax.Array, size: int, causal: bool) -> jax.Array:
    """mask[i, j] = key j is visible from query i: j is a real token (j < length), and j <= i if causal."""
    slot = jnp.arange(size)
    mask_SxS = jnp.broadcast_to(slot[None, :] < length, (size, size))
    if causal:
        mask_SxS = mask_SxS & (slot[None, :] <= slot[:, None])
    return mask_SxS


def attend(q_BxSxHxK, k_BxSxHxK, v_BxSxHxK, mask_SxS, bias_HxSxS=None) -> jax.Array:
    """Softmax attention; returns BxSxHxK."""
    scale = q_BxSxHxK.shape[-1] ** -0.5
    logits_BxHxSxS = jnp.einsum("bqhk,bshk->bhqs", q_BxSxHxK * scale, k_BxSxHxK)
    if bias_HxSxS is not None:
        logits_BxHxSxS = logits_BxHxSxS + bias_HxSxS[None].astype(logits_BxHxSxS.dtype)
    logits_BxHxSxS = jnp.where(mask_SxS[None, None], logits_BxHxSxS, NEG_INF)
    probs = jax.nn.softmax(logits_BxHxSxS, axis=-1)
    return jnp.einsum("bhqs,bshk->bqhk", probs, v_BxSxHxK)
