"""plots: labels that name what varies, and the per-task panel figure."""

import pandas as pd

from lengthgen.plots import config_label, plot_panels


def test_plot_panels_draws_one_panel_per_task(tmp_path):
    import matplotlib.image

    rows = [{"task": task, "position": pos, "run": f"{task}/{pos}", "lr": 0.001, "seed": seed, "length": n,
             "token_acc": 0.5 + 0.1 * seed, "cfg.train.max_length": 2}
            for task in ("a", "b", "c", "d") for pos in ("rope", "alibi") for seed in (0, 1) for n in (1, 2, 3, 4)]
    path = plot_panels(pd.DataFrame(rows), tmp_path / "panels.png")
    height, width, _ = matplotlib.image.imread(path).shape
    assert width > height > 0  # a grid of 2 rows x 3 columns


def test_labels_name_each_varying_setting_and_skip_absent_options():
    frame = pd.DataFrame({"cfg.position.name": ["rope", "randomized_rope", "randomized_rope"],
                          "cfg.position.max_len": [None, 128, 2048], "cfg.train.lr": [0.001, 0.001, 0.0003],
                          "cfg.task.name": ["copy"] * 3})
    assert config_label(frame, list(frame.columns)).tolist() == [
        "position=rope, lr=0.001", "position=randomized_rope, position.max_len=128, lr=0.001",
        "position=randomized_rope, position.max_len=2048, lr=0.0003"]
    same = frame.iloc[:1].assign(task="copy", model="encoder", position="rope")
    assert config_label(same, ["cfg.train.lr"]).tolist() == ["task=copy, model=encoder, position=rope"]


def test_palette_keeps_curves_apart_beyond_ten():
    from lengthgen.plots import palette

    for n in (3, 10, 20, 45):
        assert len(set(palette(n))) == n
