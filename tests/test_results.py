"""Files a run writes (`lengthgen.results`): atomic writes, temp-file cleanup, checkpoints and
final parameters read back with every shape checked."""

from __future__ import annotations

import json
import os
import stat

import jax
import numpy as np
import pytest
from flax import serialization

from lengthgen.errors import ConfigError
from lengthgen.results import (CHECKPOINT, PARAMS, read_checkpoint, read_params, remove_temp_files, restore_state,
                               save_checkpoint, save_params, write_bytes, write_json)

STATE = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, np.float32)},
         "step": np.array([7], np.int32)}


def template(state):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), state)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_bytes(target, b"old")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bytes(target, b"new and longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_remove_temp_files_only_touches_writer_temps(tmp_path):
    for name in (".curve.csv.x1.tmp", ".checkpoint.msgpack.x2.tmp", "notes.tmp", ".hidden", "curve.csv"):
        (tmp_path / name).write_text("x")
    removed = sorted(p.name for p in remove_temp_files(tmp_path))
    assert removed == [".checkpoint.msgpack.x2.tmp", ".curve.csv.x1.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "curve.csv", "notes.tmp"]


def test_written_files_are_world_readable_and_json_is_sorted(tmp_path):
    write_json(tmp_path / "sub" / "summary.json", {"b": 1, "a": np.float32(0.5)})
    path = tmp_path / "sub" / "summary.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    text = path.read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"') and json.loads(text) == {"a": "0.5", "b": 1}


def test_checkpoint_round_trip_restores_every_array(tmp_path):
    save_checkpoint(tmp_path, STATE, {"config": "{}"})
    raw = read_checkpoint(tmp_path)
    assert raw["meta"] == {"config": "{}"}
    restored = restore_state(template(STATE), raw["state"])
    for want, have in zip(jax.tree.leaves(STATE), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(have), want)
        assert np.asarray(have).dtype == want.dtype


def test_no_checkpoint_reads_as_none(tmp_path):
    assert read_checkpoint(tmp_path) is None


def test_checkpoint_without_meta_is_unreadable(tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(serialization.msgpack_serialize({"state": {"step": np.zeros(1)}}))
    with pytest.raises(ConfigError, match="missing 'state' or 'meta'.*delete it to restart the run"):
        read_checkpoint(tmp_path)


@pytest.mark.parametrize("change, message", [
    (lambda s: {**s, "params": {**s["params"], "w": np.zeros((3, 3), np.float32)}}, r"\['params'\]\['w'\] has shape \(3, 3\)"),
    (lambda s: {**s, "step": np.array([7], np.int64)}, r"\['step'\] has shape \(1,\) int64"),
    (lambda s: {"params": s["params"]}, "does not match this run's model"),
])
def test_restore_refuses_a_state_of_another_shape(change, message):
    with pytest.raises(ConfigError, match=message):
        restore_state(template(STATE), change(STATE))


def test_final_params_round_trip_and_missing_params_is_one_line(tmp_path):
    save_params(tmp_path, STATE["params"])
    restored = read_params(tmp_path, template(STATE["params"]))
    np.testing.assert_array_equal(np.asarray(restored["w"]), STATE["params"]["w"])
    with pytest.raises(ConfigError, match=f"has no {PARAMS}: it is not a finished run"):
        read_params(tmp_path / "other", template(STATE["params"]))
    (tmp_path / PARAMS).write_bytes(b"\xc1")
    with pytest.raises(ConfigError, match="is unreadable"):
        read_params(tmp_path, template(STATE["params"]))
