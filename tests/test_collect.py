"""collect: per-seed robustness and the time a sweep spent, from summary rows with known values."""

import pandas as pd
import pytest

from lengthgen.collect import seed_robustness, time_spent


def summaries(gen_lengths, n=8):
    return pd.DataFrame({"config": ["rope"] * len(gen_lengths), "run": [f"r{i}" for i in range(len(gen_lengths))],
                         "generalization_length": gen_lengths, "cfg.train.max_length": n})


def test_seed_robustness_counts_seeds_reaching_one_and_a_half_n():
    robust = seed_robustness(summaries([8, 11, 12, 20])).loc["rope"]
    assert (robust.seeds, robust.generalizing) == (4, 2)
    assert robust.gen_length_sd == pytest.approx(pd.Series([8, 11, 12, 20]).std())
    assert (robust.gen_length_min, robust.gen_length_max) == (8, 20)
    assert seed_robustness(summaries([12]), factor=2.0).loc["rope"].generalizing == 0


def test_time_spent_counts_each_run_once():
    frame = pd.DataFrame({"run": ["a", "a", "b"], "train_seconds": [10.0, 10.0, 5.0], "eval_seconds": [1.0, 1.0, 2.0],
                          "compile_seconds": [3.0, 3.0, 0.5], "compiled_programs": [4, 4, 0],
                          "loaded_programs": [0, 0, 4]})
    assert time_spent(frame) == {"runs": 2, "train_seconds": 15.0, "eval_seconds": 3.0, "compile_seconds": 3.5,
                                 "compiled_programs": 4.0, "loaded_programs": 4.0}
