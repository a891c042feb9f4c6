"""RoPE and its extensions: pairing, PI, NTK, YaRN, ReRoPE, dual chunk, each against a closed form."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _position_helpers import rope_score, scheme

from lengthgen.positions.dual_chunk import dual_chunk_distance
from lengthgen.positions.rotary import yarn_ramp

B, S, H, K = 2, 12, 2, 8


def qk(seed=0, size=S, head_dim=K):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(B, size, H, head_dim)).astype(np.float32),
            rng.normal(size=(B, size, H, head_dim)).astype(np.float32))


def rotated_logits(module, q, k, pos):
    @jax.jit
    def run(q, k, pos):
        q2, k2 = module.rotate(q, k, pos)
        return jnp.einsum("bqhk,bshk->bhqs", q2, k2) / math.sqrt(q.shape[-1])
    return np.asarray(run(q, k, pos))


def scheme_logits(module, q, k, pos):
    return np.asarray(jax.jit(module.logits)(q, k, pos))


def frequencies(module, head_dim=K):
    """Per-pair angle per unit position, read off by rotating (1, 0) pairs at position 1."""
    unit = jnp.zeros((1, 2, 1, head_dim)).at[..., 0::2].set(1.0)
    rotated, _ = jax.jit(module.rotate)(unit, unit, jnp.array([0, 1]))
    r = np.asarray(rotated[0, 1, 0])
    return np.arctan2(r[1::2], r[0::2])


def test_rope_pairs_adjacent_features_and_depends_on_distance_only():
    q, k = qk()
    _, rope = scheme("rope")
    pos = np.arange(S) + 5
    logits = rotated_logits(rope, q, k, pos)
    for i, j in [(0, 0), (7, 2), (3, 9), (11, 0)]:
        want = rope_score((q[1, i, 1]), (k[1, j, 1]), float(pos[i] - pos[j]))
        assert logits[1, 1, i, j] == pytest.approx(want, rel=1e-4, abs=1e-4)


def test_pi_with_scale_one_equals_rope():
    q, k = qk()
    pos = jnp.arange(S)
    _, rope = scheme("rope")
    _, pi = scheme("rope_pi", scale=1.0)
    np.testing.assert_allclose(rotated_logits(pi, q, k, pos), rotated_logits(rope, q, k, pos), atol=1e-5)


def test_pi_is_plain_rope_while_training_and_within_the_trained_length():
    q, k = qk()
    pos = jnp.arange(S)
    want = rotated_logits(scheme("rope")[1], q, k, pos)
    np.testing.assert_allclose(rotated_logits(scheme("rope_pi", scale=4.0, train=True)[1], q, k, pos), want, atol=1e-5)
    dynamic = scheme("rope_pi", train_length=16, length=jnp.int32(12))[1]
    np.testing.assert_allclose(rotated_logits(dynamic, q, k, pos), want, atol=1e-5)


def test_pi_squeezes_positions_by_the_dynamic_factor():
    q, k = qk()
    pos = jnp.arange(S)
    _, pi = scheme("rope_pi", train_length=4, length=jnp.int32(12))  # s = 12 / 4 = 3
    _, rope = scheme("rope")
    want = rotated_logits(rope, q, k, pos.astype(jnp.float32) / 3.0)
    np.testing.assert_allclose(rotated_logits(pi, q, k, pos), want, atol=1e-5)


@pytest.mark.parametrize("s", [2.0, 8.0])
def test_ntk_base_formula(s):
    head_dim = 16
    ntk = scheme("rope_ntk", scale=s)[1]
    theta = 10000.0 ** (-np.arange(0, head_dim, 2) / head_dim)
    got = frequencies(ntk, head_dim)
    new_base = 10000.0 * s ** (head_dim / (head_dim - 2))
    np.testing.assert_allclose(got, new_base ** (-np.arange(0, head_dim, 2) / head_dim), rtol=1e-4)
    assert got[0] == pytest.approx(theta[0], rel=1e-5)  # highest frequency extrapolates
    assert got[-1] == pytest.approx(theta[-1] / s, rel=1e-4)  # lowest is interpolated by exactly 1/s


def test_yarn_ramp_bounds():
    head_dim, base, length = 64, 10000.0, 2048
    ramp = yarn_ramp(head_dim, base, length, 32.0, 1.0)
    assert ramp.shape == (head_dim // 2,)
    assert ramp.min() >= 0.0 and ramp.max() <= 1.0 and np.all(np.diff(ramp) >= 0)
    rotations = length * base ** (-np.arange(0, head_dim, 2) / head_dim) / (2 * np.pi)
    assert np.all(ramp[rotations >= 32.0] == 0.0)  # fast pairs keep their frequency
    assert np.all(ramp[rotations <= 1.0] == 1.0)  # pairs slower than one turn are interpolated
    assert np.any((ramp > 0) & (ramp < 1))


def test_yarn_frequencies_follow_the_ramp_and_temperature_scales_logits():
    head_dim, s, length = 64, 4.0, 2048
    yarn = scheme("rope_yarn", scale=s, train_length=length)[1]
    ramp = yarn_ramp(head_dim, 10000.0, length, 32.0, 1.0)
    theta = 10000.0 ** (-np.arange(0, head_dim, 2) / head_dim)
    np.testing.assert_allclose(frequencies(yarn, head_dim), theta * (1 - ramp) + theta / s * ramp, rtol=1e-4)

    q, k = qk(head_dim=head_dim)
    zero = jnp.zeros(S, jnp.int32)  # no rotation: only the temperature acts
    plain = rotated_logits(scheme("rope")[1], q, k, zero)
    factor = (0.1 * math.log(s) + 1.0) ** 2
    np.testing.assert_allclose(rotated_logits(yarn, q, k, zero), plain * factor, rtol=1e-4, atol=1e-5)
    no_scale = scheme("rope_yarn", scale=1.0, train_length=length)[1]
    np.testing.assert_allclose(rotated_logits(no_scale, q, k, zero), plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,slope", [("rerope", None), ("leaky_rerope", 4.0)])
def test_rerope_equals_rope_within_the_window_and_caps_beyond(name, slope):
    w = 3
    q, k = qk()
    pos = np.arange(S) * 2 + 1
    options = {"window": w} | ({"slope": slope} if slope else {})
    got = scheme_logits(scheme(name, **options)[1], q, k, pos)
    rope = rotated_logits(scheme("rope")[1], q, k, pos)
    for i in range(S):
        for j in range(i + 1):
            d = float(pos[i] - pos[j])
            if d <= w:
                assert got[0, 1, i, j] == pytest.approx(rope[0, 1, i, j], abs=1e-4)
            else:
                capped = w if slope is None else w + (d - w) / slope
                want = rope_score((q[0, i, 1]), (k[0, j, 1]), capped)
                assert got[0, 1, i, j] == pytest.approx(want, abs=1e-4)


def test_dual_chunk_equals_rope_within_the_trained_context():
    context = 10
    q, k = qk()
    pos = jnp.arange(context)
    got = scheme_logits(scheme("dual_chunk", train_length=context)[1], q[:, :context], k[:, :context], pos)
    rope = rotated_logits(scheme("rope")[1], q[:, :context], k[:, :context], pos)
    causal = np.tril(np.ones((context, context), bool))
    np.testing.assert_allclose(got[..., causal], rope[..., causal], atol=1e-4)


def test_dual_chunk_distances_stay_in_the_trained_range_and_set_the_logits():
    context, chunk, size = 8, 6, 30
    pos = np.arange(size)
    dist = np.asarray(dual_chunk_distance(jnp.asarray(pos), chunk, context))
    causal = np.tril(np.ones((size, size), bool))
    assert dist[causal].min() >= 0 and dist[causal].max() <= context - 1
    for i in range(size):  # same chunk: the true distance
        for j in range(i - i % chunk, i + 1):
            assert dist[i, j] == i - j
    q, k = qk(size=size)
    got = scheme_logits(scheme("dual_chunk", train_length=context, chunk_size=chunk)[1], q, k, pos)
    for i, j in [(29, 0), (29, 23), (29, 17), (13, 11), (7, 2), (25, 12)]:
        want = rope_score((q[1, i, 0]), (k[1, j, 0]), float(dist[i, j]))
        assert got[1, 0, i, j] == pytest.approx(want, abs=1e-4)
