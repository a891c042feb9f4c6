"""lengthgen attention: captured weights, the needed/distractor split, files and the command."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli, tiny_config

from lengthgen.attention_maps import Capture, capture, load, masses, save, summary_table
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


def test_mass_split_of_a_hand_built_capture():
    weights = np.zeros((1, 1, 1, 1, 3, 3))
    weights[0, 0, 0, 0] = [[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.5, 0.2, 0.3]]
    needed = np.zeros((1, 3, 3), bool)
    needed[0, 1, 0] = needed[0, 2, 1] = needed[0, 2, 2] = True
    scored = np.array([[False, True, True]])
    correct = np.array([[[False, True, False]]])
    c = Capture(weights, needed, scored, correct, np.tril(np.ones((3, 3), bool)), np.zeros((1, 3), int))
    need, distract = masses(c)
    assert need[0, 0, 0, 0].tolist() == pytest.approx([0.0, 0.25, 0.5])
    assert distract[0, 0, 0, 0].tolist() == pytest.approx([1.0, 0.75, 0.5])
    row = summary_table(c).iloc[0]
    assert row.needed == pytest.approx(0.375) and row.distractor == pytest.approx(0.625)
    assert row.distractor_correct == pytest.approx(0.75) and row.distractor_wrong == pytest.approx(0.5)


def test_files_and_the_command(tmp_path):
    run_dir = finished(tmp_path)
    built, program, params = load(run_dir)
    npz, png = save(capture(built, program, params, 5, 2), run_dir, 5, "default")
    data = np.load(npz)
    assert data["weights"].shape[:3] == (1, built.net.layers, 2) and png.stat().st_size > 0
    out = run_cli("lengthgen", "attention", str(run_dir), "--length", "6", "--samples", "4")
    assert out.returncode == 0, out.stderr
    assert "layer  head  needed  distractor" in out.stdout and (run_dir / "attention_L6.png").exists()
    bad = run_cli("lengthgen", "attention", str(run_dir), "--length", "6", "--set", "sparse")
    assert bad.returncode == 2 and "unknown evaluation set 'sparse'; valid: default" in bad.stderr


def test_a_task_without_needed_slots_still_saves_maps(tmp_path):
    run_dir = finished(tmp_path, task="reverse_string", model="encoder")
    built, program, params = load(run_dir)
    c = capture(built, program, params, 5, 2)
    assert c.needed is None and np.isnan(summary_table(c).needed).all()


def test_a_run_without_parameters_is_a_clear_error(tmp_path):
    run_dir = finished(tmp_path)
    (run_dir / "params.msgpack").unlink()
    with pytest.raises(ConfigError, match="has no params.msgpack"):
        load(run_dir)
