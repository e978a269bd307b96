"""``preflight(config)``: the one pre-run check, called once by ``train()``, each failure one line."""

import importlib
import importlib.util

import keras
import pytest

from p7keras.training import TrainConfig
from p7keras.training.preflight import preflight

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

# The modules (``p7keras.training.train`` is also the name of the function the package exports).
preflight_module = importlib.import_module("p7keras.training.preflight")
machine_module = importlib.import_module("p7keras.machine")
train_module = importlib.import_module("p7keras.training.train")

TINY = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "batch_size": 8, "context_length": 4,
        "num_articles": 20, "chunks_per_article": 12, "dim": 16}


def test_train_runs_preflight_once_and_checks_its_settings_once(tmp_path, monkeypatch):
    calls = []
    real_check = TrainConfig.check
    monkeypatch.setattr(train_module, "preflight", lambda config: (calls.append("preflight"), preflight(config)))
    monkeypatch.setattr(TrainConfig, "check", lambda self: (calls.append("check"), real_check(self)))
    result = train_module.train(TrainConfig(**TINY, epochs=1, export=False, output_dir=str(tmp_path)), stream=None)
    assert calls == ["preflight", "check"]
    assert result.history["epoch"] == [1.0]


def _one_line(config: TrainConfig) -> str:
    with pytest.raises(ValueError) as error:
        preflight(config)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_impossible_settings_are_one_line():
    assert _one_line(TrainConfig(epochs=0)) == "epochs must be >= 1, got 0"


def test_export_without_tensorflow_is_one_line(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    assert _one_line(TrainConfig()) == ("the SavedModel export needs TensorFlow, which is not installed here: "
                                        "install it or pass --no-export")
    preflight(TrainConfig(export=False))  # --no-export: nothing to refuse


def test_another_backend_than_the_running_one_is_one_line():
    running = keras.backend.backend()
    other = "jax" if running != "jax" else "tensorflow"
    assert _one_line(TrainConfig(backend=other)) == (
        f"backend '{other}' requested but Keras is already running on '{running}'; set KERAS_BACKEND={other} "
        "before importing keras (the p7keras command does this)")


def test_an_absent_device_is_one_line(monkeypatch):
    """The backend's answer (after the cheap check of ``preflight`` let the device through)."""
    monkeypatch.setattr(preflight_module, "_accelerators", lambda backend: set())
    with pytest.raises(ValueError) as error:
        preflight_module.check_device("gpu")
    assert str(error.value) == (
        f"--device gpu requested, but the {keras.backend.backend()} backend finds no GPU (accelerators found: none)")
    monkeypatch.setattr(preflight_module, "_accelerators", lambda backend: {"metal"})
    with pytest.raises(ValueError, match=r"\(accelerators found: metal\)$"):
        preflight_module.check_device("gpu")


def test_preflight_refuses_a_device_certainly_absent_without_asking_the_backend(monkeypatch):
    monkeypatch.setattr(preflight_module.sys, "platform", "linux")
    monkeypatch.setattr(machine_module.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(preflight_module, "_accelerators", lambda backend: pytest.fail("the backend was asked"))
    assert _one_line(TrainConfig(device="gpu")) == ("--device gpu requested, but this machine has no GPU device "
                                                    "(no /dev/nvidia*, /dev/kfd or /dev/dxg)")


def test_train_asks_the_backend_for_the_device_after_reading_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight_module.sys, "platform", "linux")
    monkeypatch.setattr(machine_module.glob, "glob", lambda pattern: ["/dev/nvidia0"])  # a GPU may be there
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    calls = []

    def no_gpu(device):
        calls.append(device)
        raise ValueError("no GPU")

    monkeypatch.setattr(train_module, "load_data", lambda config, stream=None: calls.append("data"))
    monkeypatch.setattr(train_module, "check_device", no_gpu)
    with pytest.raises(ValueError, match="no GPU"):
        train_module.train(TrainConfig(**TINY, device="gpu", export=False, output_dir=str(tmp_path)))
    assert calls == ["data", "gpu"] and list(tmp_path.iterdir()) == []
