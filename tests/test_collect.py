"""collect: per-seed robustness and the time a sweep spent, from summary rows with known values."""

import pandas as pd
import pytest

from lengthgen.collect import seed_robustness, seed_table, time_spent
from lengthgen.plots import plot_panels


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


def test_plot_panels_draws_one_panel_per_task(tmp_path):
    import matplotlib.image

    rows = [{"task": task, "position": pos, "run": f"{task}/{pos}", "lr": 0.001, "seed": seed, "length": n,
             "token_acc": 0.5 + 0.1 * seed, "cfg.train.max_length": 2}
            for task in ("a", "b", "c", "d") for pos in ("rope", "alibi") for seed in (0, 1) for n in (1, 2, 3, 4)]
    path = plot_panels(pd.DataFrame(rows), tmp_path / "panels.png")
    height, width, _ = matplotlib.image.imread(path).shape
    assert width > height > 0  # a grid of 2 rows x 3 columns
