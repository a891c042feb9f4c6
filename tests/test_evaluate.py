"""Evaluation (`lengthgen.evaluate`): Wilson intervals, generalization length and the per-seed
summary means over test lengths N+1..M; how many instances an evaluation batch holds; evaluation
sets with their own lengths and instance counts (`eval.sets`) and the error counts a study of
rare errors reads (`error_counts`)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import tiny_config
from lengthgen.attention import QUERY_BLOCK_LOGITS, query_blocks
from lengthgen.build import build
from lengthgen.config import AttentionConfig, EvalConfig, RunConfig, TrainConfig, validate
from lengthgen.cost import ATTENTION_BUDGET, bucket_rows
from lengthgen.data import seq_len
from lengthgen.errors import ConfigError
from lengthgen.evaluate import (CURVE_COLUMNS, SMALL_SLOTS, error_counts, eval_buckets, eval_plan, evaluate,
                                generalization_length, summarize, wilson)
from lengthgen.program import Program
from lengthgen.run import run

ROUNDING = 1e-12


@st.composite
def trials(draw):
    n = draw(st.integers(1, 10**6))
    return draw(st.integers(0, n)), n


@given(trials())
def test_wilson_bounds_lie_in_unit_interval_and_contain_p(kn):
    k, n = kn
    lo, hi = wilson(k, n)
    p = k / n
    assert 0.0 <= lo <= hi <= 1.0
    assert lo - ROUNDING <= p <= hi + ROUNDING


@given(trials())
def test_wilson_narrows_with_more_trials(kn):
    k, n = kn
    lo, hi = wilson(k, n)
    lo4, hi4 = wilson(4 * k, 4 * n)
    assert hi4 - lo4 <= hi - lo + ROUNDING


def test_wilson_contains_p_exactly_at_the_ends():
    for n in range(1, 200):
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0


def test_wilson_of_no_trials_is_undefined():
    assert all(math.isnan(x) for x in wilson(0, 0))


def curve(lengths: list[int], seq_acc: list[float], token_acc: list[float] | None = None,
          eval_set: str = "default") -> pd.DataFrame:
    token_acc = seq_acc if token_acc is None else token_acc
    rows = [{c: 0 for c in CURVE_COLUMNS} | {"eval_set": eval_set, "length": n, "seq_acc": s, "token_acc": t,
                                             "seed": 0, "tokens": 10, "token_errors": round(10 * (1 - t))}
            for n, s, t in zip(lengths, seq_acc, token_acc)]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


accuracies = st.floats(0.0, 1.0, allow_nan=False)


@given(st.lists(accuracies, min_size=1, max_size=40), st.floats(0.05, 1.0), st.integers(1, 5), st.randoms())
def test_generalization_length_is_the_end_of_the_first_passing_run(accs, threshold, first, rnd):
    lengths = list(range(first, first + len(accs)))
    frame = curve(lengths, accs)
    shuffled = frame.sample(frac=1.0, random_state=rnd.randint(0, 2**31))
    g = generalization_length(shuffled, threshold)
    assert g == generalization_length(frame, threshold)
    assert all(a >= threshold for n, a in zip(lengths, accs) if n <= g)
    if g == 0:
        assert accs[0] < threshold
    elif g < lengths[-1]:
        assert accs[lengths.index(g) + 1] < threshold
    assert g == 0 or g in lengths


@given(st.integers(2, 40).flatmap(lambda m: st.tuples(st.just(m), st.integers(1, m - 1))), st.data())
def test_summary_means_cover_test_lengths_n_plus_1_to_m_inclusive(mn, data):
    m, n = mn
    lengths = list(range(1, m + 1))
    token = data.draw(st.lists(accuracies, min_size=m, max_size=m))
    seq = data.draw(st.lists(accuracies, min_size=m, max_size=m))
    other = curve(lengths, [1.0] * m, [0.123] * m, eval_set="variant")
    summary = summarize(pd.concat([curve(lengths, seq, token), other], ignore_index=True), n)
    assert summary["mean_test_token_acc"] == pytest.approx(np.mean(token[n:]), abs=1e-12)
    assert summary["mean_test_seq_acc"] == pytest.approx(np.mean(seq[n:]), abs=1e-12)
    assert set(summary["eval_sets"]) == {"default", "variant"}


def test_summary_excludes_n_and_includes_m():
    """A single changed value at N leaves the test mean alone; at M it moves it."""
    base = summarize(curve([1, 2, 3, 4], [0.5] * 4), 2)["mean_test_seq_acc"]
    at_n = summarize(curve([1, 2, 3, 4], [0.5, 0.0, 0.5, 0.5]), 2)["mean_test_seq_acc"]
    at_m = summarize(curve([1, 2, 3, 4], [0.5, 0.5, 0.5, 0.0]), 2)["mean_test_seq_acc"]
    assert base == at_n == 0.5 and at_m == 0.25


@pytest.mark.parametrize("position, attention_kind, whole", [
    ("rope", "softmax", False), ("rope", "relu", True), ("transformer_xl", "softmax", True)])
def test_eval_rows_count_the_logits_attention_holds(position, attention_kind, whole):
    """Query blocks hold a block of logits per head, so long evaluations batch more rows."""
    built = build(tiny_config(position=position, attention=AttentionConfig(kind=attention_kind),
                              eval=EvalConfig(max_length=8, batch_size=4096)))
    assert built.net.whole_logits == whole
    size, heads = 1000, built.net.heads
    rows = bucket_rows(built, size)
    held = size * size if whole else query_blocks(size, size)[1] * size
    assert whole or held <= QUERY_BLOCK_LOGITS + size
    assert rows * held * heads <= ATTENTION_BUDGET < (rows + 1) * held * heads


def test_eval_rows_without_attention_are_the_batch_size():
    lstm = build(tiny_config(model="lstm", position="none", eval=EvalConfig(max_length=8, batch_size=512)))
    assert bucket_rows(lstm, 1000) == 512


def test_short_lengths_share_one_evaluation_program():
    """Below SMALL_SLOTS padding is cheaper than compiling another program."""
    short = build(tiny_config(m=8))
    assert eval_buckets(short, short.eval_lengths, short.task) == [short.eval_lengths]
    wide = build(tiny_config(n=16, m=48, eval=EvalConfig(max_length=48, buckets=4)))
    groups = eval_buckets(wide, wide.eval_lengths, wide.task)
    assert len(groups) == 4 and [n for g in groups for n in g] == list(range(1, 49))
    assert seq_len(wide.task, groups[0][-1]) == SMALL_SLOTS


FLIP_FLOP = {"name": "flip_flop"}


def flip_flop_config(**sets):
    return tiny_config(task=FLIP_FLOP, model="decoder", steps=10, n=8, m=16, train=TrainConfig(
        min_length=8, max_length=8, steps=10, batch_size=8, chunk_steps=10, warmup_steps=5, buckets=1),
        eval=EvalConfig(min_length=8, max_length=16, stride=4, samples_per_length=8, batch_size=8, sets=sets))


def test_a_plan_narrows_lengths_and_changes_instances_per_set():
    built = build(flip_flop_config(sparse={"samples_per_length": 40, "max_length": 8}, dense={"min_length": 12}))
    plan = {s.name: s for s in eval_plan(built)}
    assert list(plan) == ["default", "sparse", "dense"]
    assert (plan["default"].lengths, plan["default"].samples) == ([8, 12, 16], 8)
    assert (plan["sparse"].lengths, plan["sparse"].samples) == ([8], 40)
    assert (plan["dense"].lengths, plan["dense"].samples) == ([12, 16], 8)
    assert plan["sparse"].task.options.p_i == 0.98


def test_a_run_evaluates_each_set_as_planned(tmp_path):
    cfg = flip_flop_config(sparse={"samples_per_length": 40, "max_length": 8})
    run(cfg, tmp_path)
    curve = pd.read_csv(tmp_path / "curve.csv")
    sparse = curve[curve.eval_set == "sparse"]
    assert sparse.length.tolist() == [8] and sparse.n.tolist() == [40]
    assert curve[curve.eval_set == "default"].length.tolist() == [8, 12, 16]
    counts = json.loads((tmp_path / "summary.json").read_text())["per_seed"][0]["eval_sets"]["sparse"]
    assert counts["sequences"] == 40 and counts["tokens"] == int(sparse.tokens.sum())


@pytest.mark.parametrize("sets, message", [
    ({"sparce": {"max_length": 8}}, "eval.sets: unknown evaluation set 'sparce' of task 'flip_flop'; "
                                     "valid: default, sparse, dense"),
    ({"sparse": {"min_length": 20}}, "eval.sets.sparse: no evaluated length in 20..16 (evaluated: 8..16)"),
])
def test_bad_sets_of_the_task_are_refused_before_training(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        build(flip_flop_config(**sets))


@pytest.mark.parametrize("sets, message", [
    ({"sparse": {"samples": 8}}, "unknown key 'eval.sets.sparse.samples'; valid: samples_per_length, min_length"),
    ({"sparse": {"max_length": 0}}, "eval.sets.sparse.max_length must be an integer >= 1, got 0"),
    ({"sparse": 5}, "eval.sets.sparse: expected a mapping, got 5"),
])
def test_bad_set_settings_are_one_line_errors(sets, message):
    cfg = tiny_config(eval=EvalConfig(max_length=8, sets=sets))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        validate(cfg)


def test_sets_from_a_config_dict():
    cfg = RunConfig.from_dict({"eval": {"sets": {"sparse": {"samples_per_length": 100}}}})
    assert cfg.eval.sets == {"sparse": {"samples_per_length": 100}}


def test_error_counts_pool_lengths_and_bound_zero_errors():
    rows = pd.DataFrame({"tokens": [1000, 3000], "token_errors": [0, 0], "n": [100, 200], "seq_acc": [1.0, 1.0],
                         "token_acc": [1.0, 1.0]})
    zero = error_counts(rows)
    assert (zero["error_rate"], zero["error_rate_lo"]) == (0.0, 0.0)
    assert zero["error_rate_hi"] == pytest.approx(1.959964 ** 2 / (4000 + 1.959964 ** 2))
    some = error_counts(rows.assign(token_errors=[3, 1], seq_acc=[0.98, 0.995]))
    assert some["error_rate"] == pytest.approx(4 / 4000) and some["sequences_with_error"] == 3
    assert (some["error_rate_lo"], some["error_rate_hi"]) == pytest.approx(wilson(4, 4000))
    assert some["seq_error_rate"] == pytest.approx(3 / 300) and some["sequences"] == 300


def test_few_instances_are_evaluated_in_batches_of_their_own_size():
    """One instance per length at thousands of slots is one row, not a batch padded to eval.batch_size."""
    built = build(tiny_config(eval=EvalConfig(max_length=8, samples_per_length=3, batch_size=64)))
    program = Program(built)
    params = program.init(*program.model_inputs(), 20).params
    rows = []
    compute = program.eval_batch
    program.eval_batch = lambda p, ex, key: rows.append(ex.tokens_BxS.shape[0]) or compute(p, ex, key)
    stats = evaluate(program, params, eval_plan(built)[0], lengths=[5, 8])
    assert set(rows) == {3} and sorted(stats) == [5, 8]
    assert all(int(s[0, 2]) <= 3 for s in stats.values())
