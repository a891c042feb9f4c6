"""The training loop (`lengthgen.train`): fit checks (`train.fit_every`) and stopping once every model fits."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import lengthgen.run
from lengthgen.config import TrainConfig
from lengthgen.errors import ConfigError
from lengthgen.results import CHECKPOINT
from lengthgen.run import run
from lengthgen.train import FIT_AT
from conftest import tiny_config


def config(**train):
    base = TrainConfig(max_length=4, steps=60, batch_size=8, chunk_steps=10, warmup_steps=5, buckets=1, seeds=2,
                       checkpoint_every=10)
    return tiny_config(task="copy", train=dataclasses.replace(base, **train))


def test_fit_history_is_the_lowest_training_exact_match_of_each_model(tmp_path):
    summary = run(config(fit_every=20), tmp_path)
    history = summary["fit_history"]
    assert [h["step"] for h in history] == [20, 40, 60]
    curve = pd.read_csv(tmp_path / "curve.csv")
    final = curve[curve.split == "train"].groupby("seed").seq_acc.min()
    assert history[-1]["min_seq_acc"] == pytest.approx(final.tolist())
    for i, row in enumerate(summary["per_seed"]):
        fitted = [h["step"] for h in history if h["min_seq_acc"][i] >= FIT_AT]
        assert row["steps_to_fit"] == (fitted[0] if fitted else None)
        assert row["steps_trained"] == 60


def test_stop_when_fit_ends_training_at_the_first_check_where_all_fit(tmp_path, monkeypatch):
    calls = []

    def fake_check(built, program, params):
        calls.append(1)
        return [1.0, 1.0] if len(calls) >= 2 else [1.0, 0.5]

    monkeypatch.setattr(lengthgen.run, "fit_check", fake_check)
    summary = run(config(fit_every=20, stop_when_fit=True), tmp_path)
    assert [row["steps_trained"] for row in summary["per_seed"]] == [40, 40]
    assert [row["steps_to_fit"] for row in summary["per_seed"]] == [20, 40]


def test_a_run_stopped_as_fit_resumes_without_training_further(tmp_path, monkeypatch):
    monkeypatch.setattr(lengthgen.run, "fit_check", lambda built, program, params: [1.0, 1.0])
    real = lengthgen.run.curve_table

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lengthgen.run, "curve_table", crash)
    with pytest.raises(KeyboardInterrupt):
        run(config(fit_every=20, stop_when_fit=True), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / CHECKPOINT).exists()
    monkeypatch.setattr(lengthgen.run, "curve_table", real)
    summary = run(config(fit_every=20, stop_when_fit=True), tmp_path)
    assert [row["steps_trained"] for row in summary["per_seed"]] == [20, 20]
    assert [h["step"] for h in summary["fit_history"]] == [20]


def test_stop_when_fit_needs_fit_checks(tmp_path):
    with pytest.raises(ConfigError, match="train.stop_when_fit=true needs train.fit_every > 0"):
        run(config(stop_when_fit=True), tmp_path)
