"""Attention variants: ReLU attention's normalization, log-n scalings, auxiliary losses in the training loss."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _position_helpers import built

from lengthgen.attention import (attention_entropy, attention_mask, attention_weights, logit_scale, row_sum_deviation,
                                 visible_keys)
from lengthgen.config import AttentionConfig
from lengthgen.data import encode
from lengthgen.errors import ConfigError
from lengthgen.program import Program

S, H, K = 8, 2, 4


def constant_qk(value=0.5):
    q = jnp.full((1, S, H, K), value)
    return q, q  # every logit = K * value^2 / sqrt(K)


@pytest.mark.parametrize("causal,length", [(True, S), (False, 5)])
def test_relu_attention_divides_by_the_square_root_of_visible_keys(causal, length):
    q, k = constant_qk()
    mask = attention_mask(jnp.int32(length), S, causal)
    gamma = jnp.array([1.0, 2.0])
    weights = np.asarray(attention_weights(q, k, mask, kind="relu", gamma_H=gamma))
    logit = K * 0.25 / math.sqrt(K)
    for i in range(S):
        n = min(i + 1, length) if causal else length
        for h, g in enumerate([1.0, 2.0]):
            visible = np.asarray(mask[i])
            np.testing.assert_allclose(weights[0, h, i, visible], logit / (g * math.sqrt(n / 2)), rtol=1e-5)
            assert np.all(weights[0, h, i, ~visible] == 0)
    if causal:
        assert weights[0, 0, 0, 0] > weights[0, 0, S - 1, 0]  # more keys, smaller weights


def test_relu_attention_drops_negative_scores():
    q, k = constant_qk()
    weights = attention_weights(-q, k, attention_mask(jnp.int32(S), S, True), kind="relu")
    assert np.all(np.asarray(weights) == 0)


@pytest.mark.parametrize("kind", ["logn", "qwen"])
def test_log_n_scaling_equals_one_at_the_reference_length(kind):
    reference = 16
    n = jnp.array([reference, reference ** 2, 4.0])
    scale = np.asarray(logit_scale(kind, n, reference))
    assert scale[0] == pytest.approx(1.0) and scale[1] == pytest.approx(2.0)
    assert scale[2] == pytest.approx(0.5 if kind == "logn" else 1.0)


def test_qwen_scaling_uses_the_one_based_query_index_in_a_decoder():
    reference = 4
    n = visible_keys(attention_mask(jnp.int32(S), S, True))
    scale = np.asarray(logit_scale("qwen", n, reference))
    np.testing.assert_allclose(scale, [max(1.0, math.log(i + 1, reference)) for i in range(S)], rtol=1e-6)


def test_scaled_logits_at_the_reference_length_match_plain_attention():
    rng = np.random.default_rng(0)
    q, k = (jnp.asarray(rng.normal(size=(1, S, H, K)), jnp.float32) for _ in range(2))
    mask = attention_mask(jnp.int32(S), S, True)
    plain = np.asarray(attention_weights(q, k, mask))
    scaled = np.asarray(attention_weights(q, k, mask, scale_S=logit_scale("logn", visible_keys(mask), S)))
    np.testing.assert_allclose(scaled[:, :, S - 1], plain[:, :, S - 1], rtol=1e-5)  # n = reference
    assert not np.allclose(scaled[:, :, 3], plain[:, :, 3])


def test_entropy_and_row_sum_closed_forms():
    mask = attention_mask(jnp.int32(S), S, True)
    uniform = jnp.where(mask, 1.0 / jnp.arange(1, S + 1)[:, None], 0.0)[None, None]
    assert float(attention_entropy(uniform, mask)) == pytest.approx(np.mean(np.log(np.arange(1, S + 1))), rel=1e-5)
    assert float(row_sum_deviation(uniform, mask)) == pytest.approx(0.0, abs=1e-10)
    assert float(row_sum_deviation(2 * uniform, mask)) == pytest.approx(1.0, rel=1e-6)


def _loss_parts(attention, name="rope"):
    """(training loss, evaluation loss, sum of the sown auxiliary losses) on one batch, same dropout-free logits."""
    b = built(name, "decoder", attention=attention)
    program = Program(b)
    ex = encode(b.task, b.task.sample(np.random.default_rng(0), 4, 4), 4, b.layout, 10)
    params = program.net.init(jax.random.key(0), ex.tokens_BxS, jnp.arange(10), ex.length)["params"]
    train, _ = program.loss(params, ex, jax.random.key(1), True)
    test, _ = program.loss(params, ex, jax.random.key(1), False)
    sown = program.net.apply({"params": params}, ex.tokens_BxS, jnp.arange(10), ex.length, True,
                             rngs={"dropout": jax.random.key(2)}, mutable=["losses"])[1]
    return float(train), float(test), sum(float(v.sum()) for v in jax.tree.leaves(sown))


def test_auxiliary_losses_are_added_to_the_training_loss_only():
    train, test, sown = _loss_parts(AttentionConfig(kind="relu", entropy_penalty=0.5, rowsum_penalty=2.0))
    assert sown > 0 and train == pytest.approx(test + sown, rel=1e-5)
    train, test, sown = _loss_parts(AttentionConfig())
    assert sown == 0 and train == pytest.approx(test, rel=1e-6)


def test_loss_with_auxiliary_terms_is_jittable():
    b = built("alibi", "decoder", attention=AttentionConfig(entropy_penalty=0.1))
    program = Program(b)
    ex = encode(b.task, b.task.sample(np.random.default_rng(0), 4, 4), 4, b.layout, 10)
    params = program.net.init(jax.random.key(0), ex.tokens_BxS, jnp.arange(10), ex.length)["params"]
    grads = jax.jit(jax.grad(lambda p: program.loss(p, ex, jax.random.key(1), True)[0]))(params)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("attention,match", [
    (AttentionConfig(kind="sigmoid"), "attention.kind: unknown value 'sigmoid'"),
    (AttentionConfig(logit_scale="log"), "attention.logit_scale: unknown value 'log'"),
    (AttentionConfig(entropy_penalty=-1.0), "attention.entropy_penalty must be >= 0"),
    (AttentionConfig(logit_scale="qwen", reference_length=1), "needs a reference length >= 2"),
])
def test_bad_attention_settings_are_config_errors(attention, match):
    with pytest.raises(ConfigError, match=match):
        built("rope", attention=attention)
