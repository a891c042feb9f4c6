"""Position samplers: randomized subsets, random padding offsets, task ids (abacus, coupling) and their build rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _position_helpers import built

from lengthgen.build import build
from lengthgen.config import RunConfig
from lengthgen.errors import ConfigError
from lengthgen.positions.base import contiguous_positions
from lengthgen.registry import POSITIONS, TASKS
from lengthgen.task import make_options


def sample(name, ids, length, train, key=0, **options):
    spec = POSITIONS.get(name)
    opts = make_options(spec.Options, options, name)
    return np.asarray(spec.sampler(jax.random.key(key), jnp.asarray(ids), jnp.int32(length), opts, train))


@pytest.mark.parametrize("train", [True, False])
def test_randomized_positions_are_sorted_distinct_and_below_max_len(train):
    max_len = 64
    seen = set()
    for key in range(20):
        for length in (1, 7, 30):
            pos = sample("randomized_rope", np.arange(32), length, train, key, max_len=max_len)
            real = pos[:length]
            assert np.all(np.diff(real) > 0) and real.min() >= 0 and real.max() < max_len
            assert np.all(pos[length:] == max_len - 1)  # padding slots stay inside the table
            seen.add(tuple(real)) if length > 1 else None
    assert len(seen) == 40  # every (key, length) drew its own subset


def test_randomized_real_positions_do_not_depend_on_the_bucket_size():
    small = sample("randomized_alibi", np.arange(10), 10, False, key=3, max_len=100)
    large = sample("randomized_alibi", np.arange(40), 10, False, key=3, max_len=100)
    np.testing.assert_array_equal(small, large[:10])


def test_default_positions_are_slot_indices_even_when_the_task_gives_ids():
    ids = np.array([3, 2, 1, 0, 3, 2, 1, 4, 3, 2, 1])
    np.testing.assert_array_equal(np.asarray(contiguous_positions(None, jnp.asarray(ids), 11, None, False)),
                                  np.arange(11))


@pytest.mark.parametrize("name", ["random_padding", "random_padding_sinusoidal"])
def test_random_padding_shifts_by_an_offset_in_range_while_training_only(name):
    offsets = set()
    for key in range(60):
        pos = sample(name, np.arange(9), 9, True, key, max_offset=3)
        assert np.all(np.diff(pos) == 1)
        offsets.add(int(pos[0]))
    assert offsets == {0, 1, 2, 3}
    np.testing.assert_array_equal(sample(name, np.arange(9), 9, False, 5, max_offset=3), np.arange(9))


def test_abacus_shifts_digit_ids_only_and_coupling_shifts_all():
    ids = np.array([3, 2, 1, 0, 3, 2, 1, 4, 3, 2, 1])
    for key in range(10):
        abacus = sample("abacus", ids, 11, True, key)
        k = abacus[0] - 3
        assert 0 <= k <= 99
        np.testing.assert_array_equal(abacus, np.where(ids > 0, ids + k, 0))
        coupled = sample("coupled", ids, 11, True, key)
        np.testing.assert_array_equal(coupled, ids + (coupled[3] - 0))
    for name in ("abacus", "coupled"):
        np.testing.assert_array_equal(sample(name, ids, 11, False), ids)


def _digit_at(value: int, significance: int) -> int:
    return value // 10 ** (significance - 1) % 10


@pytest.mark.parametrize("fmt", ["plain", "reversed", "index_hints", "scratchpad", "markup"])
def test_addition_ids_are_digit_significance(fmt):
    task = TASKS.get("addition")(format=fmt)
    n = 5
    x, y, _ = task.sample(np.random.default_rng(1), n, 32)
    ids_I, ids_T = task.position_ids(n)
    assert (len(ids_I), len(ids_T)) == task.shapes(n)
    digit, fill = set(range(10)), task.token_id("_")
    for row_x, row_y in zip(x, y):
        text = "".join(task.vocab[t] for t in row_x if task.vocab[t] in "0123456789_+")
        a, b = (int(part.replace("_", "0")) for part in text.split("+"))
        plus = int(np.flatnonzero(row_x == task.token_id("+"))[0])
        for slot, (token, sig) in enumerate(zip(row_x, ids_I)):
            if token in digit or token == fill:
                assert sig >= 1 and (0 if token == fill else token) == _digit_at(a if slot < plus else b, sig)
            else:
                assert sig == 0
        answer = [(t, s) for t, s in zip(row_y, ids_T) if s > 0]
        if fmt == "scratchpad":
            answer = answer[2 * n:]  # the sum after the column steps
        for token, sig in answer:
            assert token == _digit_at(a + b, sig)
        assert sorted(s for _, s in answer) == list(range(1, n + 2))


@pytest.mark.parametrize("name", ["abacus", "coupled"])
def test_task_id_schemes_need_a_task_with_ids(name):
    assert built(name).position.name == name  # addition gives ids
    with pytest.raises(ConfigError, match=f"position '{name}' needs position ids from the task"):
        build(RunConfig(task={"name": "reverse_string"}, position={"name": name}))
