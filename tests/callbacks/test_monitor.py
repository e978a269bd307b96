"""``P7Monitor``: the monitoring rules (each with logs that trigger it and logs that do not), the verdict,
the warm-up judgement and the selection of the best epoch."""

import io

import numpy as np
import pytest

from p7keras import callbacks as cb

S = cb.MonitorSettings(warmup_epochs=2, anchor_lambda_min=0.6, anchor_lambda_max=0.9, anchor_learnable=True)
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
    fixed = cb.MonitorSettings(warmup_epochs=2, anchor_learnable=False)
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
        anchor_lambda_min, anchor_lambda_max, anchor_learnable = 0.6, 0.9, True  # SemanticAnchor's names


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


def test_monitor_judges_a_one_epoch_warmup_within_the_epoch():
    """teacher_violations fall from 60 to 2 per batch during the only warm-up epoch: the epoch's mean
    (about 31) is its own start and end, so the old rule always fired; judged within the epoch it does not."""
    def run(per_batch):
        model = _Model()
        model.warmup_epochs = 1
        monitor = cb.P7Monitor(stream=io.StringIO())
        monitor.set_model(model)
        monitor.on_train_begin()
        monitor.on_epoch_begin(0)
        for batch in range(len(per_batch)):  # Keras logs the running mean of the epoch so far
            monitor.on_train_batch_end(batch, {"teacher_violations": float(np.mean(per_batch[: batch + 1]))})
        monitor.on_epoch_end(0, {"teacher_violations": float(np.mean(per_batch)), "val_margin": 0.3,
                                 "val_cos_next": 0.5, "val_cos_anchor": 0.5})
        return monitor

    converging = run(np.linspace(60.0, 2.0, 10))
    assert converging.history[cb.VIOLATIONS_START_KEY] == [60.0]
    assert converging.history[cb.VIOLATIONS_END_KEY][0] == pytest.approx(np.linspace(60.0, 2.0, 10)[5:].mean())
    assert "teacher_not_converging" not in {w.rule for w in converging.warnings}
    stuck = run(np.full(10, 60.0) - np.arange(10))
    assert "teacher_not_converging" in {w.rule for w in stuck.warnings}
    after = cb.P7Monitor(stream=io.StringIO())  # no batch values collected after the warm-up
    after.set_model(_Model())
    after.on_train_begin()
    after.on_epoch_begin(2)
    after.on_train_batch_end(0, {"teacher_violations": 5.0})
    after.on_epoch_end(2, {})
    assert cb.VIOLATIONS_START_KEY not in after.history


def test_monitor_selects_and_stops_on_the_chosen_metric():
    model, stream = _Model(), io.StringIO()
    monitor = cb.P7Monitor(stream=stream, select="val_R@5", patience=2)
    monitor.set_model(model)
    monitor.on_train_begin()
    healthy = {"val_cos_next": 0.6, "val_cos_anchor": 0.5}
    for epoch, (margin, r5) in enumerate([(0.3, 0.2), (0.1, 0.5), (0.4, 0.4)]):
        monitor.on_epoch_end(epoch, {"val_margin": margin, "val_R@5": r5, **healthy})
        assert not model.stop_training
    monitor.on_epoch_end(3, {"val_margin": 0.5, "val_R@5": 0.45, **healthy})
    assert model.stop_training and "val_R@5 has not improved for 2 epochs" in stream.getvalue()
    monitor.on_train_end()
    verdict = monitor.verdict
    assert verdict["best_epoch"] == 2 and verdict["best_by"] == "val_R@5"
    assert verdict["metrics"]["margin"] == 0.1 and verdict["stopped_early"].startswith("epoch 4: val_R@5")


def test_monitor_default_selection_is_val_margin_without_early_stopping():
    model = _Model()
    monitor = cb.P7Monitor(stream=io.StringIO())
    monitor.set_model(model)
    monitor.on_train_begin()
    for epoch, margin in enumerate([0.3, 0.1, 0.1, 0.1]):
        monitor.on_epoch_end(epoch, {"val_margin": margin, "val_cos_next": 0.6, "val_cos_anchor": 0.5})
    monitor.on_train_end()
    assert not model.stop_training and "stopped_early" not in monitor.verdict
    assert monitor.verdict["best_epoch"] == 1 and monitor.verdict["best_by"] == "val_margin"


def test_monitor_reads_the_lambda_range_of_a_real_model():
    from p7keras.models import TransformerP7Ranker

    model = TransformerP7Ranker(input_dim=8, context_length=3, d_model=8, num_heads=2, num_layers=1, ff_dim=8,
                                anchor_lambda_min=0.3, anchor_lambda_max=0.95, anchor_learnable=False)
    monitor = cb.P7Monitor(stream=io.StringIO())
    monitor.set_model(model)
    monitor.on_train_begin()
    assert (monitor.settings.anchor_lambda_min, monitor.settings.anchor_lambda_max) == (0.3, 0.95)
    assert monitor.settings.anchor_learnable is False


def test_monitor_notes_a_lambda_range_outside_the_spec():
    for (low, high), noted in (((0.6, 0.9), False), ((0.3, 0.9), True)):
        monitor = cb.P7Monitor(stream=io.StringIO(), anchor_lambda_min=low, anchor_lambda_max=high)
        monitor.set_model(_Model())
        monitor.on_train_begin()
        monitor.on_epoch_end(0, {"val_margin": 0.3, "val_cos_next": 0.6, "val_cos_anchor": 0.5})
        monitor.on_train_end()
        assert ("notes" in monitor.verdict) == noted
        if noted:
            assert "λ range [0.3, 0.9] is outside the spec's [0.6, 0.9]" in monitor.verdict["notes"][0]
