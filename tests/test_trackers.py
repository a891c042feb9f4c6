"""Trackers: what a real run logs to MLflow and TensorBoard is read back with each tool's own reader."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lengthgen.config import LoggerConfig, TrainConfig, validate
from lengthgen.errors import ConfigError
from lengthgen.run import run
from lengthgen.train import TrainingFailed
from lengthgen.trackers import flatten, open_tracker

from conftest import run_cli, tiny_config

TRAIN = TrainConfig(max_length=4, steps=30, batch_size=8, chunk_steps=10, warmup_steps=5, buckets=1, seeds=2,
                    fit_every=20)


def tracked(kind: str, **logger) -> object:
    return tiny_config(train=TRAIN, logger=LoggerConfig(kind=kind, **logger))


def mlflow_runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("lengthgen")
    return client, client.search_runs([experiment.experiment_id])


def expected_eval(curve: pd.DataFrame, metric: str) -> dict[int, float]:
    rows = curve[curve.eval_set == "default"]
    return {int(n): float(v) for n, v in rows.groupby("length")[metric].mean().items()}


def test_mlflow_logs_config_training_curve_and_per_length_results(tmp_path):
    cfg = tracked("mlflow")
    run_dir = tmp_path / "sweep" / "0_run"
    summary = run(cfg, run_dir)
    client, runs = mlflow_runs(f"sqlite:///{tmp_path / 'sweep' / 'mlflow.db'}")
    assert len(runs) == 1
    logged = runs[0]
    assert logged.info.status == "FINISHED" and logged.info.run_name == "0_run"
    assert logged.data.tags["run_dir"] == str(run_dir.resolve()) and logged.data.tags["task"] == "reverse_string"
    params = logged.data.params
    assert params["model.d_model"] == "16" and params["train.seeds"] == "2" and params["position.name"] == "rope"
    assert set(params) == set(flatten(cfg.to_dict()))

    rid = logged.info.run_id
    loss = client.get_metric_history(rid, "train/loss")
    assert [m.step for m in loss] == [10, 20, 30] and all(np.isfinite(m.value) for m in loss)
    per_seed = [client.get_metric_history(rid, f"train/loss/seed{s}") for s in (0, 1)]
    assert all(len(h) == 3 for h in per_seed)
    assert np.allclose([m.value for m in loss], np.mean([[m.value for m in h] for h in per_seed], axis=0))
    assert [m.step for m in client.get_metric_history(rid, "train/min_seq_acc")] == [20, 30]
    assert all(m.value > 0 for m in client.get_metric_history(rid, "train/steps_per_s"))

    curve = pd.read_csv(run_dir / "curve.csv")
    for metric in ("token_acc", "seq_acc"):
        history = {m.step: m.value for m in client.get_metric_history(rid, f"eval/default/{metric}")}
        assert history == pytest.approx(expected_eval(curve, metric))
        seed1 = {m.step: m.value for m in client.get_metric_history(rid, f"eval/default/{metric}/seed1")}
        rows = curve[(curve.eval_set == "default") & (curve.seed == 1)]
        assert seed1 == pytest.approx(dict(zip(rows.length, rows[metric])))
    assert logged.data.metrics["summary/mean_test_token_acc"] == pytest.approx(summary["mean_test_token_acc"])
    assert logged.data.metrics["summary/generalization_length"] == pytest.approx(summary["generalization_length"])


def test_mlflow_failed_run_is_marked_and_a_relaunch_continues_it(tmp_path):
    uri = f"file:{tmp_path / 'mlruns'}"
    cfg = dataclasses.replace(tracked("mlflow", tracking_uri=uri, experiment="lengthgen"),
                              train=dataclasses.replace(TRAIN, lr=1e30, seeds=1, fit_every=0))
    for _ in range(2):
        with pytest.raises(TrainingFailed):
            run(cfg, tmp_path / "run")
    _, runs = mlflow_runs(uri)
    assert [r.info.status for r in runs] == ["FAILED"]


def test_tensorboard_logs_scalars_config_and_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = run(tracked("tensorboard"), tmp_path / "runs" / "a")
    events = EventAccumulator(str(tmp_path / "runs" / "tensorboard" / "a"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/acc", "train/steps_per_s", "train/loss/seed0", "eval/default/token_acc",
            "eval/default/seq_acc", "summary/mean_test_token_acc"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/acc")] == [10, 20, 30]
    curve = pd.read_csv(tmp_path / "runs" / "a" / "curve.csv")
    token = {e.step: e.value for e in events.Scalars("eval/default/token_acc")}
    assert token == pytest.approx(expected_eval(curve, "token_acc"), abs=1e-6)
    assert events.Scalars("summary/mean_test_token_acc")[0].value == pytest.approx(summary["mean_test_token_acc"])
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "model.d_model: 16" in text and "train.seeds: 2" in text
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def test_logger_is_not_part_of_the_results(tmp_path):
    """A finished run relaunched with a tracker is the same configuration: skipped, not refused."""
    first = run(tiny_config(), tmp_path / "run")
    again = run(tiny_config(logger=LoggerConfig(kind="tensorboard")), tmp_path / "run")
    assert again == first
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["config"].get("logger") is None
    assert not (tmp_path / "tensorboard").exists()


def test_unknown_logger_kind_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="logger.kind: unknown value 'wandb'; valid: none, tensorboard, mlflow"):
        validate(tracked("wandb"))
    out = run_cli("lengthgen-train", "logger=wandb", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip() == "lengthgen-train: error: unknown logger 'wandb'; valid: mlflow, none, tensorboard"


def test_flatten_dotted_keys():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}, "e": "x"}) == {"a.b": 1, "a.c": "[1, 2]", "d": "{}", "e": "x"}


def test_logger_group_from_the_command_line(tmp_path):
    """`logger=tensorboard logger.dir=...` selects the group option and sets its keys through Hydra."""
    out = run_cli("lengthgen-train", "logger=tensorboard", f"logger.dir={tmp_path / 'tb'}", "task=copy",
                  "train.steps=20", "train.chunk_steps=10", "train.max_length=3", "eval.max_length=5",
                  "eval.samples_per_length=4", "model.layers=1", "model.d_model=16", "model.mlp_dim=32",
                  "progress=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "tb" / "run").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_parallel_jobs_share_one_mlflow_store(tmp_path):
    """Two joblib workers create and write the same SQLite store at once: every run lands, FINISHED."""
    out = run_cli("lengthgen-train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "logger=mlflow",
                  "position=rope,alibi,sinusoidal,t5", "task=copy", "train.steps=20", "train.chunk_steps=10",
                  "train.max_length=3", "eval.max_length=5", "eval.samples_per_length=4", "model.layers=1",
                  "model.d_model=16", "model.mlp_dim=32", "progress=false", f"hydra.sweep.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    _, runs = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert sorted(r.info.run_name.split("_")[3] for r in runs) == ["alibi", "rope", "sinusoidal", "t5"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all(len(r.data.metrics) >= 10 for r in runs)


def _open_and_close(barrier, sweep: str, index: int, results) -> None:
    cfg = tracked("mlflow")
    barrier.wait()
    try:
        open_tracker(cfg, Path(sweep) / f"{index}_run")._close("FINISHED")
        results.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put(repr(exc)[:300])


@pytest.mark.slow
def test_processes_opening_one_new_store_at_once_all_succeed(tmp_path):
    """Four processes create the same new SQLite store at the same moment (what parallel sweep jobs do):
    without the store lock MLflow's table creation races and some fail."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    jobs = [context.Process(target=_open_and_close, args=(barrier, str(tmp_path), i, results)) for i in range(4)]
    for job in jobs:
        job.start()
    outcomes = [results.get(timeout=300) for _ in jobs]
    for job in jobs:
        job.join()
    assert outcomes == ["ok"] * 4
    client, runs = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert sorted(r.info.run_name for r in runs) == [f"{i}_run" for i in range(4)]
    assert {r.info.status for r in runs} == {"FINISHED"}
