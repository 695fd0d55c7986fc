"""The example configs load, and the model's dialect is checked when a config is read."""

from pathlib import Path

import pytest

from step_envs.actions import DIALECTS
from step_train.config import load_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.[ty]*ml"))


def test_there_are_example_configs_for_qwen2vl_qwen25vl_and_uitars():
    dialects = {load_config(path).model.dialect for path in CONFIGS}
    assert {"qwen2vl", "qwen25vl", "uitars"} <= dialects


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_loads(path):
    config = load_config(path, ["model.path=/models/x"])
    assert config.model.dialect in DIALECTS
    assert config.resolved().sampling.history == config.algo.history


def test_an_unknown_dialect_or_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown dialect 'gpt'; known: pyautogui, computer_13, qwen2vl"):
        load_config(None, ["model.dialect=gpt"])
    with pytest.raises(ValueError, match="unknown key.*coordinates.*known:.*max_new_tokens"):
        load_config(None, ["sampling.coordinates=relative"])


def test_overrides_read_exponent_floats_as_numbers():
    config = load_config(None, ["optim.lr=5e-4", "sft.lr=1E-3", "run_dir=1e3x"])
    assert config.optim.lr == 5e-4 and config.sft.lr == 1e-3 and config.run_dir == "1e3x"


def test_a_yaml_file_may_write_floats_without_a_dot(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 5e-4\n")
    assert load_config(path).optim.lr == 5e-4
