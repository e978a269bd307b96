"""Monitoring rules (each with logs that trigger it and logs that do not), verdict and guards."""

import io
import json
import math

import numpy as np
import pytest
import keras

from p7keras import callbacks as cb

S = cb.MonitorSettings(warmup_epochs=2, lambda_min=0.6, lambda_max=0.9, lambda_learnable=True)
HEALTHY = {
    "val_cos_anchor": [0.5, 0.5], "val_margin": [0.2, 0.25], "val_cos_next": [0.5, 0.55],
    "teacher_violations": [10.0, 2.0], "gate_weight_mean": [0.9, 0.9], "anchor_lambda": [0.8, 0.79],
}


def rules(history, epoch=1, settings=S):
    return {w.rule for w in cb.check_rules({**HEALTHY, **history}, epoch, settings)}


def test_healthy_logs_fire_nothing():
    assert rules({}) == set()


@pytest.mark.parametrize(
    "history, epoch, rule",
    [
        ({"val_cos_anchor": [0.5, 0.08]}, 1, "orthogonal_drift"),
        ({"val_cos_anchor": [0.04, 0.03]}, 1, "orthogonal_drift_hard"),
        ({"val_margin": [0.1, -0.01]}, 1, "backward_collapse"),
        ({"val_cos_next": [0.5, 0.75]}, 1, "teacher_over_pull"),
        ({"teacher_violations": [10.0, 6.0]}, 1, "teacher_not_converging"),
        ({"gate_weight_mean": [0.4, 0.45]}, 1, "poor_data"),
        ({"anchor_lambda": [0.895, 0.899]}, 1, "lambda_at_bound"),
        ({"anchor_lambda": [0.6, 0.603]}, 1, "lambda_at_bound"),
    ],
)
def test_each_rule_fires_on_its_logs(history, epoch, rule):
    assert rule in rules(history, epoch)


@pytest.mark.parametrize(
    "history, epoch, rule",
    [
        ({"val_cos_anchor": [0.5, 0.11]}, 1, "orthogonal_drift"),
        ({"val_cos_anchor": [0.2, 0.04]}, 1, "orthogonal_drift_hard"),  # one low validation only
        ({"val_margin": [0.1, 0.0]}, 1, "backward_collapse"),
        ({"val_cos_next": [0.5, 0.75]}, 2, "teacher_over_pull"),  # after warm-up
        ({"teacher_violations": [10.0, 4.0]}, 1, "teacher_not_converging"),
        ({"teacher_violations": [10.0, 9.0]}, 0, "teacher_not_converging"),  # not yet the end of warm-up
        ({"gate_weight_mean": [0.4, 0.6]}, 1, "poor_data"),  # one epoch only
        ({"anchor_lambda": [0.8, 0.899]}, 1, "lambda_at_bound"),  # one epoch only
    ],
)
def test_each_rule_stays_quiet_otherwise(history, epoch, rule):
    assert rule not in rules(history, epoch)


def test_lambda_rule_ignores_fixed_lambda():
    fixed = cb.MonitorSettings(warmup_epochs=2, lambda_learnable=False)
    assert "lambda_at_bound" not in rules({"anchor_lambda": [0.9, 0.9]}, settings=fixed)


def test_hard_drift_rule_stops():
    (warning,) = [w for w in cb.check_rules({**HEALTHY, "val_cos_anchor": [0.01, 0.02]}, 1, S) if w.stop]
    assert "training stops" in str(warning) and "Suggested action" in str(warning)


@pytest.mark.parametrize(
    "metrics, drift, status",
    [
        ({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.45}, False, "PASS"),
        ({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.45}, True, "MARGINAL"),
        ({"margin": 0.15, "cos_next": 0.5, "cos_anchor": 0.45}, False, "MARGINAL"),
        ({"margin": 0.25, "cos_next": 0.36, "cos_anchor": 0.31}, False, "MARGINAL"),
        ({"margin": 0.09, "cos_next": 0.5, "cos_anchor": 0.45}, False, "FAIL"),
        ({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.29}, False, "FAIL"),
    ],
)
def test_verdict_levels_and_reasons(metrics, drift, status):
    result = cb.verdict(metrics, drift)
    assert result["status"] == status
    if status != "PASS":
        assert result["reasons"]
    if status == "FAIL" and metrics["margin"] < 0.1:
        assert any(r.startswith("margin 0.090 < 0.1") for r in result["reasons"])
    if drift:
        assert "hard orthogonal drift during training" in result["reasons"]


class _Model:  # what P7Monitor reads of a model
    warmup_epochs = 2
    stop_training = False

    class anchor:  # noqa: N801
        lambda_min, lambda_max, learnable = 0.6, 0.9, True


def test_monitor_prints_each_warning_once_and_gives_best_epoch_verdict():
    stream = io.StringIO()
    monitor = cb.P7Monitor(stream=stream)
    monitor.set_model(_Model())
    monitor.on_train_begin()
    logs = [
        {"val_margin": -0.1, "val_cos_next": 0.3, "val_cos_anchor": 0.5},
        {"val_margin": -0.05, "val_cos_next": 0.4, "val_cos_anchor": 0.5},
        {"val_margin": 0.3, "val_cos_next": 0.6, "val_cos_anchor": 0.5},
        {"val_margin": 0.2, "val_cos_next": 0.6, "val_cos_anchor": 0.5},
    ]
    for epoch, log in enumerate(logs):
        monitor.on_epoch_end(epoch, log)
    monitor.on_train_end()
    assert stream.getvalue().count("backward_collapse") == 0  # rule ids are not shown, messages are
    assert stream.getvalue().count("closer to the previous chunk") == 1
    assert monitor.verdict["status"] == "PASS" and monitor.verdict["best_epoch"] == 3


def test_monitor_hard_drift_stops_training():
    model = _Model()
    monitor = cb.P7Monitor(stream=io.StringIO())
    monitor.set_model(model)
    monitor.on_train_begin()
    for epoch in range(2):
        monitor.on_epoch_end(epoch, {"val_margin": 0.3, "val_cos_next": 0.6, "val_cos_anchor": 0.01})
    assert model.stop_training and monitor.hard_drift


def test_nan_guard_names_epoch_and_batch():
    guard = cb.NaNGuard()
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"loss": 1.0})
    with pytest.raises(cb.NonFiniteLossError, match="epoch 3, batch 5"):
        guard.on_train_batch_end(4, {"loss": math.nan})


def test_best_checkpoint_keeps_highest_val_margin(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "best.keras"
    checkpoint = cb.BestModelCheckpoint(str(path), best=0.3)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_margin": 0.2})
    assert not path.exists()  # below the best of earlier (resumed) epochs
    checkpoint.on_epoch_end(1, {"val_margin": 0.4})
    assert path.exists() and checkpoint.best == 0.4
    stamp = path.stat().st_mtime_ns
    checkpoint.on_epoch_end(2, {"val_margin": float("nan")})
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]  # no temporary leftovers


def test_history_writer_appends_to_earlier_epochs(tmp_path):
    writer = cb.HistoryWriter(str(tmp_path / "history.json"), history={"loss": [2.0], "epoch": [1.0]})
    writer.on_epoch_end(1, {"loss": 1.5, "val_margin": 0.1})
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["loss"] == [2.0, 1.5] and saved["epoch"] == [1.0, 2.0] and saved["val_margin"] == [0.1]


def test_default_callbacks_make_fit_monitor_and_save(tmp_path, learnable_data):
    import p7keras

    model = p7keras.TransformerP7Ranker(context_length=4, d_model=16, num_heads=2, num_layers=1, ff_dim=32)
    model.compile()
    callbacks = cb.default_callbacks(warmup_epochs=1, run_dir=str(tmp_path))
    train, val = learnable_data
    model.fit(train, validation_data=val, batch_size=64, epochs=2, verbose=0, callbacks=callbacks)
    monitor = next(c for c in callbacks if isinstance(c, cb.P7Monitor))
    assert monitor.verdict["status"] in ("PASS", "MARGINAL", "FAIL") and monitor.verdict["best_epoch"] in (1, 2)
    assert (tmp_path / "best.keras").exists()
    assert len(json.loads((tmp_path / "history.json").read_text())["val_margin"]) == 2
    assert np.isfinite(model.anchor_lambda)
