"""Every registered task trains and evaluates end to end at toy size."""

import json

import pandas as pd
import pytest

from lengthgen.config import EvalConfig, TrainConfig
from lengthgen.registry import TASKS
from lengthgen.run import run

# Representatives that stay in the default run: an encoder task, and the language-modelling
# path (empty input, decoder, extra evaluation sets). The others compile their own programs,
# which costs several seconds each on a small machine.
FAST = {"parity", "flip_flop"}


def _case(name):
    marks = () if name in FAST else (pytest.mark.slow,)
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_case(n) for n in TASKS.names()])
def test_task_trains_end_to_end(name, tiny, tmp_path):
    task = TASKS.get(name)()
    model = "encoder" if "placeholder" in task.layouts else "decoder"
    low = task.min_length
    n, m = low + 2, low + 4
    cfg = tiny(task=name, model=model,
               train=TrainConfig(min_length=low, max_length=n, steps=10, batch_size=8, chunk_steps=10,
                                 warmup_steps=5, buckets=1),
               eval=EvalConfig(min_length=low, max_length=m, samples_per_length=8, batch_size=8))
    summary = run(cfg, tmp_path)
    assert (tmp_path / "curve.csv").exists() and (tmp_path / "summary.json").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["task"] == name
    assert summary["train_max_length"] == n and summary["eval_max_length"] == m
    curve = pd.read_csv(tmp_path / "curve.csv")
    assert set(curve.eval_set) == {"default", *task.eval_variants}
    for _, rows in curve.groupby("eval_set"):
        assert sorted(rows.length) == list(range(low, m + 1))
        assert (rows.tokens > 0).all() and rows.token_acc.between(0, 1).all()
