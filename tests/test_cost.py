"""Cost estimates: memory against what XLA allocates, FLOPs against a direct sum, and the refusals."""

import pytest
from conftest import tiny_config

from lengthgen.build import build
from lengthgen.config import EvalConfig, ModelConfig, TrainConfig
from lengthgen.cost import GIB, batch_bytes, bucket_rows, eval_tflop, forward_flops
from lengthgen.data import TrainStream, encode, eval_batch, seq_len
from lengthgen.errors import ConfigError
from lengthgen.data import raw_key
from lengthgen.program import Program


@pytest.mark.parametrize("position", ["rope", "alibi"])
def test_memory_estimates_are_within_a_small_factor_of_xla(position):
    """XLA's own buffer assignment of the compiled training chunk and evaluation batch."""
    cfg = tiny_config(position=position, model_cfg=ModelConfig(layers=2, d_model=32, heads=4, mlp_dim=64),
                      train=TrainConfig(max_length=48, batch_size=16, chunk_steps=2, buckets=1),
                      eval=EvalConfig(max_length=200, batch_size=64))
    built = build(cfg)
    program = Program(built)
    stream = TrainStream(built.task, built.layout, [48], 1, 16, 2)
    slots = stream.sizes[0]
    state = program.start(slots)
    _, chunk = stream.chunk([0], 0)
    xla = program.functions.train_chunk.lower(state, chunk).compile().memory_analysis().temp_size_in_bytes
    assert 0.5 < batch_bytes(built, 16, slots, train=True) / xla < 2.5

    size = seq_len(built.task, 200)
    rows = bucket_rows(built, size)
    ex = encode(built.task, eval_batch(built.task, 200, rows, 0), 200, built.layout, size, rows)
    xla = program.functions.eval_batch.lower(state.params, ex, raw_key(1)).compile().memory_analysis().temp_size_in_bytes
    estimate = batch_bytes(built, rows, size, train=False)
    assert 0.5 < estimate / xla < 2.5


def test_eval_tflop_is_the_direct_sum_and_an_upper_bound_when_sampled():
    built = build(tiny_config(eval=EvalConfig(max_length=3000, samples_per_length=2)))
    m, task = built.cfg.model, built.task

    def direct(lengths):
        return sum(forward_flops(m, True, seq_len(task, n), task.vocab_size) for n in lengths) * 2 / 1e12

    short = list(range(1, 401))
    assert eval_tflop(built, short, lambda n: seq_len(task, n)) == pytest.approx(direct(short), rel=1e-12)
    lengths = built.eval_lengths
    sampled = eval_tflop(built, lengths, lambda n: seq_len(task, n))
    assert direct(lengths) <= sampled <= 1.01 * direct(lengths)


def test_lstm_flops_have_no_attention_term():
    m = ModelConfig(kind="lstm", layers=1, d_model=8)
    assert forward_flops(m, False, 20, 2) == 2 * forward_flops(m, False, 10, 2)
    assert forward_flops(m, True, 20, 2) > 2 * forward_flops(m, True, 10, 2)


def test_evaluation_rows_shrink_to_fit_long_sequences():
    built = build(tiny_config(eval=EvalConfig(max_length=8, batch_size=128)))
    assert bucket_rows(built, 64) == 128
    assert 1 <= bucket_rows(built, 200_000) < 128


@pytest.mark.parametrize("change, message", [
    ({"memory_gb": 1e-6}, "over the memory_gb=1e-06"),
    ({"eval": EvalConfig(max_length=3000, max_tflop=0.01)}, "over eval.max_tflop=0.01"),
])
def test_over_budget_runs_are_refused_at_build(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(tiny_config(**change))
    assert "\n" not in str(info.value)


def test_a_run_within_budget_builds():
    built = build(tiny_config(memory_gb=1.0))
    assert batch_bytes(built, 8, 8, train=True) < GIB
