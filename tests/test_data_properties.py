"""Properties of length bucketing and padding (lengthgen.data).

Buckets must cover every length exactly once, in order; padding a batch to a
larger bucket (more slots, more rows) must never change what a model predicts
at a real position, which is what lets one compiled program serve many lengths.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tiny_config
from lengthgen.build import build
from lengthgen.data import MAX_CUT_POINTS, cost_buckets, encode, seq_len, split_buckets
from lengthgen.data import raw_key
from lengthgen.program import Program

sorted_lengths = st.lists(st.integers(1, 400), min_size=1, max_size=80, unique=True).map(sorted)


@given(lengths=sorted_lengths, count=st.integers(1, 100))
def test_split_buckets_cover_every_length_once_in_order(lengths, count):
    groups = split_buckets(lengths, count)
    assert [n for g in groups for n in g] == lengths
    assert all(groups) and len(groups) <= count
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1


def padded_cost(groups, slots_of, quadratic_at):
    return sum(len(g) * slots_of(g[-1]) * (1 + slots_of(g[-1]) / quadratic_at) for g in groups)


@given(lengths=st.lists(st.integers(1, 400), min_size=1, max_size=9, unique=True).map(sorted),
       count=st.integers(1, 10), per_length=st.integers(1, 3), quadratic_at=st.sampled_from([1.0, 50.0, 384.0, math.inf]))
def test_cost_buckets_are_the_cheapest_contiguous_split(lengths, count, per_length, quadratic_at):
    """Against every split of the lengths into at most `count` contiguous groups."""
    def slots_of(n):
        return per_length * n + 1

    groups = cost_buckets(lengths, count, [slots_of(n) for n in lengths], quadratic_at)
    assert [n for g in groups for n in g] == lengths and all(groups) and len(groups) <= count
    n = len(lengths)
    best = min(padded_cost([lengths[a:b] for a, b in zip((0,) + cuts, cuts + (n,))], slots_of, quadratic_at)
               for k in range(min(count, n)) for cuts in itertools.combinations(range(1, n), k))
    assert padded_cost(groups, slots_of, quadratic_at) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("n", [MAX_CUT_POINTS + 1, 10**6])
def test_cost_buckets_of_many_lengths_cut_on_the_coarse_grid_and_beat_equal_groups(n):
    """Past MAX_CUT_POINTS lengths the planner cuts on an evenly spaced grid (it used to take
    quadratic time in the number of lengths and hang for very long evaluations)."""
    lengths = list(range(1, n + 1))
    groups = cost_buckets(lengths, 7, [2 * x for x in lengths], 384.0)
    assert [x for g in groups for x in g] == lengths and len(groups) == 7

    def slots_of(x):
        return 2 * x

    grid = set(np.linspace(0, n, MAX_CUT_POINTS + 1).round().astype(int).tolist())
    assert set(np.cumsum([0] + [len(g) for g in groups]).tolist()) <= grid
    equal = [lengths[a:b] for a, b in zip(range(0, n, -(-n // 7)), list(range(-(-n // 7), n, -(-n // 7))) + [n])]
    assert padded_cost(groups, slots_of, 384.0) < padded_cost(equal, slots_of, 384.0)


@functools.lru_cache(maxsize=None)
def tiny_program(model: str, position: str):
    """A randomly initialized one-layer model and a jitted function from an Example to logits."""
    built = build(tiny_config(model=model, position=position, n=4, m=12))
    program = Program(built)
    task = built.task
    state = program.start(seq_len(task, 12), [(1e-3, 7)])
    params = jax.tree.map(lambda a: a[0], state.params)

    @jax.jit
    def logits(tokens, ids, length, key):
        pos = program.positions(key, ids, length, False)
        return program.net.apply({"params": params}, tokens, pos, length, False)

    return built, logits


SCHEMES = [("encoder", "rope"), ("encoder", "learned"), ("decoder", "alibi"), ("encoder", "randomized_rope")]
ROWS, SLOTS = 3, 12  # the small bucket: every length 1..6 fits (exactly, at length 6)


@pytest.mark.parametrize("model, position", SCHEMES)
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(length=st.integers(1, 6), bigger=st.sampled_from([(ROWS, 2 * SLOTS), (ROWS + 2, SLOTS + 1)]),
       data_seed=st.integers(0, 2**16))
def test_padding_to_a_larger_bucket_never_changes_a_prediction(model, position, length, bigger, data_seed):
    """Shapes are limited to three buckets per scheme, so each compiles once."""
    built, logits = tiny_program(model, position)
    task = built.task
    batch = task.sample(np.random.default_rng(data_seed), length, ROWS)
    real = seq_len(task, length)
    key = raw_key(data_seed, 1)
    small = encode(task, batch, length, built.layout, SLOTS, ROWS)
    large = encode(task, batch, length, built.layout, bigger[1], bigger[0])
    np.testing.assert_array_equal(large.tokens_BxS[:ROWS, :real], small.tokens_BxS[:, :real])
    a = np.asarray(logits(small.tokens_BxS, small.ids_S, small.length, key))[:, :real]
    b = np.asarray(logits(large.tokens_BxS, large.ids_S, large.length, key))[:ROWS, :real]
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    scored = small.weights_BxS[:, :real] > 0
    top2 = np.sort(a, -1)[..., -2:]
    clear = scored & (top2[..., 1] - top2[..., 0] > 1e-4)
    np.testing.assert_array_equal(a.argmax(-1)[clear], b.argmax(-1)[clear])
