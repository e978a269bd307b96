"""P7HyperModel: trial settings from the hyperparameters, data re-windowed per K, trial files."""

import io
import json

import keras
import keras_tuner
import pytest

from p7keras.jit_compile import CPU_XLA_ENV

from tuner.hypermodel import P7HyperModel
from tuner.results import FINAL_WEIGHTS, TRIAL_FILE
from tuner.spaces import get_space
from tuner.windows import WindowCache

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend



def _hypermodel(base, grid="priority1", objective="val_margin"):
    return P7HyperModel(get_space(grid), base, WindowCache.from_config(base), objective)


def _hp(space, **values):
    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    hp.values.update(values)
    return hp


def test_built_model_reflects_the_hyperparameters(tiny_base):
    hypermodel = _hypermodel(tiny_base)
    model = hypermodel.build(_hp(hypermodel.space, context_length=7, margin=0.10, anchor_lambda=0.9))
    config = model.get_config()
    assert (config["context_length"], config["margin"], config["anchor_lambda"]) == (7, 0.10, 0.9)
    assert (config["d_model"], config["input_dim"]) == (16, 16)  # base settings and the data's D
    preset = _hypermodel(tiny_base, "recommended")
    assert preset.build(_hp(preset.space, run="larger-context")).context_length == 7


@pytest.mark.parametrize("pin", ["on", "off"])
def test_the_first_build_says_how_the_trials_compile_as_train_does(tiny_base, monkeypatch, pin):
    monkeypatch.setenv(CPU_XLA_ENV, pin)  # on: XLA on TensorFlow's CPU whatever the model; off: the graph
    stream = io.StringIO()
    hypermodel = P7HyperModel(get_space("priority1"), tiny_base, WindowCache.from_config(tiny_base), stream=stream)
    hp = _hp(hypermodel.space)
    models = [hypermodel.build(hp), hypermodel.build(hp)]
    lines = stream.getvalue().splitlines()
    if keras.backend.backend() == "tensorflow" and pin == "on":
        assert [m.jit_compile for m in models] == [True, True]
        assert lines == [f"Compilation: XLA (auto: XLA on TensorFlow's CPU ({CPU_XLA_ENV}=on); --jit-compile off for "
                         "the graph)"]  # once, though built twice
    else:
        assert lines == []  # Keras' own choice (the graph, jax.jit, eager): nothing to say, as train says nothing
    assert _hypermodel(tiny_base).stream is None  # no stream given: nothing printed anywhere


def test_data_is_windowed_once_per_context_length(tiny_base):
    cache = _hypermodel(tiny_base).data
    three, seven = cache.splits(3), cache.splits(7)
    assert three.train.contexts.shape[1:] == (3, 16) and seven.val.contexts.shape[1:] == (7, 16)
    assert len(three.train) > len(seven.train)  # shorter windows: more sequences per article
    assert cache.splits(3) is three


def test_fit_trains_on_the_trials_windows_and_writes_the_trial_files(tiny_base, tmp_path):
    hypermodel = _hypermodel(tiny_base, objective="val_R@5")
    asked = []
    splits = hypermodel.data.splits
    hypermodel.data.splits = lambda k: asked.append(k) or splits(k)
    hp = _hp(hypermodel.space, context_length=3)
    history = hypermodel.fit(hp, hypermodel.build(hp), trial_dir=str(tmp_path))
    assert asked and set(asked) == {3}
    assert {"val_margin", "val_R@5", "val_MRR@10", "val_R@1", "val_R@10"} <= set(history.history)
    summary = json.loads((tmp_path / TRIAL_FILE).read_text())
    assert summary["config"]["context_length"] == 3 and summary["settings"]["context_length"] == 3
    assert summary["objective"] == "val_R@5" and summary["epochs"] == 1
    # the selection rule: epoch 1 only when its gain over the starting model is beyond noise, else the start (0)
    beyond = history.history["val_R@5_gain_low"][0] > 0
    assert summary["best_epoch"] == (1 if beyond else 0)
    kept = history.history["val_R@5" if beyond else "start_R@5"][0]
    assert summary["metrics"]["val_R@5"] == kept == history.history["val_R@5_selected"][0]
    assert summary["verdict"]["status"] in ("PASS", "MARGINAL", "FAIL") and summary["rss_mib"] > 0
    assert (tmp_path / FINAL_WEIGHTS).is_file()


def test_fit_refuses_outside_data_and_unknown_objectives(tiny_base):
    hypermodel = _hypermodel(tiny_base)
    hp = _hp(hypermodel.space)
    with pytest.raises(TypeError, match="takes its data from its WindowCache"):
        hypermodel.fit(hp, None, [1, 2])
    with pytest.raises(ValueError, match="unknown objective 'loss'"):
        _hypermodel(tiny_base, objective="loss")


def test_the_issue_11_options_are_hyperparameters_of_a_trial(tiny_base):
    hypermodel = _hypermodel(tiny_base, "real-text-objective")
    assert hypermodel.space.size == 12
    hp = _hp(hypermodel.space, head="residual", context_negatives="none", negative_queue=4096)
    assert hp.values["head"] == "residual" and not hp._hps["head"][0].ordered  # names have no order
    model = hypermodel.build(hp)
    config = model.get_config()
    assert (config["head"], config["context_negatives"], config["negative_queue"]) == ("residual", "none", 4096)
