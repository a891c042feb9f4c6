"""Models and the jitted programs (`lengthgen.program`): causality, padding, several seeds at once."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import tiny_config
from lengthgen.build import build
from lengthgen.config import TrainConfig
from lengthgen.data import TrainStream, encode
from lengthgen.errors import ConfigError
from lengthgen.program import ADAM, INIT_OPTIONS, Program, apply_adamw, hyperparams


def logits_of(program, params, tokens_BxS, length):
    ids = np.arange(tokens_BxS.shape[1], dtype=np.int32)
    apply = jax.jit(program.net.apply, static_argnums=4)
    return np.asarray(apply({"params": params}, tokens_BxS, ids, np.int32(length), False))


@pytest.fixture(scope="module")
def programs():
    out = {}
    for kind in ("encoder", "decoder", "lstm"):
        program = Program(build(tiny_config(model=kind, position="rope" if kind != "lstm" else "none")))
        state = program.start(12)
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
    program = Program(build(tiny_config(position="alibi")))
    stream = TrainStream(program.built.task, "placeholder", [1, 2, 3, 4], 1, 8, 10)
    state = program.start(max(stream.sizes), [(1e-3, 0), (1e-3, 1)])
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
    program = Program(build(tiny_config(task={"name": "parity", "format": "no_distractor"}, model="decoder")))
    assert program.built.net.window == 2
    params = jax.tree.map(lambda a: a[0], program.start(12).params)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 2, (2, 12)).astype(np.int32)
    changed = tokens.copy()
    changed[:, :6] = 1 - changed[:, :6]
    a, b = logits_of(program, params, tokens, 12), logits_of(program, params, changed, 12)
    np.testing.assert_allclose(a[:, 7:], b[:, 7:], atol=1e-5)
    assert not np.allclose(a[:, 6], b[:, 6], atol=1e-5)
    with pytest.raises(ConfigError, match="needs a causal attention model"):
        build(tiny_config(task={"name": "variable_assignment", "format": "no_distractor"}, model="lstm"))


def test_learning_rates_trained_together_match_separate_runs():
    """Models (lr, seed) of one program train as they would alone, up to float rounding: the same
    losses and predictions. (Parameters that the loss does not depend on drift apart: Adam turns
    their rounding-level gradients into steps of about lr.)"""
    models = [(1e-3, 0), (3e-3, 1), (1e-2, 1)]
    program = Program(build(tiny_config(position="alibi")))
    stream = TrainStream(program.built.task, "placeholder", [1, 2, 3, 4], 1, 8, 10)
    _, chunk = stream.chunk([seed for _, seed in models], 0)
    together, metrics = program.train_chunk(program.start(max(stream.sizes), models), chunk)
    tokens = chunk.tokens_BxS[0, -1]
    length = int(chunk.length[0, -1])
    logits = [logits_of(program, jax.tree.map(lambda a, i=i: a[i], together.params), tokens, length)
              for i in range(len(models))]
    for i, model in enumerate(models):
        _, alone_chunk = stream.chunk([model[1]], 0)
        alone, alone_metrics = program.train_chunk(program.start(max(stream.sizes), [model]), alone_chunk)
        np.testing.assert_allclose(np.asarray(alone_metrics["loss"])[0], np.asarray(metrics["loss"])[i], rtol=1e-5)
        np.testing.assert_allclose(logits_of(program, jax.tree.map(lambda a: a[0], alone.params), tokens, length),
                                   logits[i], atol=1e-4)
    assert not np.allclose(logits[1], logits[2], atol=1e-3), "another lr must give another model"


def test_hyperparameters_are_inputs_of_the_training_program():
    """Learning rate, schedule, steps, warmup, weight decay and clipping leave the compiled
    training chunk unchanged, so sweeps over them share one program."""
    def chunk_hlo(batch=8, **train):
        program = Program(build(tiny_config(train=TrainConfig(max_length=4, batch_size=batch, chunk_steps=10,
                                                               buckets=1, **train))))
        stream = TrainStream(program.built.task, "placeholder", [1, 2, 3, 4], 1, batch, 10)
        _, chunk = stream.chunk([0], 0)
        return program.functions.train_chunk.lower(program.start(max(stream.sizes)), chunk).as_text()

    base = chunk_hlo(lr=1e-3, steps=100)
    assert chunk_hlo(lr=3e-2, steps=700, warmup_steps=7, schedule="cosine", weight_decay=0.1, grad_clip=0.0) == base
    assert chunk_hlo(batch=4, lr=1e-3, steps=100) != base


def optax_adamw(t):
    """The optimizer as optax composes it (the reference for apply_adamw)."""
    if t.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(0.0, t.lr, max(t.warmup_steps, 1), max(t.steps, t.warmup_steps + 1))
    else:
        lr = optax.join_schedules([optax.linear_schedule(0.0, t.lr, max(t.warmup_steps, 1)),
                                   optax.constant_schedule(t.lr)], [max(t.warmup_steps, 1)])
    parts = [optax.clip_by_global_norm(t.grad_clip)] if t.grad_clip > 0 else []
    return optax.chain(*parts, optax.adamw(lr, weight_decay=t.weight_decay))


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("grad_clip, weight_decay", [(1.0, 0.0), (0.0, 0.1), (0.05, 0.01)])
def test_adamw_with_settings_as_inputs_matches_optax(schedule, grad_clip, weight_decay):
    t = TrainConfig(lr=3e-2, warmup_steps=5, steps=30, schedule=schedule, grad_clip=grad_clip,
                    weight_decay=weight_decay)
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(4, 3)).astype(np.float32), "b": rng.normal(size=3).astype(np.float32)}
    tx = optax_adamw(t)
    ref, ref_state = params, tx.init(params)
    ours, ours_state = params, ADAM.init(params)
    h = {k: jnp.asarray(v) for k, v in hyperparams(t, t.lr).items()}
    for step in range(t.steps):
        grads = {k: rng.normal(size=v.shape).astype(np.float32) * 0.3 for k, v in params.items()}
        updates, ref_state = tx.update(grads, ref_state, ref)
        ref = optax.apply_updates(ref, updates)
        ours, ours_state = apply_adamw(ours, grads, ours_state, jnp.int32(step), h)
    for k in params:
        np.testing.assert_allclose(np.asarray(ours[k]), np.asarray(ref[k]), rtol=2e-5, atol=1e-6)
    assert not np.allclose(np.asarray(ours["w"]), params["w"], atol=1e-2)


@pytest.mark.parametrize("model,position", [("encoder", "t5"), ("decoder", "randomized_rope"), ("lstm", "none"),
                                            ("encoder", "sinusoidal")])
def test_initialization_compiled_lightly_gives_the_same_parameters(model, position):
    """Init is compiled at LLVM's lighter level (INIT_OPTIONS) to save compile time: the state it
    makes must be bit for bit the one of the default level, so results do not depend on it."""
    program = Program(build(tiny_config(model=model, position=position, train=TrainConfig(
        max_length=4, steps=20, batch_size=8, chunk_steps=10, seeds=2, buckets=1))))
    keys, hyper = program.model_inputs()
    assert "xla_backend_optimization_level" in INIT_OPTIONS
    light = jax.tree.leaves(program.functions.init(keys, hyper, 12))
    plain_init = jax.jit(program.functions.init_models, static_argnums=2)
    default = jax.tree.leaves(plain_init(keys, hyper, 12))
    assert len(light) == len(default) > 3
    for a, b in zip(light, default):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
