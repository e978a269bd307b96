"""``default_callbacks()`` and ``P7Callbacks``: named members, Keras flattening, a real fit; the package's
re-exports."""

import json

import numpy as np
import pytest
import keras

from p7keras import callbacks as cb


def test_default_callbacks_select_a_retrieval_metric(tmp_path):
    from p7keras.data import load_splits, make_synthetic_corpus

    val = load_splits(make_synthetic_corpus(num_articles=30, chunks_per_article=12, dim=16), 4, 0).val
    with pytest.raises(ValueError, match="needs the validation sequences"):
        cb.default_callbacks(select="val_R@5")
    with pytest.raises(ValueError, match="select must be one of"):
        cb.default_callbacks(select="val_R@3", validation=val)
    callbacks = cb.default_callbacks(run_dir=str(tmp_path), history={"val_R@5": [0.2, 0.6], "val_margin": [0.9, 0.1]},
                                     validation=val, select="val_R@5", patience=3)
    assert callbacks[0] is callbacks.retrieval and isinstance(callbacks.retrieval, cb.RetrievalMetrics)
    assert callbacks.best_checkpoint.monitor == "val_R@5" and callbacks.best_checkpoint.history["val_R@5"] == [0.2, 0.6]
    assert callbacks.monitor.select == "val_R@5" and callbacks.monitor.patience == 3


def test_old_names_stay_importable_from_callbacks():
    from p7keras import verdict as v

    assert cb.verdict is v.verdict and cb.check_rules is v.check_rules and cb.best_epoch is v.best_epoch
    assert cb.MonitorSettings is v.MonitorSettings and cb.MonitorWarning is v.MonitorWarning


def test_each_callback_has_its_module_and_the_package_names_every_one():
    import importlib

    from p7keras.models.warmup import TeacherWarmup

    homes = {"P7Monitor": "monitor", "NaNGuard": "nan_guard", "NonFiniteLossError": "nan_guard",
             "RetrievalMetrics": "retrieval", "retrieval_scores": "retrieval", "BestModelCheckpoint": "best_checkpoint",
             "RestoreFrom": "restore", "HistoryWriter": "history", "EpochProgress": "progress",
             "InterruptAtBatchEnd": "interrupt", "interrupt_at_batch_end": "interrupt",
             "P7Callbacks": "defaults", "default_callbacks": "defaults"}
    for name, module in homes.items():
        assert getattr(cb, name) is getattr(importlib.import_module(f"p7keras.callbacks.{module}"), name), name
        assert getattr(cb, name).__module__ == f"p7keras.callbacks.{module}", name
    assert cb.TeacherWarmup is TeacherWarmup  # beside the model it switches
    assert set(homes) | {"TeacherWarmup"} <= set(cb.__all__) and all(hasattr(cb, name) for name in cb.__all__)


def test_default_callbacks_have_named_members(tmp_path):
    plain = cb.default_callbacks(warmup_epochs=3)
    assert isinstance(plain, list) and len(plain) == 3
    assert isinstance(plain.warmup, cb.TeacherWarmup) and plain.warmup.warmup_epochs == 3
    assert isinstance(plain.nan_guard, cb.NaNGuard) and isinstance(plain.monitor, cb.P7Monitor)
    assert plain.best_checkpoint is None and plain.history_writer is None
    full = cb.default_callbacks(run_dir=str(tmp_path), history={"val_margin": [0.1, float("nan"), 0.3]})
    assert full.best_checkpoint.history["val_margin"][2] == 0.3  # the earlier epochs it selects among
    assert full.history_writer.filepath.endswith("history.json")
    assert full.monitor is full[2]


def test_p7_callbacks_extend_and_keep_their_names():
    callbacks = cb.default_callbacks()
    extra = keras.callbacks.Callback()
    for combined in (callbacks + [extra], [extra] + callbacks):
        assert isinstance(combined, cb.P7Callbacks) and len(combined) == 4 and combined.monitor is callbacks.monitor
    assert combined[0] is extra
    callbacks += [extra]
    callbacks.append(keras.callbacks.Callback())
    callbacks.extend([keras.callbacks.Callback()])
    assert isinstance(callbacks, cb.P7Callbacks) and len(callbacks) == 6 and callbacks.warmup is callbacks[0]


def test_keras_callback_list_flattens_p7_callbacks(tmp_path):
    """``model.fit`` wraps its callbacks in a ``CallbackList``, which flattens them with Keras' tree module
    (per backend: optree, dm-tree or torch pytree); a list subclass must come out as its members."""
    callbacks = cb.default_callbacks(run_dir=str(tmp_path))
    flat = keras.callbacks.CallbackList(callbacks, add_history=True).callbacks
    assert flat[: len(callbacks)] == list(callbacks)
    assert all(isinstance(c, keras.callbacks.Callback) for c in flat)
    assert keras.tree.flatten([callbacks]) == list(callbacks)


def test_plain_keras_model_fits_with_p7_callbacks():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    callbacks = cb.P7Callbacks([cb.NaNGuard()])
    history = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=1, verbose=0, callbacks=callbacks)
    assert history.history["loss"] and callbacks.nan_guard is callbacks[0]


def test_default_callbacks_make_fit_monitor_and_save(tmp_path, learnable_data):

    from p7keras.models import TransformerP7Ranker

    model = TransformerP7Ranker(context_length=4, d_model=16, num_heads=2, num_layers=1, ff_dim=32)
    model.compile()
    callbacks = cb.default_callbacks(warmup_epochs=1, run_dir=str(tmp_path))
    train, val = learnable_data
    model.fit(train, validation_data=val, batch_size=64, epochs=2, verbose=0, callbacks=callbacks)
    monitor = callbacks.monitor
    assert monitor.verdict["status"] in ("PASS", "MARGINAL", "FAIL") and monitor.verdict["best_epoch"] in (1, 2)
    # the 1-epoch warm-up was judged within its epoch (6 batches of 64): first batch vs second half
    assert len(monitor.history[cb.VIOLATIONS_START_KEY]) == 1 and len(monitor.history[cb.VIOLATIONS_END_KEY]) == 1
    assert (tmp_path / "best.keras").exists()
    assert len(json.loads((tmp_path / "history.json").read_text())["val_margin"]) == 2
    assert np.isfinite(model.anchor_lambda)
