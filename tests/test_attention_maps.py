"""lengthgen attention: captured weights, the needed/distractor split, files and the command."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, tiny_config

from lengthgen.attention_maps import Capture, attention_table, capture, load, masses, record, save, steps_table
from lengthgen.config import EvalConfig, RunConfig, validate
from lengthgen.errors import ConfigError
from lengthgen.registry import POSITIONS
from lengthgen.run import run

QUICK = {("rope", "decoder"), ("alibi", "encoder"), ("randomized_rope", "encoder"), ("t5", "decoder"),
         ("fire", "encoder"), ("transformer_xl", "decoder")}


def finished(tmp_path, position="rope", model="decoder", task=None):
    task = task or {"name": "parity", "format": "scratchpad"}
    cfg = tiny_config(task=task, position=position, model=model, steps=10, n=4, m=6)
    run(cfg, tmp_path)
    return tmp_path


def schemes():
    for name in POSITIONS.names():
        for model in ("encoder", "decoder"):
            marks = [] if (name, model) in QUICK else [pytest.mark.slow]
            yield pytest.param(name, model, marks=marks, id=f"{name}-{model}")


@pytest.mark.parametrize("position, model", schemes())
def test_captured_attention_is_a_distribution_over_visible_keys(tmp_path, position, model):
    spec = POSITIONS.get(position)
    if spec.causal_only and model == "encoder":
        pytest.skip(f"{position} is defined for causal models only")
    task = {"name": "addition"} if spec.task_ids else None  # digit schemes need the task's digit ids
    built, program, params = load(finished(tmp_path, position, model, task))
    c = capture(built, program, params, length=6, samples=3)
    S = built.task.shapes(6)[0] + built.task.shapes(6)[1]
    assert c.weights.shape == (1, built.net.layers, 3, built.net.heads, S, S)
    assert (c.needed is None) == bool(spec.task_ids)
    rows = c.weights.sum(-1)
    assert np.allclose(rows, 1.0, atol=1e-5)
    assert np.all(c.weights[..., ~c.visible_SxS] < 1e-6)
    if c.needed is None:
        return
    need, distract = masses(c)
    scored = np.broadcast_to(c.scored_BxS[None, None, :, None], need.shape)
    assert np.allclose((need + distract)[scored], 1.0, atol=1e-5)
    assert np.all((need >= -1e-6) & (distract >= -1e-6))


def hand_built(correct=((False, True, False),)):
    """One layer, one head, one instance of 3 slots; slots 1 and 2 are scored steps 1 and 2."""
    weights = np.zeros((len(correct), 1, 1, 1, 3, 3))
    weights[:, 0, 0, 0] = [[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.5, 0.2, 0.3]]
    needed = np.zeros((1, 3, 3), bool)
    needed[0, 1, 0] = needed[0, 2, 1] = needed[0, 2, 2] = True
    scored = np.array([[False, True, True]])
    return Capture(weights, needed, scored, np.array(correct)[:, None], np.tril(np.ones((3, 3), bool)),
                   np.zeros((1, 3), int))


def fake_built(models, n=1):
    cfg = SimpleNamespace(models=models, train=SimpleNamespace(max_length=n))
    name = SimpleNamespace(name="x")
    return SimpleNamespace(cfg=cfg, task=name, model=name, position=name)


def test_mass_split_of_a_hand_built_capture():
    c = hand_built()
    need, distract = masses(c)
    assert need[0, 0, 0, 0].tolist() == pytest.approx([0.0, 0.25, 0.5])
    assert distract[0, 0, 0, 0].tolist() == pytest.approx([1.0, 0.75, 0.5])
    row = attention_table(c, fake_built([(0.1, 0)]), length=2).iloc[0]
    assert row.needed == pytest.approx(0.375) and row.distractor == pytest.approx(0.625)
    assert row.distractor_right == pytest.approx(0.75) and row.distractor_wrong == pytest.approx(0.5)
    assert row.distractor_gap == pytest.approx(-0.25) and (row.steps_right, row.steps_wrong) == (1, 1)
    assert (row.length, row.split, row.seed) == (2, "test", 0)


def test_per_model_rows_and_a_model_with_no_wrong_step():
    c = hand_built(correct=((False, True, False), (False, True, True)))
    table = attention_table(c, fake_built([(0.1, 0), (0.1, 1)]), length=2)
    assert table.seed.tolist() == [0, 1] and table.steps_wrong.tolist() == [1, 0]
    assert np.isnan(table.distractor_gap.iloc[1]) and table.distractor_right.iloc[1] == pytest.approx(0.625)


def test_step_table_numbers_scored_steps_and_finds_first_errors():
    correct = np.array([[[False, True, True, False, False], [False, False, True, True, True]]])
    scored = np.array([[False, True, True, True, True], [False, True, True, True, True]])
    c = Capture(np.zeros((1, 1, 2, 1, 5, 5)), None, scored, correct & scored, np.ones((5, 5), bool), np.zeros((2, 5), int))
    table = steps_table(c, fake_built([(0.1, 7)], n=2), length=4)
    assert table.step.tolist() == [1, 2, 3, 4] and table.trained.tolist() == [True, True, False, False]
    assert table.step_acc.tolist() == [0.5, 1.0, 0.5, 0.5]
    assert table.first_wrong.tolist() == [1, 0, 1, 0] and (table.seed == 7).all()


def test_record_replaces_the_rows_of_the_same_length(tmp_path):
    built = fake_built([(0.1, 0)])
    record(hand_built(), built, tmp_path, 2)
    record(hand_built(), built, tmp_path, 3)
    record(hand_built(correct=((False, True, True),)), built, tmp_path, 2)
    table = pd.read_csv(tmp_path / "attention.csv")
    assert table.length.tolist() == [2, 3] and table.steps_wrong.tolist() == [0, 1]
    assert pd.read_csv(tmp_path / "steps.csv").groupby("length").size().to_dict() == {2: 2, 3: 2}


def test_a_run_with_attention_lengths_writes_the_tables_and_maps(tmp_path):
    cfg = tiny_config(task={"name": "parity", "format": "padded_scratchpad", "pad_length": 6}, model="decoder",
                      steps=10, n=4, m=6)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seeds=2),
                              eval=dataclasses.replace(cfg.eval, attention_lengths=(4, 6), attention_maps=3))
    run(cfg, tmp_path)
    att, steps = pd.read_csv(tmp_path / "attention.csv"), pd.read_csv(tmp_path / "steps.csv")
    assert sorted(att.length.unique()) == [4, 6] and sorted(att.seed.unique()) == [0, 1]
    assert len(att) == 2 * 2 * cfg.model.layers * cfg.model.heads
    assert np.allclose(att.needed + att.distractor, 1.0, atol=1e-5)
    at6 = steps[(steps.length == 6) & (steps.seed == 0)]
    assert at6.step.tolist() == [1, 2, 3, 4, 5, 6] and at6.trained.tolist() == [True] * 4 + [False] * 2
    assert (at6.instances == cfg.eval.samples_per_length).all()
    curve = pd.read_csv(tmp_path / "curve.csv").query("length == 6 and seed == 0")
    assert at6.right.sum() / at6.instances.sum() == pytest.approx(curve.token_acc.iloc[0])
    maps = np.load(tmp_path / "attention_L6.npz")
    assert maps["weights"].shape[:3] == (1, cfg.model.layers, 3) and maps["weights"].dtype == np.float16


@pytest.mark.parametrize("change, message", [
    ({"attention_lengths": (9,)}, "eval.attention_lengths: 9 is outside the evaluated lengths 1..8"),
    ({"attention_maps": 9}, "eval.attention_maps must be in 0..eval.samples_per_length (8), got 9"),
])
def test_bad_attention_settings_are_refused(change, message):
    cfg = tiny_config(eval=EvalConfig(max_length=8, samples_per_length=8, **change))
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate(cfg)


def test_attention_lengths_from_a_config_dict_are_integers():
    cfg = RunConfig.from_dict({"eval": {"attention_lengths": [8, 12]}})
    assert cfg.eval.attention_lengths == (8, 12) and all(type(n) is int for n in cfg.eval.attention_lengths)
    with pytest.raises(ConfigError, match=r"eval.attention_lengths\[1\]: Value '1.5' of type 'float' could not be converted"):
        RunConfig.from_dict({"eval": {"attention_lengths": [8, 1.5]}})


def test_files_and_the_command(tmp_path):
    run_dir = finished(tmp_path)
    built, program, params = load(run_dir)
    npz, png = save(capture(built, program, params, 5, 2), run_dir, 5, "default")
    data = np.load(npz)
    assert data["weights"].shape[:3] == (1, built.net.layers, 2) and png.stat().st_size > 0
    out = run_cli("lengthgen", "attention", str(run_dir), "--length", "6", "--samples", "4")
    assert out.returncode == 0, out.stderr
    assert "layer  head  needed  distractor" in out.stdout and (run_dir / "attention_L6.png").exists()
    assert set(pd.read_csv(run_dir / "attention.csv").length) == {6} and (run_dir / "steps.csv").exists()
    bad = run_cli("lengthgen", "attention", str(run_dir), "--length", "6", "--set", "sparse")
    assert bad.returncode == 2 and "unknown evaluation set 'sparse'; valid: default" in bad.stderr


def test_a_task_without_needed_slots_still_saves_maps(tmp_path):
    run_dir = finished(tmp_path, task="reverse_string", model="encoder")
    built, program, params = load(run_dir)
    c = capture(built, program, params, 5, 2)
    assert c.needed is None and np.isnan(attention_table(c, built, 5).needed).all()


def test_a_run_without_parameters_is_a_clear_error(tmp_path):
    run_dir = finished(tmp_path)
    (run_dir / "params.msgpack").unlink()
    with pytest.raises(ConfigError, match="has no params.msgpack"):
        load(run_dir)
