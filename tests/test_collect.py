"""collect: per-seed robustness and the time a sweep spent, from summary rows with known values."""

import pandas as pd
import pytest

from lengthgen.collect import seed_table, time_spent, varying_columns


def summaries(gen_lengths, n=8):
    return pd.DataFrame({"config": ["rope"] * len(gen_lengths), "run": [f"r{i}" for i in range(len(gen_lengths))],
                         "generalization_length": gen_lengths, "cfg.train.max_length": n,
                         "mean_test_token_acc": 0.5})


def test_seed_table_counts_seeds_reaching_one_and_a_half_n():
    robust = seed_table(summaries([8, 11, 12, 20]), by=("config",)).set_index("config").loc["rope"]
    assert (robust.seeds, robust.generalizing) == (4, 2)
    assert robust.gen_length_sd == pytest.approx(pd.Series([8, 11, 12, 20]).std())
    assert (robust.gen_length_min, robust.gen_length_max) == (8, 20)
    assert seed_table(summaries([12]), by=("config",), factor=2.0).generalizing.iloc[0] == 0


def test_time_spent_counts_each_run_once():
    frame = pd.DataFrame({"run": ["a", "a", "b"], "train_seconds": [10.0, 10.0, 5.0], "eval_seconds": [1.0, 1.0, 2.0],
                          "compile_seconds": [3.0, 3.0, 0.5], "compiled_programs": [4, 4, 0],
                          "loaded_programs": [0, 0, 4]})
    assert time_spent(frame) == {"runs": 2, "train_seconds": 15.0, "eval_seconds": 3.0, "compile_seconds": 3.5,
                                 "compiled_programs": 4.0, "loaded_programs": 4.0}


def test_seed_table_gives_mean_interval_and_generalizing_seeds_per_cell():
    frame = pd.DataFrame({"task": ["t"] * 4 + ["u"], "position": ["rope"] * 3 + ["alibi", "rope"],
                          "mean_test_token_acc": [0.5, 0.6, 0.7, 0.9, 0.4], "generalization_length": [8, 12, 13, 8, 8],
                          "cfg.train.max_length": 8})
    table = seed_table(frame).set_index(["task", "position"])
    cell = table.loc[("t", "rope")]
    assert cell["mean"] == pytest.approx(0.6) and (cell.seeds, cell.generalizing) == (3, 2)
    assert cell.hi - cell["mean"] == pytest.approx(4.303 * 0.1 / 3 ** 0.5)
    assert table.loc[("t", "alibi")].lo == table.loc[("t", "alibi")].hi == pytest.approx(0.9)
    assert len(table) == 3



def test_varying_columns_ignore_settings_that_change_no_result_and_absent_options():
    frame = pd.DataFrame({"cfg.position.name": ["rope", "randomized_rope", "randomized_rope", "alibi"],
                          "cfg.position.max_len": [None, 128, 2048, None], "cfg.position.base": [1e4, 1e4, 1e4, None],
                          "cfg.progress": [True, False, True, True], "cfg.xla_threads": [0, 1, 0, 0],
                          "cfg.train.lr": [1e-3] * 4, "cfg.train.seeds": [1, 2, 1, 1]})
    assert varying_columns(frame) == ["cfg.position.name", "cfg.position.max_len"]


def test_collect_gives_each_evaluation_set_count_its_own_column(tmp_path):
    import json

    from lengthgen.collect import collect
    from lengthgen.evaluate import CURVE_COLUMNS

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("task: {name: flip_flop}\ntrain: {max_length: 4}\n")
    pd.DataFrame([dict.fromkeys(CURVE_COLUMNS, 0)]).to_csv(run / "curve.csv", index=False)
    sets = {"default": {"tokens": 100, "token_errors": 2}, "sparse": {"tokens": 50, "token_errors": 0}}
    (run / "summary.json").write_text(json.dumps({"task": "flip_flop", "model": "decoder", "position": "rope",
                                                  "per_seed": [{"seed": 0, "eval_sets": sets}]}))
    _, summaries = collect(tmp_path)
    row = summaries.iloc[0]
    assert "eval_sets" not in summaries
    assert (row["eval_sets.default.token_errors"], row["eval_sets.sparse.tokens"]) == (2, 50)


def test_list_settings_are_one_hashable_cell(tmp_path):
    from lengthgen.collect import flatten, varying_columns

    row = flatten({"eval": {"attention_lengths": [8, 16], "sets": {"sparse": {"max_length": 8}}}})
    assert row == {"cfg.eval.attention_lengths": "[8, 16]", "cfg.eval.sets.sparse.max_length": 8}
    frame = pd.DataFrame([row, {**row, "cfg.eval.attention_lengths": "[]"}])
    assert varying_columns(frame) == ["cfg.eval.attention_lengths"]


def test_error_table_counts_seeds_with_errors_and_pools_reads():
    from lengthgen.collect import error_table
    from lengthgen.evaluate import wilson

    rows = [{"run": r, "lr": 0.1, "seed": s, "eval_set": "sparse", "length": 8, "n": 100, "tokens": 1000,
             "token_errors": e, "token_acc": 1 - e / 1000, "seq_acc": 1 - e / 100}
            for r, errs in (("lstm", (0, 0, 0)), ("transformer", (0, 3, 1))) for s, e in enumerate(errs)]
    table = error_table(pd.DataFrame(rows)).set_index("run")
    assert table.loc["lstm", ["seeds", "seeds_with_errors", "errors", "error_rate"]].tolist() == [3, 0, 0, 0.0]
    assert table.loc["lstm", "error_rate_hi"] == pytest.approx(wilson(0, 3000)[1])
    t = table.loc["transformer"]
    assert (t.seeds_with_errors, t.errors, t.reads_per_seed) == (2, 4, 1000)
    assert t.error_rate == pytest.approx(4 / 3000) and t.max_seed_error_rate == pytest.approx(0.003)
    assert t.seq_error_rate == pytest.approx(4 / 300)
