"""Every position scheme's options are range-checked when built: a bad value is one ConfigError
line naming the scheme, the option, the value and the valid range."""

from __future__ import annotations

import dataclasses
import math

import pytest

from lengthgen.errors import ConfigError
from lengthgen.registry import POSITIONS
from lengthgen.task import make_options

NAMES = POSITIONS.names()

BAD = [
    ("rope", {"base": -1}, "base must be > 1, got -1.0"),
    ("rope", {"base": 1}, "base must be > 1, got 1.0"),
    ("rope", {"base": math.inf}, "base must be finite and > 1, got inf"),
    ("randomized_rope", {"max_len": 0}, "max_len must be >= 1, got 0"),
    ("rope_pi", {"scale": 0.5}, "scale must be 0 (dynamic) or >= 1, got 0.5"),
    ("rope_ntk", {"scale": -2}, "scale must be 0 (dynamic) or >= 1, got -2.0"),
    ("rope_pi", {"train_length": -1}, "train_length must be >= 0 (0 = the run's training length), got -1"),
    ("rope_yarn", {"beta_slow": 0}, "beta_slow must be > 0, got 0.0"),
    ("rope_yarn", {"beta_fast": 0.5}, "beta_fast must be >= beta_slow (1), got 0.5"),
    ("rope_yarn", {"beta_fast": math.nan}, "beta_fast must be finite, got nan"),
    ("rerope", {"window": -1}, "window must be >= 0 (0 = half the training length), got -1"),
    ("leaky_rerope", {"slope": 0.5}, "slope k must be >= 1 (distances beyond the window grow by 1/k), got 0.5"),
    ("leaky_rerope", {"slope": math.inf}, "slope must be finite, got inf"),
    ("dual_chunk", {"chunk_size": -1}, "chunk_size must be >= 0 (0 = 3/4 of train_length), got -1"),
    ("dual_chunk", {"train_length": -1}, "train_length must be >= 0 (0 = the run's training length), got -1"),
    ("dual_chunk", {"chunk_size": 20, "train_length": 10}, "chunk_size (20) must be <= train_length (10)"),
    ("learned", {"max_len": 0}, "max_len must be >= 1, got 0"),
    ("random_padding", {"max_offset": -1}, "max_offset must be >= 0, got -1"),
    ("random_padding_sinusoidal", {"max_offset": -1}, "max_offset must be >= 0, got -1"),
    ("linear", {"divisor": 0}, "divisor must be > 0, got 0.0"),
    ("abacus", {"max_len": 0}, "max_len must be >= 1, got 0"),
    ("coupled", {"max_offset": -1}, "max_offset must be >= 0, got -1"),
    ("t5", {"num_buckets": 3}, "num_buckets must be >= 4, got 3"),
    ("t5", {"max_distance": 16}, "max_distance must be > num_buckets // 2 (16), got 16"),
    ("randomized_alibi", {"max_len": 0}, "max_len must be >= 1, got 0"),
    ("sandwich", {"dim": 7}, "dim must be even and >= 2, got 7"),
    ("transformer_xl", {"dim": 1}, "dim must be 0 (d_model) or >= 2, got 1"),
    ("fire", {"hidden": 0}, "hidden must be >= 1, got 0"),
    ("fire", {"init_c": 0}, "init_c must be > 0, got 0.0"),
    ("randomized_fire", {"threshold": -1}, "threshold must be >= 0 (0 = the run's training length), got -1.0"),
]


@pytest.mark.parametrize("name", NAMES)
def test_default_options_construct_and_name_their_scheme(name):
    spec = POSITIONS.get(name)
    options = make_options(spec.Options, {}, f"position '{name}'")
    assert getattr(type(options), "scheme", name) == name


@pytest.mark.parametrize("name,values,message", BAD, ids=[f"{n}-{'-'.join(v)}" for n, v, _ in BAD])
def test_bad_option_is_one_line_naming_scheme_option_value_and_range(name, values, message):
    with pytest.raises(ConfigError) as info:
        make_options(POSITIONS.get(name).Options, values, f"position '{name}'")
    assert str(info.value) == f"position '{name}': {message}"


@pytest.mark.parametrize("name", NAMES)
def test_no_option_accepts_nan_or_a_negative_count(name):
    for field in dataclasses.fields(POSITIONS.get(name).Options):
        bad = math.nan if isinstance(field.default, float) else -1
        with pytest.raises(ConfigError, match=f"^position '{name}': {field.name} must be .*, got "):
            make_options(POSITIONS.get(name).Options, {field.name: bad}, f"position '{name}'")
