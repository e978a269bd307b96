"""The spec's judgements of a run, as pure functions: monitoring rules, best epoch, verdict, good model.

Everything here reads plain numbers (a Keras-style ``history`` dict, or a dict of metrics) and the
thresholds of ``p7keras.config.DEFAULTS``; nothing imports Keras, so the rules can be unit-tested, and
used by the callbacks, the tuner and evaluation alike.

* ``check_rules``: the monitoring rules of spec section 6 (``MonitorSettings`` in, ``MonitorWarning`` out).
* ``verdict``: PASS / MARGINAL / FAIL of spec section 6 for one epoch's validation metrics.
* ``best_epoch``, ``selected_epoch`` and ``history_verdict``: the best epoch (highest ``val_margin``, or the
  selected retrieval metric among the epochs that beat the starting model beyond noise; else the start)
  and its verdict.
* ``patience_stop`` and ``lambda_range_notes``: early stopping on the selected metric, and the note of a
  λ range outside the spec's (issue 11).
* ``good_model_checks``: the directional figures spec section 8 expects of a good model.

Example:

    ```python
    from p7keras.verdict import check_rules, history_verdict

    history = {"val_margin": [0.1, 0.3], "val_cos_next": [0.4, 0.5], "val_cos_anchor": [0.5, 0.6]}
    [w.rule for w in check_rules(history, epoch=1)]  # []
    history_verdict(history)["status"]               # 'PASS' (best epoch 2)
    ```
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import numpy as np

from p7keras.config import DEFAULTS

PASS, MARGINAL, FAIL = "PASS", "MARGINAL", "FAIL"
# The validation metrics the verdict reads (``val_`` + name in a history).
VERDICT_METRICS = ("margin", "cos_next", "cos_anchor")
# Within-epoch teacher_violations of the warm-up epochs, logged by ``P7Monitor`` (per epoch): the first
# batch's value and the mean over the epoch's second half. The teacher rule reads them for a 1-epoch warm-up.
VIOLATIONS_START_KEY = "teacher_violations_start"
VIOLATIONS_END_KEY = "teacher_violations_end"


# --------------------------------------------------------------------------------- monitoring rules
@dataclasses.dataclass(frozen=True)
class MonitorWarning:
    """One fired monitoring rule: which, at which epoch, what was seen and what to do.

    Example:

        ```python
        print(MonitorWarning("backward_collapse", 0, "val margin -0.1 < 0", "raise w_margin or margin"))
        # [p7keras] epoch 1: val margin -0.1 < 0. Suggested action: raise w_margin or margin.
        ```

    Args:
        rule: the rule's id (e.g. ``orthogonal_drift_hard``).
        epoch: the 0-based epoch after which it fired.
        message: what was seen.
        action: the suggested action.
        stop: whether the rule stops training.
    """

    rule: str
    epoch: int
    message: str
    action: str
    stop: bool = False

    def __str__(self) -> str:
        return f"[p7keras] epoch {self.epoch + 1}: {self.message}. Suggested action: {self.action}."


@dataclasses.dataclass(frozen=True)
class MonitorSettings:
    """Thresholds of the monitoring rules (spec section 6) and what they need to know of the run.

    Example:

        ```python
        settings = MonitorSettings(warmup_epochs=1, anchor_learnable=False)
        ```

    Args:
        warmup_epochs: epochs with the teacher term on.
        anchor_lambda_min, anchor_lambda_max, anchor_learnable: the anchor's λ range and whether λ is trained.
        drift_warn, drift_stop: val cos_anchor below which drift warns / (twice in a row) stops.
        overpull_cos_next: val cos_next above which the teacher pulls too hard during warm-up.
        poor_data_gate_weight: gate_weight_mean below which (two epochs) the data look poor.
        lambda_tolerance: relative distance to a λ bound that counts as "at the bound".
        teacher_still_high_share: teacher_violations at the end of warm-up still at least this share of
            their value at its start count as "not converging".
    """

    warmup_epochs: int = DEFAULTS.warmup_epochs
    anchor_lambda_min: float = DEFAULTS.anchor_lambda_min
    anchor_lambda_max: float = DEFAULTS.anchor_lambda_max
    anchor_learnable: bool = DEFAULTS.anchor_learnable
    drift_warn: float = DEFAULTS.drift_warn_cos_anchor
    drift_stop: float = DEFAULTS.drift_stop_cos_anchor
    overpull_cos_next: float = DEFAULTS.teacher_overpull_cos_next
    poor_data_gate_weight: float = DEFAULTS.poor_data_gate_weight
    lambda_tolerance: float = DEFAULTS.lambda_bound_tolerance
    teacher_still_high_share: float = DEFAULTS.teacher_still_high_share


def _series(history: Mapping, key: str) -> list[float]:
    return [float(v) for v in history.get(key, [])]


def _last_two(values: list[float], condition: Callable[[float], bool]) -> bool:
    return len(values) >= 2 and condition(values[-1]) and condition(values[-2])


def warmup_violations(history: Mapping, warmup_epochs: int) -> tuple[float, float] | None:
    """teacher_violations per batch at the start and at the end of the warm-up, or None if unknown.

    With two or more warm-up epochs: the first epoch's mean and the last warm-up epoch's mean. With a
    1-epoch warm-up those are the same number, so the start is the warm-up epoch's first batch and the
    end the mean over its second half (``VIOLATIONS_START_KEY`` / ``VIOLATIONS_END_KEY``, which
    ``P7Monitor`` logs); without them (e.g. a ``history.json`` of per-epoch means only) there is nothing
    to compare, and None is returned: the rule stays quiet rather than comparing an epoch with itself.

    Example:

        ```python
        warmup_violations({"teacher_violations": [10.0, 4.0]}, warmup_epochs=2)  # (10.0, 4.0)
        warmup_violations({"teacher_violations": [6.0], "teacher_violations_start": [60.0],
                           "teacher_violations_end": [2.0]}, warmup_epochs=1)    # (60.0, 2.0)
        ```

    Args:
        history: metric name -> per-epoch values, up to (at least) the last warm-up epoch.
        warmup_epochs: epochs with the teacher on.

    Returns:
        ``(start, end)`` violations per batch, or None when the history cannot tell.
    """
    if warmup_epochs <= 0:
        return None
    if warmup_epochs == 1:
        start, end = _series(history, VIOLATIONS_START_KEY), _series(history, VIOLATIONS_END_KEY)
        if not start or not end:
            return None
        return start[0], end[0]
    violations = _series(history, "teacher_violations")
    if len(violations) < warmup_epochs:
        return None
    return violations[0], violations[warmup_epochs - 1]


def check_rules(history: Mapping, epoch: int, settings: MonitorSettings = MonitorSettings()) -> list[MonitorWarning]:
    """Applies the monitoring rules of spec section 6 after ``epoch`` (0-based).

    "teacher not converging" fires at the last warm-up epoch when the violations per batch at the end
    of warm-up are still at least ``teacher_still_high_share`` of those at its start (see
    ``warmup_violations`` for what start and end mean with a 1-epoch warm-up).

    Example:

        ```python
        warnings = check_rules({"val_cos_anchor": [0.08], "val_margin": [0.1]}, epoch=0)
        warnings[0].rule  # 'orthogonal_drift'
        ```

    Args:
        history: metric name -> per-epoch values so far (the last value is ``epoch``'s), with ``val_``
            names for validation metrics as Keras logs them.
        epoch: the epoch just finished.
        settings: thresholds and run facts.

    Returns:
        The rules that fire now (possibly several); ``stop`` is set for the hard-drift rule.
    """
    fired = []
    s = settings
    anchor = _series(history, "val_cos_anchor")
    if _last_two(anchor, lambda v: v < s.drift_stop):
        fired.append(MonitorWarning(
            "orthogonal_drift_hard", epoch,
            f"val cos_anchor {anchor[-1]:.3f} < {s.drift_stop} on two consecutive validations: predictions "
            "left the context subspace (hard orthogonal drift); training stops",
            "lower λ (more anchoring) or lower the learning rate", stop=True,
        ))
    elif anchor and anchor[-1] < s.drift_warn:
        fired.append(MonitorWarning(
            "orthogonal_drift", epoch,
            f"val cos_anchor {anchor[-1]:.3f} < {s.drift_warn}: predictions are leaving the context subspace",
            "lower λ (more anchoring)",
        ))
    margin = _series(history, "val_margin")
    if margin and margin[-1] < 0:
        fired.append(MonitorWarning(
            "backward_collapse", epoch,
            f"val margin {margin[-1]:.3f} < 0: predictions are closer to the previous chunk than to the next",
            "raise w_margin or margin",
        ))
    cos_next = _series(history, "val_cos_next")
    if epoch < s.warmup_epochs and cos_next and cos_next[-1] > s.overpull_cos_next:
        fired.append(MonitorWarning(
            "teacher_over_pull", epoch,
            f"val cos_next {cos_next[-1]:.3f} > {s.overpull_cos_next} during warm-up: the teacher pulls too hard",
            "lower w_teacher or shorten the warm-up",
        ))
    warmup = warmup_violations(history, s.warmup_epochs) if epoch == s.warmup_epochs - 1 else None
    if warmup is not None:
        first, last = warmup
        if last > 0 and last >= s.teacher_still_high_share * first:
            fired.append(MonitorWarning(
                "teacher_not_converging", epoch,
                f"teacher_violations still {last:.1f} per batch at the end of warm-up (started at {first:.1f})",
                "raise w_teacher or the floor threshold",
            ))
    gate = _series(history, "gate_weight_mean")
    if _last_two(gate, lambda v: v < s.poor_data_gate_weight):
        fired.append(MonitorWarning(
            "poor_data", epoch,
            f"gate_weight_mean {gate[-1]:.3f} < {s.poor_data_gate_weight} for two epochs: few sequences carry "
            "a forward signal",
            "inspect the data (p7keras data inspect)",
        ))
    lam = _series(history, "anchor_lambda")
    low, high, tol = s.anchor_lambda_min, s.anchor_lambda_max, s.lambda_tolerance
    if s.anchor_learnable and _last_two(lam, lambda v: v <= low * (1 + tol) or v >= high * (1 - tol)):
        side = "lower" if lam[-1] <= low * (1 + tol) else "upper"
        fired.append(MonitorWarning(
            "lambda_at_bound", epoch,
            f"learnable λ {lam[-1]:.4f} is within 1% of its {side} bound [{low}, {high}] for two epochs",
            "adjust the λ range",
        ))
    return fired


# ------------------------------------------------------------------------------------------ verdict
def verdict(metrics: Mapping, hard_drift: bool = False) -> dict:
    """PASS / MARGINAL / FAIL of spec section 6 for validation metrics (the best epoch's).

    A value exactly on a threshold meets it; a NaN value meets none.

    Example:

        ```python
        verdict({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.45})["status"]        # 'PASS'
        verdict({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.45}, True)["status"]  # 'MARGINAL'
        ```

    Args:
        metrics: ``margin``, ``cos_next`` and ``cos_anchor`` (validation values, no ``val_`` prefix).
        hard_drift: whether the hard orthogonal-drift rule fired during training (it rules out PASS).

    Returns:
        ``{"status": ..., "reasons": [...], "metrics": {...}}``; the reasons name every threshold missed.
    """
    d = DEFAULTS
    levels = {
        PASS: (d.pass_margin, d.pass_cos_next, d.pass_cos_anchor),
        MARGINAL: (d.marginal_margin, d.marginal_cos_next, d.marginal_cos_anchor),
    }
    values = {k: float(metrics[k]) for k in VERDICT_METRICS}
    reasons = {}
    for status, thresholds in levels.items():
        missed = [
            f"{name} {values[name]:.3f} < {threshold}"
            for name, threshold in zip(VERDICT_METRICS, thresholds)
            if not values[name] >= threshold
        ]
        if status == PASS and hard_drift:
            missed.append("hard orthogonal drift during training")
        reasons[status] = missed
        if not missed:
            met = [f"{n} {values[n]:.3f} >= {t}" for n, t in zip(values, thresholds)]
            return {"status": status, "reasons": met + reasons.get(PASS, []), "metrics": values}
    return {"status": FAIL, "reasons": reasons[MARGINAL], "metrics": values}


# The selection rule of a retrieval metric (issue 21): the starting model (epoch 0: for the residual head,
# DIRECT) is a candidate, and an epoch replaces it only when its validation gain over the start is above
# noise, the lower bound of its 95% interval over the validation articles above 0. RetrievalMetrics logs,
# per epoch, "<monitor>_gain_low" (that bound) and "start_<metric>" (the starting model's figures).
GAIN_LOW_SUFFIX = "_gain_low"
SELECTED_SUFFIX = "_selected"  # "<monitor>_selected": the kept model's value so far (what a search ranks by)
START_PREFIX = "start_"
START_EPOCH = 0  # the 1-based "epoch" of the starting model
KEPT_START = ("no epoch beat the starting model on validation beyond noise: best.keras is the starting model")


def _gain_low_key(monitor: str) -> str:
    return monitor + GAIN_LOW_SUFFIX


def start_key(metric: str) -> str:
    """The history column of the starting model's ``metric`` (``val_R@5`` -> ``start_R@5``)."""
    return START_PREFIX + metric.removeprefix("val_")


def best_epoch(history: Mapping, monitor: str = "val_margin") -> int | None:
    """Index (0-based) of the epoch with the highest finite ``monitor`` value, or None if there is none.

    When the history holds ``<monitor>_gain_low`` (a retrieval metric logged by ``RetrievalMetrics``), only
    epochs whose gain over the starting model is above noise (that bound > 0) are candidates; None when
    no epoch is (then :func:`selected_epoch` keeps the start).

    Example:

        ```python
        best_epoch({"val_margin": [0.1, float("nan"), 0.3, 0.2]})  # 2
        best_epoch({"val_margin": [float("nan")]})                 # None
        best_epoch({"val_R@5": [0.4, 0.5], "val_R@5_gain_low": [0.01, -0.002]})  # 0: epoch 2 is not beyond noise
        ```

    Args:
        history: metric name -> per-epoch values.
        monitor: the metric to maximise.

    Returns:
        The epoch's index, or None when no epoch qualifies.
    """
    values = np.array(_series(history, monitor), dtype="float64")
    usable = np.isfinite(values)
    if _gain_low_key(monitor) in history:
        lows = np.array(_series(history, _gain_low_key(monitor)), dtype="float64")[: len(values)]
        usable &= np.pad(np.nan_to_num(lows, nan=-1.0) > 0, (0, len(values) - len(lows)))
    if not len(values) or not usable.any():
        return None
    return int(np.nanargmax(np.where(usable, values, np.nan)))


def selected_epoch(history: Mapping, monitor: str = "val_margin") -> int | None:
    """The 1-based epoch whose model ``best.keras`` holds; :data:`START_EPOCH` (0) for the starting model.

    Example:

        ```python
        selected_epoch({"val_R@5": [0.4], "val_R@5_gain_low": [-0.01], "start_R@5": [0.39]})  # 0
        ```

    Returns:
        The epoch, 0 when the selection rule keeps the starting model, None when nothing finite was logged.
    """
    index = best_epoch(history, monitor)
    if index is not None:
        return index + 1
    return START_EPOCH if _gain_low_key(monitor) in history and start_key(monitor) in history else None


def selected_value(history: Mapping, monitor: str) -> float | None:
    """The ``monitor`` value of the selected model (the start's when it is kept), or None.

    This is what a search ranks trials by (the same rule as the run's own selection).
    """
    epoch = selected_epoch(history, monitor)
    if epoch is None:
        return None
    key = start_key(monitor) if epoch == START_EPOCH else monitor
    return float(history[key][-1 if epoch == START_EPOCH else epoch - 1])


def history_verdict(history: Mapping, monitor: str = "val_margin", hard_drift: bool = False) -> dict:
    """The verdict of the selected epoch of ``history`` (highest ``monitor``, :func:`selected_epoch`).

    Example:

        ```python
        history = {"val_margin": [0.1, 0.3], "val_cos_next": [0.4, 0.5], "val_cos_anchor": [0.5, 0.6]}
        result = history_verdict(history)
        result["status"], result["best_epoch"]  # ('PASS', 2)
        ```

    Args:
        history: metric name -> per-epoch values, with ``val_margin``, ``val_cos_next`` and
            ``val_cos_anchor`` (and the ``start_*`` figures when selecting on retrieval).
        monitor: the metric whose maximum picks the best epoch.
        hard_drift: whether the hard orthogonal-drift rule fired during training.

    Returns:
        ``verdict``'s dict plus ``best_epoch`` (1-based; 0: the starting model was kept, with
        ``kept_start`` and the reason); FAIL with ``best_epoch`` None when no epoch logged a finite
        ``monitor``.
    """
    epoch = selected_epoch(history, monitor)
    if epoch is None:
        return {"status": FAIL, "reasons": [f"no finite {monitor} was logged"], "metrics": {}, "best_epoch": None}
    if epoch == START_EPOCH:
        result = verdict({name: history[START_PREFIX + name][-1] for name in VERDICT_METRICS}, hard_drift)
        result["reasons"].insert(0, KEPT_START)
        result["kept_start"] = True
    else:
        result = verdict({name: history[f"val_{name}"][epoch - 1] for name in VERDICT_METRICS}, hard_drift)
    result["best_epoch"] = epoch
    if _gain_low_key(monitor) in history:
        low = None if epoch == START_EPOCH else float(history[_gain_low_key(monitor)][epoch - 1])
        result["learned_gain"] = {
            "judgement": "no learned gain" if low is None else "learned gain: yes",
            "over": "the starting model", "metric": monitor, "split": "validation",
            "gain_low": low, "rule": "an epoch replaces the starting model only when the lower bound of the 95% "
            "interval of its gain (paired bootstrap over the validation articles) is above 0"}
    return result


# ---------------------------------------------------------------- issue 11: selection and λ range
def patience_stop(history: Mapping, monitor: str, patience: int) -> str | None:
    """Why a run stops early: ``patience`` epochs have passed without a new best ``monitor``, or None.

    The best epoch is :func:`best_epoch`'s (a tie is no improvement); with ``patience`` 0 a run never
    stops early. The history may include a resumed run's earlier epochs.

    Example:

        ```python
        patience_stop({"val_R@5": [0.2, 0.4, 0.3, 0.35]}, "val_R@5", 2)
        # 'val_R@5 has not improved for 2 epochs (best 0.4000 at epoch 2): training stops (patience 2)'
        patience_stop({"val_R@5": [0.2, 0.4, 0.3]}, "val_R@5", 2)  # None
        ```

    Args:
        history: metric name -> per-epoch values so far.
        monitor: the selected metric (maximised).
        patience: epochs allowed without improvement (0: never stop).

    Returns:
        The message, or None while training should go on.
    """
    epochs = len(_series(history, monitor))
    if int(patience) <= 0 or not epochs:
        return None
    best = best_epoch(history, monitor)  # an epoch not beyond noise over the start is no improvement
    waited = epochs if best is None else epochs - 1 - best
    if waited < int(patience):
        return None
    if best is not None:
        seen = f"best {float(history[monitor][best]):.4f} at epoch {best + 1}"
    else:
        seen = "no epoch beyond noise over the starting model" if _gain_low_key(monitor) in history else \
            "no finite value"
    return f"{monitor} has not improved for {waited} epochs ({seen}): training stops (patience {patience})"


def lambda_range_notes(anchor_lambda_min: float, anchor_lambda_max: float) -> list[str]:
    """A note when the anchor's λ range reaches outside the spec's ``[0.6, 0.9]`` (empty otherwise).

    Example:

        ```python
        lambda_range_notes(0.6, 0.9)   # []
        lambda_range_notes(0.3, 0.9)   # ['λ range [0.3, 0.9] is outside the spec's [0.6, 0.9]: ...']
        ```

    Args:
        anchor_lambda_min, anchor_lambda_max: the run's λ bounds.

    Returns:
        Zero or one note for the verdict.
    """
    low, high = DEFAULTS.anchor_lambda_min, DEFAULTS.anchor_lambda_max
    if low <= float(anchor_lambda_min) and float(anchor_lambda_max) <= high:
        return []
    return [f"λ range [{float(anchor_lambda_min):g}, {float(anchor_lambda_max):g}] is outside the spec's [{low}, {high}]: "
            "this run is not the spec's model"]


# ------------------------------------------------------------------------------- good model (sec. 8)
def good_model_limits() -> dict[str, tuple[float, bool]]:
    """What spec section 8 expects of a good model's directional test: name -> (limit, at least?).

    cos_next and margin share the PASS levels of section 6; cos_prev has its own ceiling.

    Example:

        ```python
        good_model_limits()["cos_prev"]  # (0.2, False): cos_prev <= 0.20
        ```

    Returns:
        ``{"cos_next": (0.45, True), "cos_prev": (0.20, False), "margin": (0.20, True)}`` with the
        defaults; ``True`` means "at least", ``False`` "at most".
    """
    return {
        "cos_next": (DEFAULTS.pass_cos_next, True),
        "cos_prev": (DEFAULTS.good_model_cos_prev_max, False),
        "margin": (DEFAULTS.pass_margin, True),
    }


def good_model_checks(directional: Mapping) -> dict[str, bool]:
    """Which of the good-model figures of spec section 8 the directional metrics meet.

    A value exactly on a limit meets it; NaN meets none; names missing from ``directional`` are left out.

    Example:

        ```python
        good_model_checks({"cos_next": 0.5, "cos_prev": 0.25, "margin": 0.25})
        # {'cos_next': True, 'cos_prev': False, 'margin': True}
        ```

    Args:
        directional: ``cos_next``, ``cos_prev`` and ``margin`` (means over the test sequences).

    Returns:
        name -> whether it meets its limit.
    """
    checks = {}
    for name, (limit, at_least) in good_model_limits().items():
        if name in directional:
            value = float(directional[name])
            checks[name] = bool(value >= limit if at_least else value <= limit) and not math.isnan(value)
    return checks


def describe_good_model(ge: str = ">=", le: str = "<=") -> str:
    """The good-model figures as one phrase, e.g. ``cos_next >= 0.45, cos_prev <= 0.20, margin >= +0.20``.

    Example:

        ```python
        describe_good_model(ge="&ge;", le="&le;")  # for HTML
        ```

    Args:
        ge: the "at least" sign to print.
        le: the "at most" sign to print.

    Returns:
        The phrase.
    """
    parts = []
    for name, (limit, at_least) in good_model_limits().items():
        sign = "+" if name == "margin" else ""
        parts.append(f"{name} {ge if at_least else le} {sign}{limit:.2f}")
    return ", ".join(parts)


def quality_criteria(directional: Mapping) -> dict:
    """The two named judgements of a model's directional figures, side by side (issue 13).

    ``verdict`` is spec section 6's PASS / MARGINAL / FAIL (margin, cos_next, cos_anchor): the rule that
    decides a run, the same as training's ``verdict.json`` (there on the validation split). ``good_model``
    is section 8's reference figures (cos_next, cos_prev, margin): stricter where they differ (cos_prev),
    shown, never deciding. Shipping is decided by the ship gate (retrieval against DIRECT).

    Example:

        ```python
        quality_criteria({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.45, "cos_prev": 0.25})
        # {'verdict': {'status': 'PASS', ...}, 'good_model': {'cos_next': True, 'cos_prev': False, 'margin': True}}
        ```

    Args:
        directional: ``margin``, ``cos_next``, ``cos_prev`` and ``cos_anchor``.

    Returns:
        ``{"verdict": verdict(...), "good_model": good_model_checks(...)}``.
    """
    return {"verdict": verdict({name: directional[name] for name in VERDICT_METRICS}),
            "good_model": good_model_checks(directional)}


def describe_criteria(ge: str = ">=", le: str = "<=") -> str:
    """One note naming the two criteria and which decides, for the console and the HTML report."""
    d = DEFAULTS
    return (f"verdict = spec section 6 (PASS: margin {ge} {d.pass_margin:.2f}, cos_next {ge} {d.pass_cos_next:.2f}, "
            f"cos_anchor {ge} {d.pass_cos_anchor:.2f}; MARGINAL: {d.marginal_margin:.2f} / {d.marginal_cos_next:.2f}"
            f" / {d.marginal_cos_anchor:.2f}), the rule training's verdict.json uses: it decides. good = spec "
            f"section 8's reference figures ({describe_good_model(ge, le)}), shown, not deciding. Shipping: the "
            "ship gate.")
