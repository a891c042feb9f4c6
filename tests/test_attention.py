"""The fast softmax path equals the reference weights-then-mix path."""

import jax
import numpy as np
import pytest

from lengthgen import attention
from lengthgen.attention import attend, attention_mask, attention_weights, mix


@pytest.mark.parametrize("query_block_logits", [None, 16], ids=["whole", "query-blocks"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_bias,with_scale,with_logits", [(False, False, False), (True, True, False),
                                                              (False, False, True)])
def test_attend_equals_weights_then_mix(causal, with_bias, with_scale, with_logits, query_block_logits, monkeypatch):
    """Also with queries processed in blocks (7 x 7 logits, 16 per block: 4 blocks of 2 rows, one padded)."""
    if query_block_logits:
        monkeypatch.setattr(attention, "QUERY_BLOCK_LOGITS", query_block_logits)
    rng = np.random.default_rng(0)
    B, S, H, K = 3, 7, 2, 4
    q, k, v = (rng.normal(size=(B, S, H, K)).astype(np.float32) for _ in range(3))
    mask = np.asarray(attention_mask(5, S, causal))
    bias = rng.normal(size=(H, S, S)).astype(np.float32) if with_bias else None
    scale = rng.uniform(0.5, 2, S).astype(np.float32) if with_scale else None
    logits = 3 * rng.normal(size=(B, H, S, S)).astype(np.float32) if with_logits else None
    fast = attend(q, k, v, mask, bias, logits, scale)
    ref = mix(attention_weights(q, k, mask, bias, logits, scale_S=scale), v)
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5)
    args = (q, k, v, bias, logits)
    g_fast = jax.grad(lambda *a: (attend(*a[:3], mask, *a[3:], scale) * v).sum(), argnums=range(len(args)))(*args)
    g_ref = jax.grad(lambda *a: (mix(attention_weights(*a[:2], mask, *a[3:], scale_S=scale), a[2]) * v).sum(),
                     argnums=range(len(args)))(*args)
    for got, want in zip(g_fast, g_ref):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_shared_bias_gradient_under_vmap_equals_plain_sum():
    from lengthgen.attention import add_shared

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 2, 4, 4)).astype(np.float32)
    bias = rng.normal(size=(2, 2, 4, 4)).astype(np.float32)
    w = rng.normal(size=x.shape[1:]).astype(np.float32)

    def loss(fn):
        return lambda x, b: (jax.vmap(fn)(x, b) ** 2 * w).sum()

    got = jax.grad(loss(add_shared), argnums=(0, 1))(x, bias)
    want = jax.grad(loss(lambda x, b: x + b[None]), argnums=(0, 1))(x, bias)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
