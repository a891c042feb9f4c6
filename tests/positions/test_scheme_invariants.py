"""Properties every scheme must keep inside the model: causality, padding invariance, and, for relative
schemes, invariance to shifting all positions (while positions still matter)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _position_helpers import ALL, built

from lengthgen.data import encode, seq_len
from lengthgen.registry import POSITIONS

CUT = 4
SHIFT_INVARIANT = ["none", "rope", "rope_pi", "rope_ntk", "rope_yarn", "rerope", "leaky_rerope", "alibi", "t5",
                   "kerple_log", "kerple_power", "sandwich", "transformer_xl"]
CASES = [(name, model) for name in ALL for model in ("encoder", "decoder")
         if not (model == "encoder" and POSITIONS.get(name).causal_only)]


@functools.lru_cache(maxsize=None)
def setup(name, model):
    """(net, params, spec, options, examples at two bucket sizes, with a second row changed after slot CUT)."""
    b = built(name, model, position_options={"max_len": 64} if POSITIONS.get(name).randomized else None)
    rng = np.random.default_rng(0)
    length = 3 if b.task.name == "addition" else 5
    batch = b.task.sample(rng, length, 1)
    batch = type(batch)(*(np.concatenate([a, a]) for a in batch))
    size = seq_len(b.task, length)
    small = encode(b.task, batch, length, b.layout, size + 1)
    large = encode(b.task, batch, length, b.layout, size + 8)
    tokens = large.tokens_BxS.copy()
    real = int(large.length)
    vocab = b.task.vocab_size
    tokens[1, CUT + 1:real] = (tokens[1, CUT + 1:real] + 1 + rng.integers(0, vocab - 1, real - CUT - 1)) % vocab
    tokens[:, real:] = rng.integers(0, vocab + 2, (2, tokens.shape[1] - real))  # padding content must not matter
    large = large._replace(tokens_BxS=tokens)
    net = b.model.module(b.net)
    params = net.init(jax.random.key(1), jnp.asarray(small.tokens_BxS), jnp.arange(size + 1), small.length)
    return net, params, b.position, b.position_options, small, large


def forward(name, model, ex, shift=0, stretch=1):
    net, params, spec, options, *_ = setup(name, model)
    pos_S = spec.sampler(jax.random.key(7), jnp.asarray(ex.ids_S), ex.length, options, False) * stretch + shift
    return np.asarray(net.apply(params, jnp.asarray(ex.tokens_BxS), pos_S, ex.length, False))


@pytest.mark.parametrize("name", ALL)
def test_decoder_output_at_t_ignores_later_tokens(name):
    *_, large = setup(name, "decoder")
    out = forward(name, "decoder", large)
    np.testing.assert_allclose(out[1, :CUT + 1], out[0, :CUT + 1], atol=1e-5)
    assert not np.allclose(out[1, CUT + 1:int(large.length)], out[0, CUT + 1:int(large.length)], atol=1e-5)


@pytest.mark.parametrize("name,model", CASES)
def test_padding_never_changes_predictions_at_real_positions(name, model):
    *_, small, large = setup(name, model)
    real = int(small.length)
    np.testing.assert_allclose(forward(name, model, large)[0, :real], forward(name, model, small)[0, :real],
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name,model", [case for case in CASES if case[0] in SHIFT_INVARIANT])
def test_relative_schemes_are_invariant_to_shifting_all_positions(name, model):
    *_, small, _ = setup(name, model)
    real = int(small.length)
    base = forward(name, model, small)[:, :real]
    np.testing.assert_allclose(forward(name, model, small, shift=37)[:, :real], base, atol=2e-4, rtol=1e-4)
    if name != "none":
        assert not np.allclose(forward(name, model, small, stretch=3)[:, :real], base, atol=1e-4)
