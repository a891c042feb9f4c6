"""The task contract and the built-in tasks: sampler labels equal the reference solver."""

import numpy as np
import pytest

from lengthgen.errors import ConfigError
from lengthgen.registry import TASKS
from lengthgen.task import Batch, Task, check_batch

BUILTIN_FIRST = ["copy", "reverse_string", "parity", "addition"]


@pytest.mark.parametrize("name", BUILTIN_FIRST)
@pytest.mark.parametrize("length", [1, 2, 7, 23])
def test_labels_match_reference_solver(name, length):
    task = TASKS.get(name)()
    batch = task.sample(np.random.default_rng(length), length, 16)
    check_batch(task, batch, length, 16)
    for x, y, m in zip(*batch):
        np.testing.assert_array_equal(y[m], task.solve(x)[m])


@pytest.mark.parametrize("name", BUILTIN_FIRST)
def test_sampling_is_deterministic_and_uses_the_generator(name):
    task = TASKS.get(name)()
    a = task.sample(np.random.default_rng(5), 6, 32)
    b = task.sample(np.random.default_rng(5), 6, 32)
    c = task.sample(np.random.default_rng(6), 6, 32)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a.inputs_BxI, c.inputs_BxI)


def test_addition_reversed_output_and_unequal_operands():
    task = TASKS.get("addition")(reverse_output=True)
    batch = task.sample(np.random.default_rng(0), 6, 256)
    fill = task.token_id("_")
    left_len = (batch.inputs_BxI[:, :6] != fill).sum(1)
    right_len = (batch.inputs_BxI[:, 7:] != fill).sum(1)
    assert (left_len != right_len).mean() > 0.5
    for x, y in zip(batch.inputs_BxI, batch.targets_BxT):
        text = task.decode(x).replace(" ", "")
        a, b = (int(s.strip("_")) for s in text.split("+"))
        assert int("".join(task.vocab[t] for t in y[::-1])) == a + b


def test_unknown_option_is_one_line_error():
    with pytest.raises(ConfigError, match="unknown option 'bogus'.*valid options: format"):
        TASKS.get("parity")(bogus=1)
    with pytest.raises(ConfigError, match="unknown value 'odd'; valid: direct"):
        TASKS.get("parity")(format="odd")


class NoLengthCheck(Task):
    """A plugin-style task whose sampler never calls check_length and breaks below length 2."""

    name = "no_length_check"
    vocab = ("0", "1")
    min_length = 2

    def shapes(self, length):
        return length, 1

    def sample(self, rng, length, batch_size):
        x = rng.integers(0, 2, (batch_size, length))
        return Batch(x, x[:, 1:2].copy(), np.ones((batch_size, 1), bool))


@pytest.mark.parametrize("name", TASKS.names())
def test_sampling_below_the_minimum_length_is_a_one_line_config_error(name):
    task = TASKS.get(name)()
    for length in sorted({-1, 0, *range(1, task.min_length)}):
        with pytest.raises(ConfigError, match=rf"^task '{name}': length {length} is below its minimum "
                                              rf"{task.min_length}$"):
            task.sample(np.random.default_rng(0), length, 4)


def test_a_plugin_sampler_gets_the_length_check_too():
    with pytest.raises(ConfigError, match=r"^task 'no_length_check': length 1 is below its minimum 2$"):
        NoLengthCheck().sample(np.random.default_rng(0), 1, 4)
    assert NoLengthCheck().sample(np.random.default_rng(0), 2, 4).targets_BxT.shape == (4, 1)
