"""Every scheme trains end to end at toy size (encoder and decoder), and bad combinations fail at build time."""

import json

import numpy as np
import pytest
from _position_helpers import ALL, built, task_for

from lengthgen.config import AttentionConfig, EvalConfig, TrainConfig
from lengthgen.errors import ConfigError
from lengthgen.registry import POSITIONS
from lengthgen.run import run

CASES = [(name, model) for name in ALL for model in ("encoder", "decoder")
         if not (model == "encoder" and POSITIONS.get(name).causal_only)]
QUICK = {("linear", "encoder"), ("abacus", "decoder"), ("rerope", "decoder")}


def train_tiny(tiny, tmp_path, name, model, **kw):
    n, m = (2, 4) if task_for(name) == "addition" else (4, 8)
    cfg = tiny(task=task_for(name), position=name, model=model, n=n, m=m,
               train=TrainConfig(max_length=n, steps=10, batch_size=8, chunk_steps=10, warmup_steps=2),
               eval=EvalConfig(max_length=m, samples_per_length=8, batch_size=8), **kw)
    summary = run(cfg, tmp_path)
    assert summary["position"] == name and summary["steps"] == 10
    assert 0.0 <= summary["mean_test_token_acc"] <= 1.0
    assert json.loads((tmp_path / "summary.json").read_text())["position"] == name
    return summary


@pytest.mark.parametrize("name,model", [pytest.param(*case, marks=[] if case in QUICK else [pytest.mark.slow])
                                        for case in CASES])
def test_scheme_trains_end_to_end(tiny, tmp_path, name, model):
    summary = train_tiny(tiny, tmp_path, name, model)
    if POSITIONS.get(name).diagnostics is not None:
        cross = summary["diagnostics"]["linear_qk_position_cross"]
        assert set(cross) == {"block_0"} and len(cross["block_0"]) == 2
        assert all(np.isfinite(v) and v >= 0 for v in cross["block_0"])


def test_attention_variants_train_end_to_end(tiny, tmp_path):
    attention = AttentionConfig(kind="relu", logit_scale="qwen", entropy_penalty=0.01, rowsum_penalty=0.1)
    train_tiny(tiny, tmp_path, "kerple_log", "decoder", attention=attention)


@pytest.mark.slow
@pytest.mark.parametrize("attention", [AttentionConfig(logit_scale="logn"), AttentionConfig(entropy_penalty=0.1),
                                       AttentionConfig(kind="relu", rowsum_penalty=0.1)])
def test_more_attention_variants_train_end_to_end(tiny, tmp_path, attention):
    train_tiny(tiny, tmp_path, "rope", "encoder", attention=attention)


@pytest.mark.parametrize("name,options,model,match", [
    ("rerope", {}, "encoder", "position 'rerope' is defined for causal models only"),
    ("leaky_rerope", {}, "encoder", "position 'leaky_rerope' is defined for causal models only"),
    ("dual_chunk", {}, "encoder", "position 'dual_chunk' is defined for causal models only"),
    ("learned", {"max_len": 12}, "encoder", r"max_len 12 is below the longest sequence \(16 slots"),
    ("randomized_rope", {"max_len": 10}, "decoder", "max_len 10 is below the longest sequence"),
    ("random_padding", {"max_len": 20, "max_offset": 16}, "encoder", r"largest train position \+ 1 \(8 \+ max_offset 16"),
    ("abacus", {"max_len": 40, "max_offset": 99}, "decoder", "raise position.max_len or lower position.max_offset"),
    ("rerope", {"window": -1}, "decoder", "window must be >= 0"),
    ("leaky_rerope", {"slope": 0.5}, "decoder", "slope k must be >= 1"),
    ("dual_chunk", {"chunk_size": 20, "train_length": 10}, "decoder", r"chunk_size \(20\) must be <= train_length"),
    ("sandwich", {"dim": 7}, "decoder", "dim must be even"),
])
def test_bad_combinations_are_one_line_config_errors(name, options, model, match):
    with pytest.raises(ConfigError, match=match) as info:
        built(name, model, position_options=options)
    assert "\n" not in str(info.value)
