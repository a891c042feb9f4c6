"""Multi-head attention over explicit masks: logits, weights, mixing, and the attention variants.

Logits are q.k / sqrt(K) (or a position scheme's own logits), optionally
multiplied per query by a length-dependent factor, plus an optional
relative-position bias; then masked and normalized.

Variants (`AttentionConfig`), all functions of n_i = the number of keys query
i sees (the real length for an encoder, i + 1 for a decoder; padding never
counts):
  logit_scale = logn: scores x log(n_i) / log(L) (Chiang & Cholak's log n,
      divided by the constant log L so that the factor is 1 at the reference
      length L; the constant is absorbed by W_Q);
  logit_scale = qwen: scores x max(1, log_L(n_i)), i.e. Qwen's query scaling
      with the 1-based position index (= n_i in a decoder);
  kind = relu: A_ij = ReLU(s_ij) / (gamma_h sqrt(n_i / 2)) (Shen et al. 2023),
      gamma_h > 0 learned per head and layer.
The scaling multiplies the query-key scores; an additive position bias is not
scaled. L = attention.reference_length, or the longest training sequence in slots.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lengthgen.config import ATTENTION_KINDS as KINDS
from lengthgen.config import LOGIT_SCALES

NEG_INF = -1e30


def attention_mask(length: jax.Array, size: int, causal: bool, window: int = 0) -> jax.Array:
    """mask[i, j] = key j is visible from query i: j is a real token (j < length), j <= i if
    causal, and i - window < j if a window is set (a task can hide all but the last few tokens)."""
    slot = jnp.arange(size)
    return visibility(length, slot, slot, causal, window)


def visibility(length: jax.Array, slot_Q: jax.Array, slot_S: jax.Array, causal: bool, window: int = 0) -> jax.Array:
    """`attention_mask` between queries and keys at the given sequence slots (QxS), for a part
    of the sequence's queries against all of its keys (context parallelism)."""
    mask_QxS = jnp.broadcast_to(slot_S[None, :] < length, (slot_Q.shape[0], slot_S.shape[0]))
    if causal:
        mask_QxS = mask_QxS & (slot_S[None, :] <= slot_Q[:, None])
    if window:
        mask_QxS = mask_QxS & (slot_S[None, :] > slot_Q[:, None] - window)
    return mask_QxS


def visible_keys(mask_SxS: jax.Array) -> jax.Array:
    """n_i: keys query i sees (at least 1)."""
    return jnp.maximum(mask_SxS.sum(-1), 1).astype(jnp.float32)


def logit_scale(kind: str, n_S: jax.Array, reference: int) -> jax.Array | None:
    """Per-query factor on the scores (None for 'none')."""
    if kind == "none":
        return None
    ratio = jnp.log(n_S) / jnp.log(float(reference))
    if kind == "logn":
        return ratio
    if kind == "qwen":
        return jnp.maximum(1.0, ratio)
    raise ValueError(f"unknown logit scale '{kind}'; valid: {', '.join(LOGIT_SCALES)}")


def dot_logits(q_BxSxHxK: jax.Array, k_BxSxHxK: jax.Array) -> jax.Array:
    """q.k / sqrt(K) as BxHxSxS; heads lead the batched matmul, the faster layout on CPU."""
    q_BxHxSxK = jnp.swapaxes(q_BxSxHxK, 1, 2) * q_BxSxHxK.shape[-1] ** -0.5
    return jnp.einsum("bhqk,bhsk->bhqs", q_BxHxSxK, jnp.swapaxes(k_BxSxHxK, 1, 2))


def attention_weights(q_BxSxHxK, k_BxSxHxK, mask_SxS, bias_HxSxS=None, logits_BxHxSxS=None, *,
                      kind: str = "softmax", scale_S=None, gamma_H=None) -> jax.Array:
    """BxHxSxS attention weights; `logits_BxHxSxS` (a scheme's own scores) replaces q.k/sqrt(K)."""
    logits = dot_logits(q_BxSxHxK, k_BxSxHxK) if logits_BxHxSxS is None else logits_BxHxSxS
    if scale_S is not None:
        logits = logits * scale_S[None, None, :, None].astype(logits.dtype)
    if bias_HxSxS is not None:
        logits = logits + bias_HxSxS[None].astype(logits.dtype)
    if kind == "softmax":
        return jax.nn.softmax(jnp.where(mask_SxS[None, None], logits, NEG_INF), axis=-1)
    if kind == "relu":
        gamma = jnp.ones(logits.shape[1], logits.dtype) if gamma_H is None else gamma_H.astype(logits.dtype)
        norm_HxS = gamma[:, None] * jnp.sqrt(visible_keys(mask_SxS) / 2.0)[None, :].astype(logits.dtype)
        return jnp.where(mask_SxS[None, None], jax.nn.relu(logits), 0.0) / norm_HxS[None, :, :, None]
    raise ValueError(f"unknown attention kind '{kind}'; valid: {', '.join(KINDS)}")


def mix(weights_BxHxSxS: jax.Array, v_BxSxHxK: jax.Array) -> jax.Array:
    return jnp.einsum("bhqs,bshk->bqhk", weights_BxHxSxS, v_BxSxHxK)


@jax.custom_vjp
def add_shared(x_BxHxSxS: jax.Array, bias_HxSxS: jax.Array) -> jax.Array:
    """x + bias broadcast over the batch; the bias gradient (a sum over the batch) is
    taken as one matrix-vector product, which XLA's CPU backend runs far faster than
    the reduction it would emit."""
    return x_BxHxSxS + bias_HxSxS[None]


def _add_shared_fwd(x, bias):
    return add_shared(x, bias), None


def _add_shared_bwd(_, g_BxHxSxS):
    ones_B = jnp.ones((g_BxHxSxS.shape[0],), g_BxHxSxS.dtype)
    return g_BxHxSxS, (ones_B @ g_BxHxSxS.reshape(g_BxHxSxS.shape[0], -1)).reshape(g_BxHxSxS.shape[1:])


add_shared.defvjp(_add_shared_fwd, _add_shared_bwd)


QUERY_BLOCK_LOGITS = 2**16


def query_blocks(queries: int, keys: int) -> tuple[int, int]:
    """(blocks, queries per block) for `attend`: each head's block of logits within QUERY_BLOCK_LOGITS."""
    blocks = max(1, -(-queries * keys // QUERY_BLOCK_LOGITS))
    return blocks, -(-queries // blocks)


def held_queries(queries: int, keys: int, whole: bool, train: bool) -> int:
    """Queries whose logits each head of a layer holds at once, the one rule memory estimates and
    evaluation batch sizes ask: all of them when training (the backward pass keeps every block's)
    or when the layer needs whole weights (`whole`: weights to inspect or penalize, a scheme's own
    logits), else one query block's of `attend`."""
    return queries if (train or whole) else query_blocks(queries, keys)[1]


def attend(q_BxSxHxK, k_BxSxHxK, v_BxSxHxK, mask_SxS, bias_HxSxS=None, logits_BxHxSxS=None,
           scale_S=None) -> jax.Array:
    """Softmax attention output BxSxHxK: equal to mix(attention_weights(...)), computed faster.

    The mask and bias are one additive term; exponentials are normalized after
    mixing with v (one S x S pass fewer); heads lead the layout of the batched
    matmuls. Long sequences are processed in blocks of queries (a `lax.map`)
    so that each head's block of logits stays within QUERY_BLOCK_LOGITS floats,
    about what the CPU's per-core cache holds: past S = 256 the unblocked
    version is about 3x slower per instance (benchmarks/README.md).
    """
    size = q_BxSxHxK.shape[1]
    blocks, rows = query_blocks(size, k_BxSxHxK.shape[1])
    if blocks <= 1:
        return _attend_queries(q_BxSxHxK, k_BxSxHxK, v_BxSxHxK, mask_SxS, bias_HxSxS, logits_BxHxSxS, scale_S)
    pad = blocks * rows - size

    def split(x, axis):
        """x with its query axis padded to blocks * rows and split into a leading block axis."""
        if x is None:
            return None
        x = jnp.pad(x, [(0, pad if i == axis else 0) for i in range(x.ndim)])
        x = x.reshape(x.shape[:axis] + (blocks, rows) + x.shape[axis + 1:])
        return jnp.moveaxis(x, axis, 0)

    xs = (split(q_BxSxHxK, 1), split(mask_SxS, 0), split(bias_HxSxS, 1), split(logits_BxHxSxS, 2),
          split(scale_S, 0))
    out_NxBxRxHxK = jax.lax.map(lambda b: _attend_queries(b[0], k_BxSxHxK, v_BxSxHxK, *b[1:]), xs)
    out_BxNxRxHxK = jnp.moveaxis(out_NxBxRxHxK, 0, 1)
    return out_BxNxRxHxK.reshape((out_BxNxRxHxK.shape[0], blocks * rows) + out_BxNxRxHxK.shape[3:])[:, :size]


def _attend_queries(q_BxQxHxK, k_BxSxHxK, v_BxSxHxK, mask_QxS, bias_HxQxS=None, logits_BxHxQxS=None, scale_Q=None):
    """`attend` for the queries given (all of them, or a block)."""
    logits = dot_logits(q_BxQxHxK, k_BxSxHxK) if logits_BxHxQxS is None else logits_BxHxQxS
    if scale_Q is not None:
        logits = logits * scale_Q[None, None, :, None].astype(logits.dtype)
    logits = logits + jnp.where(mask_QxS, 0.0, NEG_INF)[None, None].astype(logits.dtype)
    if bias_HxQxS is not None:
        logits = add_shared(logits, bias_HxQxS.astype(logits.dtype))
    e = jnp.exp(logits - jax.lax.stop_gradient(logits.max(-1, keepdims=True)))
    out_BxHxQxK = jnp.einsum("bhqs,bhsk->bhqk", e, jnp.swapaxes(v_BxSxHxK, 1, 2)) / e.sum(-1, keepdims=True)
    return jnp.swapaxes(out_BxHxQxK, 1, 2)


def _real_query_mean(value_BxHxS: jax.Array, mask_SxS: jax.Array) -> jax.Array:
    real_S = jnp.diagonal(mask_SxS).astype(value_BxHxS.dtype)
    count = value_BxHxS.shape[0] * value_BxHxS.shape[1] * jnp.maximum(real_S.sum(), 1.0)
    return (value_BxHxS * real_S).sum() / count


def attention_entropy(weights_BxHxSxS: jax.Array, mask_SxS: jax.Array) -> jax.Array:
    """Mean entropy (nats) of the rows of real queries; rows are normalized first (ReLU weights need it)."""
    p = weights_BxHxSxS / jnp.maximum(weights_BxHxSxS.sum(-1, keepdims=True), 1e-9)
    positive = p > 0
    plogp = jnp.where(positive, p * jnp.log(jnp.where(positive, p, 1.0)), 0.0)
    return _real_query_mean(-plogp.sum(-1), mask_SxS)


def row_sum_deviation(weights_BxHxSxS: jax.Array, mask_SxS: jax.Array) -> jax.Array:
    """Mean (sum_j A_ij - 1)^2 over real queries: keeps unnormalized (ReLU) rows near a distribution."""
    return _real_query_mean((weights_BxHxSxS.sum(-1) - 1.0) ** 2, mask_SxS)
