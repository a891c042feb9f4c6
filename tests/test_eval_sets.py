"""Evaluation sets with their own lengths and instance counts (`eval.sets`), and the error
counts a study of rare errors reads (`evaluate.error_counts`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import tiny_config

from lengthgen.build import build
from lengthgen.config import EvalConfig, RunConfig, TrainConfig, validate
from lengthgen.errors import ConfigError
from lengthgen.evaluate import error_counts, eval_plan, evaluate, wilson
from lengthgen.program import Program
from lengthgen.run import run

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
