"""Layouts, padding, buckets and the training data stream."""

import numpy as np
import pytest

from lengthgen.data import (TrainStream, cost_buckets, encode, eval_batch, model_vocab, pad_id, sep_id,
                            split_buckets)
from lengthgen.registry import TASKS


@pytest.fixture
def task():
    return TASKS.get("reverse_string")()


def test_placeholder_layout(task):
    batch = task.sample(np.random.default_rng(0), 3, 2)
    ex = encode(task, batch, 3, "placeholder", size=8)
    assert ex.length == 6
    np.testing.assert_array_equal(ex.tokens_BxS[:, :3], batch.inputs_BxI)
    assert (ex.tokens_BxS[:, 3:6] == sep_id(task)).all() and (ex.tokens_BxS[:, 6:] == pad_id(task)).all()
    np.testing.assert_array_equal(ex.labels_BxS[:, 3:6], batch.targets_BxT)
    assert ex.weights_BxS[:, 3:6].all() and not ex.weights_BxS[:, :3].any() and not ex.weights_BxS[:, 6:].any()
    np.testing.assert_array_equal(ex.ids_S, np.arange(8))


def test_teacher_forced_layout_shifts_targets_by_one(task):
    batch = task.sample(np.random.default_rng(1), 4, 3)
    ex = encode(task, batch, 4, "teacher_forced", size=8)
    assert (ex.tokens_BxS[:, 4] == sep_id(task)).all()
    np.testing.assert_array_equal(ex.tokens_BxS[:, 5:8], batch.targets_BxT[:, :3])
    np.testing.assert_array_equal(ex.labels_BxS[:, 4:8], batch.targets_BxT)
    assert model_vocab(task) == task.vocab_size + 2


def test_padding_rows_have_no_weight(task):
    batch = task.sample(np.random.default_rng(2), 2, 3)
    ex = encode(task, batch, 2, "placeholder", size=6, rows=5)
    assert ex.tokens_BxS.shape == (5, 6) and not ex.weights_BxS[3:].any()


def test_split_buckets_cover_in_order():
    lengths = list(range(1, 41))
    groups = split_buckets(lengths, 4)
    assert [n for g in groups for n in g] == lengths and len(groups) == 4
    assert split_buckets([1, 2], 5) == [[1], [2]]


def test_cost_buckets_narrow_where_padding_costs_most():
    """Quadratic cost: long sequences get narrower buckets than short ones."""
    lengths = list(range(41, 501))
    groups = cost_buckets(lengths, 7, [2 * n for n in lengths], 384.0)
    assert [n for g in groups for n in g] == lengths and len(groups) == 7
    widths = [len(g) for g in groups]
    assert widths == sorted(widths, reverse=True) and widths[0] > 1.5 * widths[-1]
    assert cost_buckets(lengths, 1, [2 * n for n in lengths], 384.0) == [lengths]


def test_train_stream_is_pure_and_uniform(task):
    stream = TrainStream(task, "placeholder", list(range(1, 9)), buckets=2, batch_size=4, chunk_steps=5)
    b1, ex1 = stream.chunk([0, 1], 7)
    b2, ex2 = stream.chunk([0, 1], 7)
    assert b1 == b2 and all(np.array_equal(a, b) for a, b in zip(ex1, ex2))
    assert ex1.tokens_BxS.shape == (2, 5, 4, stream.sizes[b1])
    assert not np.array_equal(ex1.tokens_BxS[0], ex1.tokens_BxS[1])
    seen = []
    for chunk in range(400):
        b, ex = stream.chunk([3], chunk)
        lengths = ex.length[0] // 2
        assert set(lengths.tolist()) <= set(stream.buckets[b])
        seen += lengths.tolist()
    counts = np.bincount(seen, minlength=9)[1:]
    assert counts.min() > 0.7 * counts.mean()


def test_single_seed_stream_equals_its_slice_of_a_multi_seed_stream(task):
    stream = TrainStream(task, "placeholder", list(range(1, 9)), buckets=2, batch_size=4, chunk_steps=5)
    _, many = stream.chunk([4, 5, 6], 3)
    _, one = stream.chunk([5], 3)
    assert all(np.array_equal(a[1], b[0]) for a, b in zip(many, one))


def test_eval_set_is_fixed_by_seed_and_length(task):
    a, b = eval_batch(task, 7, 16, 99), eval_batch(task, 7, 16, 99)
    c = eval_batch(task, 7, 16, 98)
    assert np.array_equal(a.inputs_BxI, b.inputs_BxI) and not np.array_equal(a.inputs_BxI, c.inputs_BxI)
