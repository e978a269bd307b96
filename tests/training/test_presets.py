"""``--preset``: a named recipe under the flags given, recorded in config.json; ``tune --preset`` searches around it."""

import argparse
import json

import pytest

from p7keras.cli.main import main
from p7keras.training.config import TrainConfig, add_train_arguments, train_settings
from p7keras.training.presets import PRESETS, describe, preset_settings

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


def _settings(*flags):
    parser = argparse.ArgumentParser()
    add_train_arguments(parser, unset=True)
    return train_settings(parser.parse_args(list(flags)))


def test_preset_fills_what_the_flags_leave_and_the_flags_win():
    settings = _settings("--preset", "real-text", "--epochs", "2", "--d-model", "64")
    assert settings["preset"] == "real-text" and settings["epochs"] == 2 and settings["d_model"] == 64
    for field, value in PRESETS["real-text"].items():
        if field not in ("epochs", "d_model"):
            assert settings[field] == value, field
    config = TrainConfig(**settings)
    config.check()
    assert config.to_dict()["preset"] == "real-text"
    assert _settings("--epochs", "2") == {"epochs": 2}  # no preset: only the flags given
    with pytest.raises(ValueError, match="preset must be one of"):
        preset_settings("nope", {})
    with pytest.raises(ValueError, match="preset must be one of"):
        TrainConfig(preset="nope").check()


def test_every_preset_names_only_fields_and_passes_the_checks():
    for name, values in PRESETS.items():
        assert set(values) <= set(TrainConfig.__dataclass_fields__), name
        TrainConfig(**preset_settings(name, {})).check()
        assert describe(name).startswith(f"preset {name}: ")


def test_train_with_the_preset_prints_and_records_it(tmp_path, capsys, backend):
    flags = ["train", "--preset", "real-text", "--num-articles", "24", "--chunks-per-article", "10", "--dim", "16",
             "--d-model", "16", "--epochs", "2", "--batch-size", "32", "--negative-queue", "64", "--no-export",
             "--output-dir", str(tmp_path), "--backend", backend]
    assert main(flags) in (0, 1)
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("preset real-text: model_type=flat")
    (run,) = tmp_path.glob("p7_*")
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "real-text" and config["negative_queue"] == 64 and config["d_model"] == 16
    assert config["head"] == "residual" and config["context_negatives"] == "older"
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["best_by"] == "val_R@5"


def test_tune_with_the_preset_searches_its_grid_on_top_of_it():
    from tuner.arguments import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(["--preset", "real-text", "--epochs", "3"]))
    assert config.grid == "real-text" and config.train["epochs"] == 3 and config.train["head"] == "residual"
    assert "learning_rate" not in config.train and "temperature" not in config.train  # the grid's to search
    config.check()
    explicit = config_from_args(parser.parse_args(["--preset", "real-text", "--temperature", "0.1"]))
    with pytest.raises(ValueError, match="--temperature is set by grid real-text"):
        explicit.check()
    other = config_from_args(parser.parse_args(["--preset", "real-text", "--grid", "priority1"]))
    assert other.grid == "priority1" and other.train["temperature"] == PRESETS["real-text"]["temperature"]
