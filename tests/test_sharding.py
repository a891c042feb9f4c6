"""Data parallelism (`lengthgen.sharding`): a run spread over forced CPU devices gives the
single-device results up to float rounding; a mesh the run or the machine cannot have is one line."""

from __future__ import annotations


import pandas as pd
import pytest

from lengthgen.build import build
from lengthgen.config import MeshConfig, TrainConfig
from lengthgen.errors import ConfigError

from conftest import on_devices, tiny_config

TRAIN = TrainConfig(max_length=4, steps=40, batch_size=8, chunk_steps=20, warmup_steps=5, buckets=1, seeds=2)

# Runs in a fresh process: the device count is fixed when JAX starts.
SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import jax
from conftest import tiny_config
from test_sharding import TRAIN
from lengthgen.build import build
from lengthgen.config import MeshConfig
from lengthgen.data import TrainStream
from lengthgen.program import Program
from lengthgen.run import run

root = Path(sys.argv[1])
out = {"devices": jax.device_count()}
for name, mesh in [("one", MeshConfig()), ("data", MeshConfig(data=2)), ("models", MeshConfig(models=2)),
                   ("both", MeshConfig(data=2, models=2))]:
    cfg = tiny_config(train=TRAIN, mesh=mesh)
    out[name] = run(cfg, root / name)
    built = build(cfg)
    program = Program(built)
    stream = TrainStream(built.task, built.layout, built.train_lengths, 1, TRAIN.batch_size, TRAIN.chunk_steps)
    state = program.init(*program.model_inputs(), max(stream.sizes))
    chunk = stream.chunk(cfg.seeds, 0)[1]
    text = program.functions.train_chunk.lower(program.place.models(state), program.place.chunk(chunk)).compile().as_text()
    out[name]["all_reduce"] = "all-reduce" in text
    out[name]["param_devices"] = len(jax.tree.leaves(state.params)[0].sharding.device_set)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    root = tmp_path_factory.mktemp("mesh")
    return root, on_devices(SCRIPT, root)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["data", "models", "both"])
def test_spread_run_matches_one_device(spread, name):
    root, out = spread
    assert out["devices"] == 4
    one, other = out["one"], out[name]
    assert other["devices"]["data"] == (2 if name in ("data", "both") else 1)
    for a, b in zip(one["per_seed"], other["per_seed"]):
        assert (a["lr"], a["seed"]) == (b["lr"], b["seed"])
        assert b["train_loss_last"] == pytest.approx(a["train_loss_last"], rel=1e-4, abs=1e-5)
    curve_one = pd.read_csv(root / "one" / "curve.csv")
    curve_other = pd.read_csv(root / name / "curve.csv")
    assert len(curve_one) == len(curve_other)
    assert (curve_one.token_acc - curve_other.token_acc).abs().max() <= 0.02


@pytest.mark.slow
def test_spread_run_is_partitioned(spread):
    _, out = spread
    assert not out["one"]["all_reduce"] and out["one"]["param_devices"] == 1
    assert out["data"]["all_reduce"], "the batch split over 2 devices sums its gradients across them"
    assert not out["models"]["all_reduce"], "models on different devices never communicate"
    assert out["models"]["param_devices"] == 2 and out["both"]["param_devices"] == 4


@pytest.mark.parametrize("mesh, train, words", [
    (MeshConfig(data=3), TRAIN, ["train.batch_size (8)", "mesh.data (3)"]),
    (MeshConfig(models=3), TRAIN, ["mesh.models (3)", "2 models"]),
    (MeshConfig(data=2), TRAIN, ["needs 2 devices", "1 available", "xla_force_host_platform_device_count"]),
    (MeshConfig(context=4), TRAIN, ["mesh.context = 4", "1 available"]),
])
def test_impossible_mesh_is_one_line(mesh, train, words):
    with pytest.raises(ConfigError) as err:
        build(tiny_config(train=train, mesh=mesh))
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
