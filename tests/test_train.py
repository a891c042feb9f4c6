"""Models and the jitted training program: causality, padding, several seeds at once."""

import jax
import numpy as np
import pytest

from lengthgen.build import build
from lengthgen.data import TrainStream, encode
from lengthgen.train import Program, raw_key


def logits_of(program, params, tokens_BxS, length):
    ids = np.arange(tokens_BxS.shape[1], dtype=np.int32)
    apply = jax.jit(program.net.apply, static_argnums=4)
    return np.asarray(apply({"params": params}, tokens_BxS, ids, np.int32(length), False))


@pytest.fixture(scope="module")
def programs():
    from tests.conftest import tiny_config

    out = {}
    for kind in ("encoder", "decoder", "lstm"):
        program = Program(build(tiny_config(model=kind, position="rope" if kind != "lstm" else "none")))
        state = program.init(np.stack([raw_key(0)]), 12)
        out[kind] = (program, jax.tree.map(lambda a: a[0], state.params))
    return out


@pytest.mark.parametrize("kind", ["decoder", "lstm"])
def test_causal_models_ignore_the_future(programs, kind):
    program, params = programs[kind]
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 2, (2, 10)).astype(np.int32)
    changed = tokens.copy()
    changed[:, 6:] = 1 - changed[:, 6:]
    a, b = logits_of(program, params, tokens, 10), logits_of(program, params, changed, 10)
    np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-5)
    assert not np.allclose(a[:, 6:], b[:, 6:], atol=1e-5)


def test_encoder_sees_the_future(programs):
    program, params = programs["encoder"]
    tokens = np.zeros((1, 10), np.int32)
    changed = tokens.copy()
    changed[:, 9] = 1
    a, b = logits_of(program, params, tokens, 10), logits_of(program, params, changed, 10)
    assert not np.allclose(a[:, 0], b[:, 0], atol=1e-6)


@pytest.mark.parametrize("kind", ["encoder", "decoder", "lstm"])
def test_padding_does_not_change_real_predictions(programs, kind):
    program, params = programs[kind]
    task = program.built.task
    batch = task.sample(np.random.default_rng(3), 4, 3)
    short = encode(task, batch, 4, program.built.layout, 8)
    long = encode(task, batch, 4, program.built.layout, 12)
    a = logits_of(program, params, short.tokens_BxS, short.length)[:, :8]
    b = logits_of(program, params, long.tokens_BxS, long.length)[:, :8]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_seeds_train_independently_in_one_program():
    from tests.conftest import tiny_config

    program = Program(build(tiny_config(position="alibi")))
    stream = TrainStream(program.built.task, "placeholder", [1, 2, 3, 4], 1, 8, 10)
    state = program.init(np.stack([raw_key(s) for s in (0, 1)]), max(stream.sizes))
    p0 = jax.tree.map(np.asarray, state.params)
    _, chunk = stream.chunk([0, 1], 0)
    state, metrics = program.train_chunk(state, chunk)
    assert metrics["loss"].shape == (2, 10)
    assert np.all(np.asarray(state.step) == 10)
    leaves0, leaves1 = jax.tree.leaves(p0), jax.tree.leaves(jax.tree.map(np.asarray, state.params))
    assert not np.allclose(leaves0[0][0], leaves0[0][1])
    assert any(not np.allclose(a, b) for a, b in zip(leaves0, leaves1))
    assert float(np.asarray(metrics["loss"])[:, -1].mean()) < float(np.asarray(metrics["loss"])[:, 0].mean())


def test_no_distractor_formats_hide_all_but_the_last_two_slots():
    from lengthgen.errors import ConfigError
    from tests.conftest import tiny_config

    program = Program(build(tiny_config(task={"name": "parity", "format": "no_distractor"}, model="decoder")))
    assert program.built.net.window == 2
    params = jax.tree.map(lambda a: a[0], program.init(np.stack([raw_key(0)]), 12).params)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 2, (2, 12)).astype(np.int32)
    changed = tokens.copy()
    changed[:, :6] = 1 - changed[:, :6]
    a, b = logits_of(program, params, tokens, 12), logits_of(program, params, changed, 12)
    np.testing.assert_allclose(a[:, 7:], b[:, 7:], atol=1e-5)
    assert not np.allclose(a[:, 6], b[:, 6], atol=1e-5)
    with pytest.raises(ConfigError, match="needs a causal attention model"):
        build(tiny_config(task={"name": "variable_assignment", "format": "no_distractor"}, model="lstm"))
