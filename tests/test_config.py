"""`lengthgen.config`: building frozen configs from Hydra dicts, validation, and what a result depends on."""

import dataclasses
import re

import pytest

from lengthgen.config import NOT_RESULTS, AttentionConfig, RunConfig, TrainConfig, differences, fingerprint, listed, validate
from lengthgen.errors import ConfigError


def test_from_dict_builds_sections_and_coerces_types():
    """A partial dict keeps the other defaults; tuple fields stay tuples."""
    cfg = RunConfig.from_dict({"hydra": {"ignored": 1}, "task": {"name": "copy", "alphabet": 3},
                               "train": {"lrs": [0.001, 0.003], "max_length": 6}, "eval": {"attention_lengths": [7]},
                               "logger": {"kind": "none"}, "seed": 4})
    assert cfg.task == {"name": "copy", "alphabet": 3} and cfg.train.max_length == 6 and cfg.seed == 4
    assert cfg.train.lrs == (0.001, 0.003) and cfg.eval.attention_lengths == (7,)
    assert cfg.models == [(0.001, 4), (0.003, 4)]


@pytest.mark.parametrize("raw, message", [
    ({"trian": {}}, "unknown config key 'trian'; valid: task, position, model"),
    ({"train": {"stpes": 3}}, "unknown config key 'train.stpes'; valid: max_length, min_length, steps"),
    ({"train": 3}, "int is not a subclass of TrainConfig. value: 3"),
    ({"train": {"steps": "abc"}}, "train.steps: Value 'abc' of type 'str' could not be converted to Integer"),
    ({"progress": "maybe"}, "progress: Value 'maybe' is not a valid bool"),
])
def test_from_dict_names_the_bad_key(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        RunConfig.from_dict(raw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    ({"train": TrainConfig(max_length=0)}, "train.max_length must be >= 1, got 0"),
    ({"train": TrainConfig(lr=-1.0)}, "train.lr must be a finite number > 0, got -1.0"),
    ({"train": TrainConfig(max_length=48)}, r"eval.max_length \(48\) must be > train.max_length \(48\)"),
    ({"train": TrainConfig(schedule="linear")}, "train.schedule: unknown value 'linear'; valid: constant, cosine"),
    ({"train": TrainConfig(lrs=(0.1, 0.1))}, r"train.lrs must not repeat a value, got \[0.1, 0.1\]"),
    ({"memory_gb": -1.0}, "memory_gb must be >= 0"),
    ({"attention": AttentionConfig(kind="sigmoid")}, "attention.kind: unknown value 'sigmoid'; valid: softmax, relu"),
    ({"attention": AttentionConfig(entropy_penalty=-0.1)}, "attention.entropy_penalty must be >= 0, got -0.1"),
])
def test_validate_rejects_with_one_line(change, message):
    cfg = dataclasses.replace(RunConfig(), **change)
    with pytest.raises(ConfigError, match=message) as info:
        validate(cfg)
    assert "\n" not in str(info.value)


def test_defaults_are_valid():
    validate(RunConfig())


def test_fingerprint_drops_what_changes_no_result():
    base = fingerprint(RunConfig())
    for key in NOT_RESULTS:
        section, _, leaf = key.rpartition(".")
        assert leaf not in (base.get(section, {}) if section else base), key
    shown = dataclasses.replace(RunConfig(), progress=False, xla_threads=1, overwrite=True)
    assert fingerprint(shown) == base
    assert "eval" not in fingerprint(RunConfig(), with_eval=False)
    other = dataclasses.replace(RunConfig(), train=TrainConfig(steps=5))
    assert differences(base, fingerprint(other)) == ["train.steps: 1000 there, 5 now"]


def test_listed_shows_three_and_counts_the_rest():
    assert listed(["a", "b"]) == "a; b"
    assert listed(list("abcde")) == "a; b; c; and 2 more"
