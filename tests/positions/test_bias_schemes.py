"""Relative bias schemes: ALiBi slopes, KERPLE constraints, Sandwich closed form and ratios, FIRE's normalization."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _position_helpers import scheme

from lengthgen.positions.bias import alibi_slopes
from lengthgen.positions.fire import fire_inputs


def bias_of(module, pos, variables=None):
    variables = variables if variables is not None else module.init(jax.random.key(0), pos, method="bias")
    return variables, np.asarray(jax.jit(lambda v, p: module.apply(v, p, method="bias"))(variables, pos))


@pytest.mark.parametrize("heads", [1, 2, 4, 8, 16])
def test_alibi_slopes_are_geometric_for_powers_of_two(heads):
    slopes = alibi_slopes(heads)
    np.testing.assert_allclose(slopes, [2.0 ** (-8.0 * h / heads) for h in range(1, heads + 1)], rtol=1e-6)


def test_alibi_slopes_for_twelve_heads_interleave_the_sixteen_head_list():
    slopes = alibi_slopes(12)
    np.testing.assert_allclose(slopes[:8], 2.0 ** -np.arange(1, 9), rtol=1e-6)
    np.testing.assert_allclose(slopes[8:], [0.707, 0.354, 0.177, 0.088], atol=1e-3)


def test_alibi_bias_is_minus_slope_times_distance():
    pos = jnp.arange(6) * 3
    _, bias = bias_of(scheme("alibi", heads=4)[1], pos)
    dist = np.abs(np.arange(6)[:, None] - np.arange(6)[None, :]) * 3
    np.testing.assert_allclose(bias, -alibi_slopes(4)[:, None, None] * dist[None], rtol=1e-6)


def _kerple_coefficients(name, bias):
    """r1, r2 per head recovered from the bias at distances 1 and 2 (independent of the parametrization)."""
    b1, b2 = -bias[:, 1, 0].astype(np.float64), -bias[:, 2, 0].astype(np.float64)
    if name == "kerple_power":  # b(d) = r1 d^r2
        return b1, np.log2(b2 / b1)
    r2 = []
    for ratio in b2 / b1:  # log(1 + 2 r) / log(1 + r) falls from 2 to 1 as r grows
        lo, hi = 1e-8, 1e8
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if math.log1p(2 * mid) / math.log1p(mid) > ratio else (lo, mid)
        r2.append(math.sqrt(lo * hi))
    r2 = np.array(r2)
    return b1 / np.log1p(r2), r2


@pytest.mark.parametrize("name", ["kerple_log", "kerple_power"])
@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_kerple_constraints_hold_after_large_optimizer_steps(name, direction):
    module = scheme(name, heads=2)[1]
    pos = jnp.arange(6)
    variables, bias = bias_of(module, pos)
    r1, r2 = _kerple_coefficients(name, bias)
    np.testing.assert_allclose(r1, 1.0, rtol=1e-3)
    np.testing.assert_allclose(r2, 1.0, rtol=1e-3)

    weights = jnp.array([1.0, -1.0])[:, None, None]  # head 0 and head 1 pushed opposite ways
    def loss(params):
        return direction * (weights * module.apply({"params": params}, pos, method="bias")).sum()

    tx = optax.sgd(1e4)
    params = variables["params"]
    state = tx.init(params)
    for _ in range(5):
        updates, state = tx.update(jax.grad(loss)(params), state)
        params = optax.apply_updates(params, updates)
    _, bias = bias_of(module, pos, {"params": params})
    r1, r2 = _kerple_coefficients(name, bias)
    assert np.all(r1 >= 0.01 * (1 - 1e-3)) and np.all(r2 >= 0.01 * (1 - 1e-3))
    if name == "kerple_power":
        assert np.all(r2 <= 2.0 * (1 + 1e-3))
    assert r1.min() < 0.02  # the steps did drive one head to the floor


def test_sandwich_is_parameter_free_and_matches_its_closed_form():
    dim, heads = 16, 4
    module = scheme("sandwich", heads=heads, dim=dim)[1]
    pos = jnp.array([0, 1, 5, 17, 100])
    variables, bias = bias_of(module, pos)
    assert not jax.tree.leaves(variables)
    k = np.arange(1, dim // 2 + 1)
    ratios = 8.0 * np.arange(1, heads + 1) / heads
    for i in range(len(pos)):
        for j in range(len(pos)):
            d = float(pos[i] - pos[j])
            closed = np.cos(d / 10000.0 ** (2 * k / dim)).sum() - dim / 2
            np.testing.assert_allclose(bias[:, i, j], closed / ratios, rtol=1e-4, atol=1e-5)
    assert np.all(bias[:, 0, 0] == 0) and np.all(bias[:, 4, 0] < 0)


def _sandwich_by_hand(distance: int, dim: int, head: int, heads: int) -> float:
    """Chi et al.'s Sandwich bias for 1-based head `head` of `heads`: kernel / (8 head / heads)."""
    kernel = sum(math.cos(distance / 10000.0 ** (2 * k / dim)) for k in range(1, dim // 2 + 1)) - dim / 2
    return kernel / (8 * head / heads)


def test_sandwich_divides_each_head_by_its_compression_ratio():
    """H=8, d'=128, distance 10: head 1 keeps the kernel (-19.34), head 8 divides it by 8 (-2.418).

    ALiBi's slopes 2^(-8h/H) would give -9.67 and -0.0756 instead.
    """
    assert _sandwich_by_hand(10, 128, 1, 8) == pytest.approx(-19.340906, abs=1e-6)
    assert _sandwich_by_hand(10, 128, 8, 8) == pytest.approx(-2.417613, abs=1e-6)
    _, bias = bias_of(scheme("sandwich", heads=8, dim=128)[1], jnp.arange(11))
    np.testing.assert_allclose(bias[0, 10, 0], -19.340906, rtol=1e-5)
    np.testing.assert_allclose(bias[7, 10, 0], -2.417613, rtol=1e-5)
    np.testing.assert_allclose(bias[:, 10, 0], [_sandwich_by_hand(10, 128, h, 8) for h in range(1, 9)], rtol=1e-5)
    np.testing.assert_allclose(bias[:, 0, 10], bias[:, 10, 0], rtol=1e-6)


def test_sandwich_ratios_need_no_power_of_two_heads():
    _, bias = bias_of(scheme("sandwich", heads=3, dim=16)[1], jnp.arange(4))
    np.testing.assert_allclose(bias[:, 3, 0], [_sandwich_by_hand(3, 16, h, 3) for h in (1, 2, 3)], rtol=1e-5)


def test_randomized_sandwich_is_sandwich_on_sampled_positions():
    spec, module = scheme("randomized_sandwich", heads=8, dim=128, max_len=64)
    assert spec.module is scheme("sandwich")[0].module
    pos = jnp.array([2, 12, 30, 31])
    _, bias = bias_of(module, pos)
    assert bias[0, 1, 0] == pytest.approx(-19.340906, rel=1e-5)
    assert bias[7, 1, 0] == pytest.approx(-2.417613, rel=1e-5)
    np.testing.assert_allclose(bias, bias_of(scheme("sandwich", heads=8, dim=128)[1], pos)[1], rtol=1e-6)


def test_fire_input_is_zero_at_distance_zero_and_bounded_beyond_training():
    pos = jnp.arange(300)
    x = np.asarray(fire_inputs(pos, 0.7, 16.0))
    causal = np.tril(np.ones((300, 300), bool))
    assert np.all(np.diag(x) == 0)
    assert x[causal].min() >= 0 and x[causal].max() <= 1 + 1e-6
    np.testing.assert_allclose(x[16:, 0], 1.0, rtol=1e-6)  # the first key of any query past L
    assert np.all(np.diff(x[299, :300][::-1]) > 0)  # farther keys: larger input


def test_fire_bias_is_finite_and_normalized_beyond_the_training_length():
    train_length = 16
    module = scheme("fire", heads=2, train_length=train_length)[1]
    pos = jnp.arange(400)
    _, bias = bias_of(module, pos)
    assert np.all(np.isfinite(bias))
    diag = np.stack([np.diag(b) for b in bias])
    np.testing.assert_allclose(diag, diag[:, :1] * np.ones_like(diag), rtol=1e-5)  # distance 0: one value
    np.testing.assert_allclose(bias[:, train_length:, 0], bias[:, -1:, 0] * np.ones((1, 400 - train_length)),
                               rtol=1e-4, atol=1e-6)  # first key past L: same normalized input, same bias
