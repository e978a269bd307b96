"""The pure verdict rules (p7keras.verdict): thresholds, boundaries, NaN, best epoch, no Keras needed."""

import ast
import math
import subprocess
import sys
from pathlib import Path

import pytest

from p7keras import verdict as v

pytestmark = pytest.mark.one_backend  # numpy only

ROOT = Path(__file__).resolve().parents[1]
NAN = float("nan")
# Spec section 6's thresholds, written out (not read from DEFAULTS, so that a changed default fails here).
PASS_AT = {"margin": 0.20, "cos_next": 0.45, "cos_anchor": 0.40}
MARGINAL_AT = {"margin": 0.10, "cos_next": 0.35, "cos_anchor": 0.30}


# --------------------------------------------------------------------------------- no Keras inside
def test_verdict_module_imports_no_keras():
    """Imports p7keras.verdict (and what it imports: p7keras.config) in a fresh interpreter without running
    p7keras/__init__.py, which imports Keras for the models; the module itself must not pull Keras in."""
    code = (
        "import sys, types; "
        f"package = types.ModuleType('p7keras'); package.__path__ = [{str(ROOT / 'p7keras')!r}]; "
        "sys.modules['p7keras'] = package; "
        "import p7keras.verdict; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax', 'torch')); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_verdict_module_source_has_no_keras_import():
    tree = ast.parse((ROOT / "p7keras" / "verdict.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "dataclasses", "math", "collections.abc", "numpy", "p7keras.config"}


# ------------------------------------------------------------------------------------------ verdict
def test_exactly_on_the_pass_thresholds_is_pass():
    assert v.verdict(PASS_AT)["status"] == v.PASS


def test_exactly_on_the_marginal_thresholds_is_marginal():
    assert v.verdict(MARGINAL_AT)["status"] == v.MARGINAL


@pytest.mark.parametrize("name", v.VERDICT_METRICS)
def test_just_below_a_threshold_drops_a_level_and_names_it(name):
    below_pass = v.verdict({**PASS_AT, name: PASS_AT[name] - 1e-9})
    assert below_pass["status"] == v.MARGINAL
    assert any(r.startswith(f"{name} ") and "<" in r for r in below_pass["reasons"])
    below_marginal = v.verdict({**PASS_AT, name: MARGINAL_AT[name] - 1e-9})
    assert below_marginal["status"] == v.FAIL
    assert [r for r in below_marginal["reasons"] if r.startswith(f"{name} ")]


def test_hard_drift_rules_out_pass_only():
    high = {"margin": 0.9, "cos_next": 0.9, "cos_anchor": 0.9}
    result = v.verdict(high, hard_drift=True)
    assert result["status"] == v.MARGINAL
    assert "hard orthogonal drift during training" in result["reasons"]
    assert v.verdict(MARGINAL_AT, hard_drift=True)["status"] == v.MARGINAL
    assert v.verdict({**MARGINAL_AT, "margin": 0.0}, hard_drift=True)["status"] == v.FAIL


@pytest.mark.parametrize("name", v.VERDICT_METRICS)
def test_a_nan_metric_fails(name):
    result = v.verdict({**PASS_AT, name: NAN})
    assert result["status"] == v.FAIL and any(r.startswith(f"{name} nan") for r in result["reasons"])


def test_verdict_reports_its_metrics_as_floats():
    result = v.verdict({"margin": 1, "cos_next": 1, "cos_anchor": 1})
    assert result["metrics"] == {"margin": 1.0, "cos_next": 1.0, "cos_anchor": 1.0}


# ------------------------------------------------------------------------------------- best epoch
def test_best_epoch_skips_non_finite_values():
    assert v.best_epoch({"val_margin": [0.1, NAN, 0.3, math.inf, 0.2]}) == 2
    assert v.best_epoch({"val_R@5": [0.5, 0.4]}, "val_R@5") == 0


@pytest.mark.parametrize("values", [[], [NAN], [NAN, math.inf, -math.inf]])
def test_best_epoch_none_without_a_finite_epoch(values):
    assert v.best_epoch({"val_margin": values}) is None


def test_history_verdict_judges_the_best_epoch():
    history = {"val_margin": [0.25, 0.1], "val_cos_next": [0.5, 0.2], "val_cos_anchor": [0.5, 0.2]}
    result = v.history_verdict(history)
    assert result["status"] == v.PASS and result["best_epoch"] == 1


def test_history_verdict_fails_without_a_finite_epoch():
    result = v.history_verdict({"val_margin": [NAN, NAN]}, "val_margin")
    assert result == {"status": v.FAIL, "reasons": ["no finite val_margin was logged"], "metrics": {},
                      "best_epoch": None}


# -------------------------------------------------------------------- monitoring rule boundaries
def _rules(history, epoch, **settings):
    return {w.rule for w in v.check_rules(history, epoch, v.MonitorSettings(**settings))}


def test_drift_thresholds_are_strict():
    assert "orthogonal_drift" not in _rules({"val_cos_anchor": [0.10]}, 0)
    assert "orthogonal_drift" in _rules({"val_cos_anchor": [0.0999]}, 0)
    assert "orthogonal_drift_hard" not in _rules({"val_cos_anchor": [0.05] * 2}, 1)
    assert "orthogonal_drift_hard" in _rules({"val_cos_anchor": [0.049, 0.049]}, 1)


def test_nan_metrics_fire_no_rule():
    history = {k: [NAN, NAN] for k in ("val_cos_anchor", "val_margin", "val_cos_next", "gate_weight_mean",
                                       "anchor_lambda", "teacher_violations")}
    assert _rules(history, 1) == set()


def test_teacher_rule_at_the_share_boundary():
    share = 0.5
    assert "teacher_not_converging" in _rules({"teacher_violations": [10.0, 10.0 * share]}, 1, warmup_epochs=2)
    assert "teacher_not_converging" not in _rules({"teacher_violations": [10.0, 10.0 * share - 0.01]}, 1,
                                                  warmup_epochs=2)
    assert "teacher_not_converging" not in _rules({"teacher_violations": [0.0, 0.0]}, 1, warmup_epochs=2)


def test_one_epoch_warmup_converging_violations_do_not_fire():
    """With warm-up 1 the epoch means are one number; the rule compares within the warm-up epoch."""
    history = {"teacher_violations": [30.0], v.VIOLATIONS_START_KEY: [60.0], v.VIOLATIONS_END_KEY: [4.0]}
    assert "teacher_not_converging" not in _rules(history, 0, warmup_epochs=1)


def test_one_epoch_warmup_non_converging_violations_fire():
    history = {"teacher_violations": [58.0], v.VIOLATIONS_START_KEY: [60.0], v.VIOLATIONS_END_KEY: [57.0]}
    (warning,) = [w for w in v.check_rules(history, 0, v.MonitorSettings(warmup_epochs=1))
                  if w.rule == "teacher_not_converging"]
    assert "57.0 per batch" in warning.message and "started at 60.0" in warning.message


def test_one_epoch_warmup_without_within_epoch_values_stays_quiet():
    assert "teacher_not_converging" not in _rules({"teacher_violations": [60.0]}, 0, warmup_epochs=1)


def test_warmup_violations_start_and_end():
    assert v.warmup_violations({"teacher_violations": [9.0, 5.0, 1.0]}, 2) == (9.0, 5.0)
    assert v.warmup_violations({"teacher_violations": [9.0]}, 2) is None
    assert v.warmup_violations({"teacher_violations": [9.0]}, 0) is None


# ------------------------------------------------------------------------------------- good model
def test_good_model_checks_at_the_limits():
    at = {"cos_next": 0.45, "cos_prev": 0.20, "margin": 0.20}
    assert v.good_model_checks(at) == {"cos_next": True, "cos_prev": True, "margin": True}
    off = {"cos_next": at["cos_next"] - 1e-9, "cos_prev": at["cos_prev"] + 1e-9, "margin": NAN}
    assert v.good_model_checks(off) == {"cos_next": False, "cos_prev": False, "margin": False}
    assert v.good_model_checks({"cos_anchor": 0.9}) == {}


def test_good_model_figures_of_the_spec():
    assert v.describe_good_model() == "cos_next >= 0.45, cos_prev <= 0.20, margin >= +0.20"


# ------------------------------------------------------------- issue 11: selection and early stopping
@pytest.mark.parametrize("values, patience, stops", [
    ([0.2, 0.4, 0.3, 0.35], 2, True),     # two epochs after the best
    ([0.2, 0.4, 0.3], 2, False),          # one epoch after the best
    ([0.2, 0.4, 0.4], 1, True),           # a tie is no improvement
    ([0.2, 0.3, 0.4], 1, False),          # improving every epoch
    ([0.5, 0.1, 0.1, 0.1], 0, False),     # patience 0: never
    ([NAN, NAN], 2, True),                # nothing finite for two epochs
])
def test_patience_stop_counts_epochs_since_the_best(values, patience, stops):
    message = v.patience_stop({"val_R@5": values}, "val_R@5", patience)
    assert (message is not None) == stops
    if stops:
        assert message.startswith(f"val_R@5 has not improved for {patience} epochs") and "training stops" in message


def test_patience_stop_names_the_best_epoch():
    message = v.patience_stop({"val_MRR@10": [0.1, 0.3, 0.2]}, "val_MRR@10", 1)
    assert "best 0.3000 at epoch 2" in message


@pytest.mark.parametrize("low, high, noted", [
    (0.6, 0.9, False), (0.65, 0.85, False), (0.5, 0.9, True), (0.6, 0.95, True), (0.0, 1.0, True),
])
def test_lambda_range_outside_the_spec_is_noted(low, high, noted):
    notes = v.lambda_range_notes(low, high)
    assert bool(notes) == noted
    if noted:
        assert notes == [f"λ range [{low:g}, {high:g}] is outside the spec's [0.6, 0.9]: this run is not the "
                         "spec's model"]


def test_quality_criteria_name_both_definitions_and_which_decides():
    """Issue 13: a PASS run whose cos_prev misses section 8's figure shows both, by name."""
    from p7keras.verdict import describe_criteria, quality_criteria

    criteria = quality_criteria({"margin": 0.25, "cos_next": 0.70, "cos_anchor": 0.45, "cos_prev": 0.448})
    assert criteria["verdict"]["status"] == "PASS"
    assert criteria["good_model"] == {"cos_next": True, "cos_prev": False, "margin": True}
    note = describe_criteria()
    assert "spec section 6" in note and "it decides" in note and "section 8" in note and "not deciding" in note


# ------------------------------------------------------------------ issue 21: selection never ships below the start
def _retrieval_history(r5, lows, start_r5=0.30):
    n = len(r5)
    return {"val_R@5": r5, "val_R@5_gain_low": lows, "start_R@5": [start_r5] * n,
            "val_margin": [0.25] * n, "val_cos_next": [0.5] * n, "val_cos_anchor": [0.5] * n,
            "start_margin": [0.05] * n, "start_cos_next": [0.40] * n, "start_cos_anchor": [0.90] * n}


def test_an_epoch_replaces_the_start_only_beyond_noise():
    from p7keras.verdict import best_epoch, history_verdict, selected_epoch, selected_value

    history = _retrieval_history([0.36, 0.34, 0.35], [-0.001, 0.004, 0.002])
    # epoch 1 has the highest R@5 but its gain over the start is within noise: epoch 3 (beyond noise, higher than 2)
    assert best_epoch(history, "val_R@5") == 2 and selected_epoch(history, "val_R@5") == 3
    assert selected_value(history, "val_R@5") == 0.35
    result = history_verdict(history, "val_R@5")
    assert result["best_epoch"] == 3 and "kept_start" not in result


def test_no_epoch_beyond_noise_keeps_the_starting_model_and_says_so():
    from p7keras.verdict import KEPT_START, history_verdict, patience_stop, selected_epoch, selected_value

    history = _retrieval_history([0.33, 0.31], [-0.01, float("nan")])
    assert selected_epoch(history, "val_R@5") == 0
    assert selected_value(history, "val_R@5") == 0.30  # the start's, not the best epoch's 0.33
    result = history_verdict(history, "val_R@5")
    assert result["best_epoch"] == 0 and result["kept_start"] is True
    assert result["reasons"][0] == KEPT_START
    assert result["metrics"] == {"margin": 0.05, "cos_next": 0.40, "cos_anchor": 0.90}  # the start's figures
    assert result["status"] == "FAIL"  # margin 0.05 < 0.10
    # an epoch within noise is no improvement for early stopping either
    assert patience_stop(history, "val_R@5", 2) == ("val_R@5 has not improved for 2 epochs (no epoch beyond noise over "
                                                   "the starting model): training stops (patience 2)")


def test_the_margin_selection_is_unchanged_by_the_rule():
    from p7keras.verdict import selected_epoch

    assert selected_epoch({"val_margin": [0.1, 0.3, 0.2]}) == 2
    assert selected_epoch({"val_margin": [float("nan")]}) is None
