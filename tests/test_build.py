"""build(): cross-object rules between task, model and position scheme."""

import pytest
from conftest import tiny_config
from hydra import compose, initialize_config_dir

from lengthgen.app import CONFIG_DIR, register_configs
from lengthgen.build import build
from lengthgen.errors import ConfigError


@pytest.mark.parametrize("position", ["rope", "alibi", "randomized_rope"])
def test_a_model_without_positions_refuses_a_scheme(position):
    """An LSTM would silently ignore the scheme and be labelled with it in every table."""
    with pytest.raises(ConfigError, match=f"model 'lstm' reads no positions, so position '{position}' would be ignored"):
        build(tiny_config(model="lstm", position=position))
    assert build(tiny_config(model="lstm", position="none")).position.name == "none"


def test_choosing_the_lstm_selects_no_position_scheme():
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        assert compose("config", overrides=["model=lstm"]).position.name == "none"
        assert compose("config", overrides=["model=lstm", "position=rope"]).position.name == "rope"
        assert compose("config", overrides=[]).position.name == "rope"
