"""Launchers (basic, joblib, submitit, Ray): the Slurm preset, thread caps, and fault isolation and
resume on real engines. The sweeps are tiny real runs of `lengthgen-train`, marked slow."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from conftest import ROOT, run_cli
from lengthgen import app
from lengthgen.collect import unfinished_runs
from lengthgen.config import TrainConfig
from lengthgen.report import failed_runs
from lengthgen.results import CHECKPOINT
from lengthgen.run import run
from lengthgen.train import FAILED

TINY = ["model.layers=1", "model.d_model=16", "model.heads=2", "model.mlp_dim=32", "train.steps=20",
        "train.chunk_steps=10", "train.checkpoint_every=10", "train.batch_size=8", "train.warmup_steps=5",
        "train.buckets=1", "train.max_length=3", "eval.max_length=5", "eval.samples_per_length=4", "eval.buckets=1",
        "progress=false"]
# Job 0 trains, job 1 blows up (NaN), job 2 is killed after its first checkpoint when asked to.
LRS = "train.lr=0.001,1e30,0.002"
KILL = ["+hydra.callbacks.kill._target_=launch_faults.KillAfterFirstCheckpoint", "+hydra.callbacks.kill.lr=0.002"]
LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "submitit_local": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    # A Ray instance of 2 CPUs that the launcher starts and stops, on the loopback address only.
    "ray": ["hydra/launcher=ray", "+hydra.launcher.ray.remote.num_cpus=1", "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init._node_ip_address=127.0.0.1", "+hydra.launcher.ray.init.include_dashboard=false"],
}
HAS_RAY = importlib.util.find_spec("ray") is not None and importlib.util.find_spec("hydra_plugins.hydra_ray_launcher")


def composed(*overrides: str):
    app.register_configs()
    with initialize_config_dir(config_dir=app.CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_slurm_preset_makes_an_sbatch_script_with_its_resources_and_setup(tmp_path, monkeypatch):
    """The preset through the plugin's own launch, stopped at submission: the script sbatch would get."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

    fake_srun = tmp_path / "bin" / "srun"  # submitit looks for srun before it builds a Slurm executor
    fake_srun.parent.mkdir()
    fake_srun.write_text("#!/bin/sh\nexit 1\n")
    fake_srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_srun.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("LENGTHGEN_CACHE_DIR", "/shared/xla")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    cfg = composed("hydra/launcher=slurm", "hydra.launcher.partition=gpu", f"hydra.sweep.dir={tmp_path}")
    launcher = SlurmLauncher(**{k: v for k, v in cfg.hydra.launcher.items() if k != "_target_"})
    launcher.config = cfg
    seen = {}

    def capture(executor, *args):
        seen["script"] = executor._executor._make_submission_file_text("python -m submitit.core._submit", "u1")
        seen["timeouts"] = executor._executor.max_num_timeout
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", capture)
    launcher.launch([["seed=0"]], initial_job_idx=0)
    script = seen["script"]
    for line in ("#SBATCH --partition=gpu", "#SBATCH --cpus-per-task=4", "#SBATCH --time=240",
                 "#SBATCH --signal=USR2@120", "#SBATCH --mem=16GB", "export LENGTHGEN_CACHE_DIR=/shared/xla",
                 'export XLA_FLAGS="--xla_force_host_platform_device_count=2"'):
        assert line in script, script
    assert seen["timeouts"] == 3


def test_a_bad_launcher_is_one_line_naming_the_choices(tmp_path):
    result = run_cli("lengthgen-train", "-m", "hydra/launcher=slurmm", "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    prefix = "lengthgen-train: error: unknown hydra/launcher 'slurmm'; valid: "
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith(prefix), result.stderr
    valid = result.stderr.strip().removeprefix(prefix).split(", ")
    assert {"basic", "joblib", "slurm", "submitit_local", "submitit_slurm"} <= set(valid)
    assert ("ray" in valid) == bool(HAS_RAY)


@pytest.mark.parametrize("overrides, threads", [
    ([], 0),
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], None),
    (["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=1"], 1),
    (["hydra/launcher=submitit_local"], 0),
    (["hydra/launcher=slurm"], 0),
])
def test_threads_per_job_follow_the_launcher(overrides, threads):
    cores = len(os.sched_getaffinity(0))
    HydraConfig.instance().set_config(composed(*overrides))
    try:
        assert app.worker_threads(0) == (max(1, cores // 2) if threads is None else threads)
        assert app.worker_threads(3) == 3
    finally:
        HydraConfig.instance().cfg = None


def test_an_error_after_training_marks_the_run_failed_and_a_relaunch_resumes(tmp_path, tiny, monkeypatch, caplog):
    cfg = tiny(train=TrainConfig(max_length=4, steps=20, batch_size=8, chunk_steps=10, warmup_steps=5, buckets=1,
                                 checkpoint_every=10))

    def broken(built):
        raise OSError("No space left on device")

    monkeypatch.setattr("lengthgen.run.eval_plan", broken)
    with pytest.raises(OSError):
        run(cfg, tmp_path)
    failed = json.loads((tmp_path / FAILED).read_text())
    assert failed["reason"] == "OSError: No space left on device" and failed["checkpoint"] is True
    assert failed_runs(tmp_path) == [(".", "OSError: No space left on device")]
    monkeypatch.undo()
    with caplog.at_level(logging.INFO, logger="lengthgen"):
        run(cfg, tmp_path)
    assert "resumed from step 20" in caplog.text and "retrying a failed run" in caplog.text
    assert not (tmp_path / FAILED).exists() and not (tmp_path / CHECKPOINT).exists()


def test_collect_lists_failed_and_unfinished_runs_apart(tmp_path):
    for name, files in {"done": ["config.yaml", "summary.json"], "nan": ["config.yaml", FAILED],
                        "cut": ["config.yaml", CHECKPOINT], "fresh": ["config.yaml"]}.items():
        for f in files:
            (tmp_path / name / ".hydra").mkdir(parents=True, exist_ok=True)
            (tmp_path / name / ".hydra" / "config.yaml").write_text("x: 1\n")
            (tmp_path / name / f).write_text(json.dumps({"reason": "non-finite loss (nan) at step 3 of seed 0"}))
    assert unfinished_runs(tmp_path) == [("cut", True), ("fresh", False)]
    assert failed_runs(tmp_path) == [("nan", "non-finite loss (nan) at step 3 of seed 0")]


def sweep_dirs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())


@pytest.mark.slow
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_failed_and_a_killed_run_leave_the_others_and_a_relaunch_resumes(launcher, tmp_path):
    """Job 1 diverges (NaN) and job 2 is SIGKILLed after its first checkpoint. The failure is
    marked with its reason, the other runs go on; relaunching skips the finished run, resumes the
    killed one from step 10 and retries the failed one; collect lists it apart."""
    if launcher == "ray" and not HAS_RAY:
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    sweep = tmp_path / "sweep"
    env = {"PYTHONPATH": str(ROOT / "tests"), "RAY_USAGE_STATS_ENABLED": "0"}
    args = ["-m", LRS, *TINY, *LAUNCHERS[launcher], f"hydra.sweep.dir={sweep}"]
    first = run_cli("lengthgen-train", *args, *KILL, env=env)
    assert first.returncode != 0, first.stdout[-3000:]
    ok, nan, killed = sweep_dirs(sweep)
    reason = json.loads((nan / FAILED).read_text())["reason"]
    assert reason.startswith("non-finite loss") and not (nan / "summary.json").exists()
    assert (killed / "summary.json").exists() or (killed / CHECKPOINT).exists(), list(killed.iterdir())
    finished_before = (ok / "summary.json").stat().st_mtime_ns if (ok / "summary.json").exists() else None

    again = run_cli("lengthgen-train", *args, env=env)
    lines = [line for line in again.stderr.splitlines() if line.startswith("lengthgen-train: error:")]
    assert again.returncode == 1 and len(lines) == 1 and nan.name in lines[0] and "non-finite loss" in lines[0], \
        again.stderr[-3000:]
    assert (ok / "summary.json").exists() and (killed / "summary.json").exists()
    assert "resumed from step 10" in (killed / "run.log").read_text()
    if finished_before is not None:
        assert (ok / "summary.json").stat().st_mtime_ns == finished_before
        assert "run already finished" in (ok / "run.log").read_text()
    assert not (killed / CHECKPOINT).exists() and (nan / FAILED).exists()

    collected = run_cli("lengthgen", "collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    assert f"failed: {nan.name}: non-finite loss" in collected.stdout and "unfinished" not in collected.stdout
    assert collected.stdout.startswith("2 runs x seeds"), collected.stdout


@pytest.mark.slow
def test_submitit_local_time_limit_requeues_resumes_then_marks_the_run_failed(tmp_path):
    """A local executor with a 1-minute limit (submitit signals 30 s before it) and one requeue: the long
    run is signalled, requeued (resuming from its checkpoint), signalled again and marked failed; the
    short run of the same sweep finishes."""
    conf = tmp_path / "conf" / "hydra" / "launcher"
    conf.mkdir(parents=True)
    (conf / "limited.yaml").write_text(
        "_target_: hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher\n"
        "submitit_folder: ${hydra.sweep.dir}/.submitit/%j\n"
        "timeout_min: 1\nmax_num_timeout: 1\nname: ${hydra.job.name}\n")
    sweep = tmp_path / "sweep"
    result = run_cli("lengthgen-train", "--config-dir", str(tmp_path / "conf"), "-m", "hydra/launcher=limited",
                     "train.steps=20,1000000", *[a for a in TINY if not a.startswith("train.steps")],
                     f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    short, long = sweep_dirs(sweep)
    assert (short / "summary.json").exists()
    failed = json.loads((long / FAILED).read_text())
    assert "timed-out too many times" in failed["reason"] and failed["checkpoint"] is True, failed
    assert "resumed from step" in (long / "run.log").read_text()
