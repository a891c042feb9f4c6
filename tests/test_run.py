"""One run's orchestration (`lengthgen.run`): a finished run is reused only by its own
configuration, overwrite=true discards what a run left, and any error once a run has started
leaves failed.json."""

from __future__ import annotations

import json

import pytest

from lengthgen.config import fingerprint
from lengthgen.errors import ConfigError
from lengthgen.results import CHECKPOINT, PARAMS, write_json
from lengthgen.run import discard, run, versions
from lengthgen.train import FAILED


def test_finished_run_is_not_redone_and_leftovers_are_cleared(tmp_path, tiny):
    write_json(tmp_path / "summary.json", {"mean_test_token_acc": 0.5, "config": fingerprint(tiny())})
    for name in (CHECKPOINT, FAILED, ".curve.csv.abc123.tmp"):
        (tmp_path / name).write_bytes(b"left over")
    assert run(tiny(), tmp_path)["mean_test_token_acc"] == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


@pytest.mark.parametrize("change, named", [
    ({"task": {"name": "copy"}}, "task.name: 'reverse_string' there, 'copy' now"),
    ({"position": {"name": "alibi"}}, "position.name: 'rope' there, 'alibi' now"),
    ({"steps": 40}, "train.steps: 20 there, 40 now"),
    ({"seed": 3}, "seed: 0 there, 3 now"),
    ({"m": 9}, "eval.max_length: 8 there, 9 now"),
])
def test_finished_run_of_another_configuration_is_refused(tmp_path, tiny, change, named):
    """Relaunching into a finished run's directory with other settings names what differs and keeps
    the old results (the trap: it used to print "run already finished" and keep them silently)."""
    write_json(tmp_path / "summary.json", {"mean_test_token_acc": 0.5, "config": fingerprint(tiny())})
    with pytest.raises(ConfigError, match="holds a finished run of another configuration") as info:
        run(tiny(**change), tmp_path, files={"config.yaml": "new\n"})
    assert named in str(info.value) and "overwrite=true" in str(info.value)
    assert json.loads((tmp_path / "summary.json").read_text())["mean_test_token_acc"] == 0.5
    assert not (tmp_path / "config.yaml").exists()


@pytest.mark.parametrize("change", [{"progress": True}, {"xla_threads": 1}, {"memory_gb": 8.0}])
def test_settings_that_change_no_result_reuse_the_finished_run(tmp_path, tiny, change):
    write_json(tmp_path / "summary.json", {"mean_test_token_acc": 0.5, "config": fingerprint(tiny())})
    assert run(tiny(**change), tmp_path)["mean_test_token_acc"] == 0.5


def test_summary_without_a_configuration_is_not_reused(tmp_path, tiny):
    write_json(tmp_path / "summary.json", {"mean_test_token_acc": 0.5})
    with pytest.raises(ConfigError, match="records no configuration"):
        run(tiny(), tmp_path)


def test_overwrite_discards_results_and_keeps_other_files(tmp_path):
    for name in ("summary.json", "curve.csv", "curve.png", PARAMS, CHECKPOINT, FAILED, "attention_L8.npz", "notes.txt"):
        (tmp_path / name).write_text("old")
    discard(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_error_after_the_start_leaves_failed_json_naming_it(tmp_path, tiny, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full\nsecond line")

    monkeypatch.setattr("lengthgen.run.train_and_evaluate", broken)
    with pytest.raises(RuntimeError):
        run(tiny(), tmp_path, files={"config.yaml": "x: 1\n"})
    failed = json.loads((tmp_path / FAILED).read_text())
    assert failed["error"] == "RuntimeError" and failed["reason"].startswith("RuntimeError: disk full")
    assert "\n" not in failed["reason"] and failed["checkpoint"] is False
    assert (tmp_path / "config.yaml").read_text() == "x: 1\n" and not (tmp_path / "summary.json").exists()


def test_versions_name_the_installed_packages():
    found = versions()
    assert {"python", "lengthgen", "jax", "flax", "numpy"} <= set(found)
    assert all(isinstance(v, str) and v[0].isdigit() for v in found.values())
