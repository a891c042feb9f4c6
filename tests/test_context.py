"""Context parallelism (`lengthgen.context`): evaluation sequences split over forced CPU devices
give the single-device logits, for every scheme it supports, encoder and decoder."""

from __future__ import annotations


import numpy as np
import pytest

from lengthgen.attention import attention_mask
from lengthgen.build import build
from lengthgen.config import AttentionConfig, MeshConfig
from lengthgen.context import balanced_order
from lengthgen.errors import ConfigError

from conftest import on_devices, tiny_config


@pytest.mark.parametrize("size, parts", [(8, 2), (24, 3), (32, 4)])
def test_balanced_order_gives_every_device_the_same_causal_work(size, parts):
    order = balanced_order(size, parts)
    assert sorted(order) == list(range(size))
    per_device = order.reshape(parts, size // parts)
    chunk = size // (2 * parts)
    assert list(per_device[0][:chunk]) == list(range(chunk))
    assert list(per_device[0][chunk:]) == list(range(size - chunk, size))
    visible = np.asarray(attention_mask(size, size, True)).sum(-1)  # keys each causal query sees
    work = [visible[d].sum() for d in per_device]
    assert len(set(work)) == 1, work


@pytest.mark.parametrize("overrides, words", [
    ({"model": "lstm", "position": "none"}, ["mesh.context=2", "model 'lstm' has none"]),
    ({"position": "rerope", "model": "decoder"}, ["position 'rerope' computes its own logits"]),
    ({"attention": AttentionConfig(kind="relu")}, ["attention.kind=relu"]),
])
def test_unsupported_context_parallel_is_one_line(overrides, words):
    with pytest.raises(ConfigError) as err:
        build(tiny_config(mesh=MeshConfig(context=2), **overrides))
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


# One scheme of every module whose hooks differ (absolute, rotary, each bias, padding, randomized).
ENCODER = ["rope", "alibi", "t5", "fire", "kerple_power", "sandwich", "sinusoidal", "learned", "random_padding",
           "rope_yarn", "randomized_alibi"]
DECODER = ["rope", "alibi", "t5", "fire"]

# Runs in a fresh process: the device count is fixed when JAX starts.
SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import jax, numpy as np
from conftest import tiny_config
from lengthgen.build import build
from lengthgen.config import MeshConfig
from lengthgen.data import encode, eval_batch, seq_len
from lengthgen.program import Program
from lengthgen.run import run
from test_context import DECODER, ENCODER

out = {"devices": jax.device_count(), "logits": {}}
for model, names in (("encoder", ENCODER), ("decoder", DECODER)):
    for name in names:
        for parts in ((2, 4) if name in ("rope", "alibi") else (2,)):
            built = build(tiny_config(position=name, model=model, mesh=MeshConfig(context=parts), m=16))
            program = Program(built)
            n = 13
            size = seq_len(built.task, n) + 3
            params = program.init(*program.model_inputs(), size).params
            ex = encode(built.task, eval_batch(built.task, n, 4, 7), n, built.layout, size, 4)
            key = jax.random.key(3)
            whole = jax.jit(jax.vmap(lambda p: program.functions.loss(p, ex, key, False)[1]))(params)
            split = jax.jit(jax.vmap(lambda p: program.context.logits(p, ex, key)))(params)
            out["logits"][f"{model}/{name}/{parts}"] = [float(np.abs(np.asarray(whole)).max()),
                                                        float(np.abs(np.asarray(whole) - np.asarray(split)).max())]
root = Path(sys.argv[1])
for parts in (1, 2):
    out[f"run{parts}"] = run(tiny_config(position="alibi", model="decoder", m=24, mesh=MeshConfig(context=parts)),
                             root / f"run{parts}")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def split_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("context")
    return root, on_devices(SCRIPT, root)


@pytest.mark.slow
def test_split_logits_equal_whole_for_every_supported_scheme(split_runs):
    _, out = split_runs
    assert out["devices"] == 4
    assert len(out["logits"]) == len(ENCODER) + len(DECODER) + 4
    for key, (scale, diff) in out["logits"].items():
        assert scale > 0.01 and diff <= 1e-4 * max(1.0, scale), (key, scale, diff)


@pytest.mark.slow
def test_split_evaluation_run_matches_one_device(split_runs):
    root, out = split_runs
    one, two = out["run1"], out["run2"]
    assert two["devices"]["context"] == 2
    assert two["mean_test_token_acc"] == pytest.approx(one["mean_test_token_acc"], abs=0.01)
    assert (root / "run1" / "curve.csv").read_text().count("\n") == (root / "run2" / "curve.csv").read_text().count("\n")
