"""Experiment trackers: a run's configuration, training curves and per-length evaluation sent
to TensorBoard or MLflow (`logger=tensorboard|mlflow|none`).

What is logged, under the same names in both:
- the configuration, flattened to dotted keys (`model.layers`), as parameters (TensorBoard:
  hparams and a `config` text);
- per training chunk, at its last step: `train/loss` and `train/acc` (mean over the chunk's
  steps and the run's models; with several models also `train/loss/seed3` or
  `train/loss/lr0.001_seed3`) and `train/steps_per_s` (chunks that built a program are left out,
  so the rate excludes compile time); with `train.fit_every`, `train/min_seq_acc` at each check;
- per evaluation set and length, the length as the step: `eval/<set>/token_acc` and
  `eval/<set>/seq_acc` (mean over models, and per model where there are several), so the
  tracker's metric chart is the accuracy-vs-length curve;
- the summary's means and times (`summary/mean_test_token_acc`, `summary/train_seconds`, ...).

Where: TensorBoard event files in `<logger.dir>/<run name>` (default `<sweep or runs dir>/
tensorboard/<run name>`, so `tensorboard --logdir <sweep>/tensorboard` shows a sweep's runs
side by side); MLflow at `logger.tracking_uri`, by default the local SQLite file
`<sweep or runs dir>/mlflow.db` (MLflow's own recommended local store; `file:` URIs work too),
experiment `logger.experiment`, one MLflow run per run directory, named after it. A relaunched
run (resumed from its checkpoint, or retried after a failure) continues its unfinished
MLflow run; the MLflow run ends FINISHED, FAILED (an error) or KILLED (an interrupt).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lengthgen.errors import ConfigError, one_line

KINDS = ("none", "tensorboard", "mlflow")
PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}
SUMMARY_METRICS = ("mean_test_token_acc", "mean_test_seq_acc", "generalization_length", "train_seconds",
                   "eval_seconds", "compile_seconds")
BATCH = 500  # metrics buffered before an MLflow write (MLflow takes at most 1,000 per call)


def check(kind: str) -> None:
    """ConfigError for an unknown logger or one whose package is not installed."""
    if kind not in KINDS:
        raise ConfigError(f"logger.kind: unknown value '{kind}'; valid: {', '.join(KINDS)}")
    package = PACKAGES.get(kind)
    if package and importlib.util.find_spec(package) is None:
        raise ConfigError(f"logger={kind} needs the '{package}' package, which is not installed: "
                          "pip install -e '.[trackers]'")


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{'model.layers': 2, ...}: nested mappings as dotted keys, lists and tuples as JSON text."""
    if isinstance(node, dict) and (node or not prefix):
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    key = prefix.rstrip(".")
    if isinstance(node, (list, tuple, dict)):
        return {key: json.dumps(node)}
    return {key: node}


class Tracker:
    """Base tracker (`logger=none`): turns the run's objects into named values and drops them;
    a backend overrides `_params`, `_scalars` and `_close`."""

    def __init__(self, cfg) -> None:
        self.models = [(float(lr), int(seed)) for lr, seed in cfg.models]
        self.tags = [(f"lr{lr:g}_" if len(cfg.lrs) > 1 else "") + f"seed{seed}" for lr, seed in self.models]

    def config(self, cfg) -> None:
        self._params(flatten(cfg.to_dict()))

    def train(self, step: int, loss_MxS: np.ndarray, acc_MxS: np.ndarray, steps_per_s: float | None) -> None:
        """One training chunk: per-step loss and accuracy of each model."""
        values = {}
        for name, per_step in (("loss", loss_MxS), ("acc", acc_MxS)):
            per_model = np.asarray(per_step, dtype=np.float64).mean(axis=1)
            values |= self.each(f"train/{name}", float(per_model.mean()), per_model)
        if steps_per_s is not None:
            values["train/steps_per_s"] = steps_per_s
        self._scalars(values, step)

    def fit_check(self, step: int, min_seq_acc: list[float]) -> None:
        self._scalars(self.each("train/min_seq_acc", float(np.min(min_seq_acc)), min_seq_acc), step)

    def evaluation(self, curve: pd.DataFrame) -> None:
        """Accuracy per evaluation set and length (curve.csv's rows), the length as the step."""
        for (eval_set, length), rows in curve.groupby(["eval_set", "length"], sort=True):
            by_model = {(float(r.lr), int(r.seed)): r for r in rows.itertuples(index=False)}
            values = {}
            for metric in ("token_acc", "seq_acc"):
                key = f"eval/{eval_set}/{metric}"
                values |= self.each(key, float(rows[metric].mean()), [getattr(by_model[m], metric) for m in self.models])
            self._scalars(values, int(length))

    def each(self, key: str, overall: float, per_model) -> dict[str, float]:
        """`key`: the value over all models, and `key/<model tag>` for each model where a run trains several."""
        per_tag = {f"{key}/{tag}": float(v) for tag, v in zip(self.tags, per_model)}
        return {key: overall, **per_tag} if len(self.tags) > 1 else {key: overall}

    def summary(self, summary: dict[str, Any], step: int) -> None:
        self._scalars({f"summary/{k}": float(summary[k]) for k in SUMMARY_METRICS if k in summary}, step)

    def _params(self, params: dict[str, Any]) -> None:
        pass

    def _scalars(self, values: dict[str, float], step: int) -> None:
        pass

    def _close(self, status: str) -> None:
        pass


class TensorBoardTracker(Tracker):
    def __init__(self, cfg, run_dir: Path) -> None:
        from tensorboardX import SummaryWriter

        super().__init__(cfg)
        root = Path(cfg.logger.dir) if cfg.logger.dir else run_dir.parent / "tensorboard"
        self.logdir = root / run_dir.name
        self.writer = SummaryWriter(logdir=str(self.logdir), flush_secs=30)

    def _params(self, params: dict[str, Any]) -> None:
        from tensorboardX.summary import hparams

        plain = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
        for summary in hparams(plain, {"summary/mean_test_token_acc": float("nan")}):
            self.writer.file_writer.add_summary(summary)
        text = "\n".join(f"    {k}: {v}" for k, v in params.items())
        self.writer.add_text("config", text, 0)

    def _scalars(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def _close(self, status: str) -> None:
        self.writer.add_text("status", status, 0)
        self.writer.close()


class MlflowTracker(Tracker):
    def __init__(self, cfg, run_dir: Path) -> None:
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its store's table-creation lines are noise here
        super().__init__(cfg)
        self.uri = tracking_uri(cfg.logger.tracking_uri, run_dir)
        if self.uri.startswith("file:") or "://" not in self.uri and ":" not in self.uri[:2]:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # asked for by name: MLflow 3 refuses it otherwise
        with store_lock(self.uri):  # parallel jobs would otherwise race to create the tables and the experiment
            self.client = MlflowClient(tracking_uri=self.uri)
            experiment_id = self.experiment(cfg.logger.experiment)
            where = str(run_dir.resolve())
            unfinished = self.client.search_runs([experiment_id], filter_string=f"tags.run_dir = '{where}'",
                                                 order_by=["attributes.start_time DESC"], max_results=1)
            if unfinished and unfinished[0].info.status != "FINISHED":
                self.run_id = unfinished[0].info.run_id
                self.client.update_run(self.run_id, status="RUNNING")
            else:
                tags = {"run_dir": where, "task": cfg.task["name"], "position": cfg.position["name"],
                        "model": cfg.model.kind}
                self.run_id = self.client.create_run(experiment_id, run_name=run_dir.name, tags=tags).info.run_id
        self.pending: list = []

    def experiment(self, name: str) -> str:
        """The experiment's id, created if missing (a parallel job may create it first)."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(name)
            except Exception:
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        return found.experiment_id

    def _params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        with store_lock(self.uri):
            logged = self.client.get_run(self.run_id).data.params
            fresh = [Param(k, str(v)) for k, v in params.items() if k not in logged]
            for i in range(0, len(fresh), 100):
                self.client.log_batch(self.run_id, params=fresh[i:i + 100])

    def _scalars(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(k, v, now, step) for k, v in values.items()]
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        with store_lock(self.uri):
            for i in range(0, len(self.pending), BATCH):
                self.client.log_batch(self.run_id, metrics=self.pending[i:i + BATCH])
        self.pending = []

    def _close(self, status: str) -> None:
        self.flush()
        with store_lock(self.uri):
            self.client.set_terminated(self.run_id, status=status)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive file lock beside a local store (SQLite file or `file:` folder); none for a server."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///")).with_suffix(".lock")
    elif uri.startswith("file:") or "://" not in uri:
        path = Path(uri.removeprefix("file://").removeprefix("file:")) / ".lock"
    else:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:  # closing the file releases the lock
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def tracking_uri(configured: str, run_dir: Path) -> str:
    """`logger.tracking_uri`, or the SQLite file mlflow.db beside the run directory."""
    return configured or f"sqlite:///{(run_dir.parent / 'mlflow.db').resolve()}"


def open_tracker(cfg, run_dir: Path) -> Tracker:
    """The tracker `cfg.logger` names; ConfigError (one line) if its store cannot be opened."""
    kind = cfg.logger.kind
    check(kind)
    backend = {"tensorboard": TensorBoardTracker, "mlflow": MlflowTracker}.get(kind)
    if backend is None:
        return Tracker(cfg)
    try:
        return backend(cfg, Path(run_dir))
    except Exception as exc:
        where = cfg.logger.dir if kind == "tensorboard" else tracking_uri(cfg.logger.tracking_uri, Path(run_dir))
        raise ConfigError(f"logger={kind}: cannot open '{where}': {one_line(exc)}") from exc


@contextlib.contextmanager
def tracking(cfg, run_dir: Path) -> Iterator[Tracker]:
    """The run's tracker with its configuration logged; closed FINISHED, FAILED or KILLED."""
    tracker = open_tracker(cfg, run_dir)
    status = "FAILED"
    try:
        tracker.config(cfg)
        yield tracker
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker._close(status)
