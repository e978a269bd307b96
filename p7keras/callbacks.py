"""Training callbacks for P7 rankers, usable with a plain ``model.fit``.

* ``TeacherWarmup``: the teacher term on for the first epochs (``P7Ranker.fit`` adds one itself).
* ``P7Monitor``: every monitoring rule of spec section 6, each warning printed once with its suggested
  action, the hard-drift stop, and the final PASS / MARGINAL / FAIL verdict with its reasons.
* ``NaNGuard``: stops at the first non-finite loss, naming the epoch and batch.
* ``BestModelCheckpoint``: keeps the model of the highest ``val_margin`` (written atomically).
* ``HistoryWriter``: ``history.json`` after every epoch, carried on across resumed runs.
* ``EpochProgress``: a compact progress bar (loss, margin, cos_anchor).

Example:

>>> callbacks = p7keras.callbacks.default_callbacks(warmup_epochs=2)  # doctest: +SKIP
>>> model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)  # doctest: +SKIP
>>> callbacks[1].verdict  # doctest: +SKIP
{'status': 'PASS', 'reasons': [...], ...}
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys

import numpy as np

import keras

from p7keras.config import DEFAULTS
from p7keras.io import atomic_path, write_json


@keras.saving.register_keras_serializable(package="p7keras")
class TeacherWarmup(keras.callbacks.Callback):
    """Switches the teacher term on for the first ``warmup_epochs`` epochs, off after.

    It sets the model's non-trainable ``teacher_active`` variable at the start of each epoch, so the
    switch works inside compiled (XLA / jit) steps and follows the absolute epoch on resumed runs.

    Example:

    >>> model.fit(ds, epochs=10, callbacks=[TeacherWarmup(warmup_epochs=2)])  # doctest: +SKIP

    Args:
        warmup_epochs: number of leading epochs with the teacher on.
    """

    def __init__(self, warmup_epochs: int = DEFAULTS.warmup_epochs):
        super().__init__()
        if int(warmup_epochs) < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.warmup_epochs = int(warmup_epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.teacher_active.assign(1.0 if epoch < self.warmup_epochs else 0.0)

    def get_config(self):
        return {"warmup_epochs": self.warmup_epochs}


# --------------------------------------------------------------------------------- monitoring rules
@dataclasses.dataclass(frozen=True)
class MonitorWarning:
    """One fired monitoring rule: which, at which epoch, what was seen and what to do."""

    rule: str
    epoch: int
    message: str
    action: str
    stop: bool = False

    def __str__(self) -> str:
        return f"[p7keras] epoch {self.epoch + 1}: {self.message}. Suggested action: {self.action}."


@dataclasses.dataclass(frozen=True)
class MonitorSettings:
    """Thresholds of the monitoring rules (spec section 6) and what they need to know of the run."""

    warmup_epochs: int = DEFAULTS.warmup_epochs
    lambda_min: float = DEFAULTS.anchor_lambda_min
    lambda_max: float = DEFAULTS.anchor_lambda_max
    lambda_learnable: bool = DEFAULTS.anchor_learnable
    drift_warn: float = DEFAULTS.drift_warn_cos_anchor
    drift_stop: float = DEFAULTS.drift_stop_cos_anchor
    overpull_cos_next: float = DEFAULTS.teacher_overpull_cos_next
    poor_data_gate_weight: float = DEFAULTS.poor_data_gate_weight
    lambda_tolerance: float = DEFAULTS.lambda_bound_tolerance
    # teacher_violations at the last warm-up epoch still >= this share of its first-epoch value
    teacher_still_high_share: float = 0.5


def _series(history: dict, key: str) -> list[float]:
    return [float(v) for v in history.get(key, [])]


def _last_two(values: list[float], condition) -> bool:
    return len(values) >= 2 and condition(values[-1]) and condition(values[-2])


def check_rules(history: dict, epoch: int, settings: MonitorSettings = MonitorSettings()) -> list[MonitorWarning]:
    """Applies the monitoring rules of spec section 6 after ``epoch`` (0-based).

    Example:

    >>> check_rules({"val_cos_anchor": [0.08], "val_margin": [0.1]}, epoch=0)[0].rule
    'orthogonal_drift'

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
    violations = _series(history, "teacher_violations")
    if s.warmup_epochs > 0 and epoch == s.warmup_epochs - 1 and violations:
        first, last = violations[0], violations[-1]
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
    low, high, tol = s.lambda_min, s.lambda_max, s.lambda_tolerance
    if s.lambda_learnable and _last_two(lam, lambda v: v <= low * (1 + tol) or v >= high * (1 - tol)):
        side = "lower" if lam[-1] <= low * (1 + tol) else "upper"
        fired.append(MonitorWarning(
            "lambda_at_bound", epoch,
            f"learnable λ {lam[-1]:.4f} is within 1% of its {side} bound [{low}, {high}] for two epochs",
            "adjust the λ range",
        ))
    return fired


def verdict(metrics: dict, hard_drift: bool = False) -> dict:
    """PASS / MARGINAL / FAIL of spec section 6 for validation metrics (the best epoch's).

    Example:

    >>> verdict({"margin": 0.25, "cos_next": 0.5, "cos_anchor": 0.45})["status"]
    'PASS'

    Args:
        metrics: ``margin``, ``cos_next`` and ``cos_anchor`` (validation values, no ``val_`` prefix).
        hard_drift: whether the hard orthogonal-drift rule fired during training.

    Returns:
        ``{"status": ..., "reasons": [...], "metrics": {...}}``; the reasons name every threshold missed.
    """
    d = DEFAULTS
    levels = {
        "PASS": (d.pass_margin, d.pass_cos_next, d.pass_cos_anchor),
        "MARGINAL": (d.marginal_margin, d.marginal_cos_next, d.marginal_cos_anchor),
    }
    values = {k: float(metrics[k]) for k in ("margin", "cos_next", "cos_anchor")}
    reasons = {}
    for status, thresholds in levels.items():
        missed = [
            f"{name} {values[name]:.3f} < {threshold}"
            for name, threshold in zip(("margin", "cos_next", "cos_anchor"), thresholds)
            if not values[name] >= threshold
        ]
        if status == "PASS" and hard_drift:
            missed.append("hard orthogonal drift during training")
        reasons[status] = missed
        if not missed:
            met = [f"{n} {values[n]:.3f} >= {t}" for n, t in zip(values, thresholds)]
            return {"status": status, "reasons": met + reasons.get("PASS", []), "metrics": values}
    return {"status": "FAIL", "reasons": reasons["MARGINAL"], "metrics": values}


def best_epoch(history: dict, monitor: str = "val_margin") -> int | None:
    """Index of the epoch with the highest finite ``monitor`` value, or None if there is none."""
    values = np.array(_series(history, monitor), dtype="float64")
    if not len(values) or not np.isfinite(values).any():
        return None
    return int(np.nanargmax(np.where(np.isfinite(values), values, np.nan)))


class P7Monitor(keras.callbacks.Callback):
    """Applies the monitoring rules after every epoch and gives the verdict at the end of training.

    Each rule's warning is printed once (to ``stream``), plainly, with its suggested action; the hard
    orthogonal-drift rule also stops training. After training ``self.verdict`` holds the verdict of the
    best epoch (highest ``val_margin``).

    Example:

    >>> monitor = P7Monitor(warmup_epochs=2)
    >>> model.fit(train, validation_data=val, epochs=10, callbacks=[monitor])  # doctest: +SKIP
    >>> monitor.verdict["status"]  # doctest: +SKIP

    Args:
        warmup_epochs, lambda_min, lambda_max, lambda_learnable: facts of the run; taken from the
            model at the start of training when left None.
        history: metrics of epochs finished before this ``fit`` (a resumed run).
        stream: where warnings go (default ``sys.stderr``).
    """

    def __init__(self, warmup_epochs=None, lambda_min=None, lambda_max=None, lambda_learnable=None,
                 history: dict | None = None, stream=None):
        super().__init__()
        self._given = dict(warmup_epochs=warmup_epochs, lambda_min=lambda_min, lambda_max=lambda_max,
                           lambda_learnable=lambda_learnable)
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.stream = stream
        self.warnings: list[MonitorWarning] = []
        self.hard_drift = False
        self.verdict: dict | None = None

    def _settings(self) -> MonitorSettings:
        model = self.model
        facts = {
            "warmup_epochs": getattr(model, "warmup_epochs", DEFAULTS.warmup_epochs),
            "lambda_min": getattr(getattr(model, "anchor", None), "lambda_min", DEFAULTS.anchor_lambda_min),
            "lambda_max": getattr(getattr(model, "anchor", None), "lambda_max", DEFAULTS.anchor_lambda_max),
            "lambda_learnable": getattr(getattr(model, "anchor", None), "learnable", DEFAULTS.anchor_learnable),
        }
        facts.update({k: v for k, v in self._given.items() if v is not None})
        return MonitorSettings(**facts)

    def on_train_begin(self, logs=None):
        self.settings = self._settings()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        seen = {w.rule for w in self.warnings}
        for warning in check_rules(self.history, epoch, self.settings):
            if warning.stop:
                self.hard_drift = True
                self.model.stop_training = True
            if warning.rule not in seen:
                self.warnings.append(warning)
                print(warning, file=self.stream or sys.stderr, flush=True)

    def on_train_end(self, logs=None):
        epoch = best_epoch(self.history)
        if epoch is None:
            self.verdict = {"status": "FAIL", "reasons": ["no finite val_margin was logged"], "metrics": {}}
        else:
            best = {k: self.history[f"val_{k}"][epoch] for k in ("margin", "cos_next", "cos_anchor")}
            self.verdict = verdict(best, self.hard_drift)
            self.verdict["best_epoch"] = epoch + 1
        self.verdict["warnings"] = [dataclasses.asdict(w) for w in self.warnings]


# ----------------------------------------------------------------------------------- fault guards
class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss; the message names the epoch and batch."""


class NaNGuard(keras.callbacks.Callback):
    """Raises ``NonFiniteLossError`` at the first non-finite batch loss, before anything is saved.

    Raising (rather than Keras' ``TerminateOnNaN`` stop) ends ``fit`` before the epoch-end callbacks
    run, so no checkpoint or backup is ever written from NaN weights.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"non-finite loss ({float(loss)}) at epoch {self._epoch + 1}, batch {batch + 1}: training "
                "stopped; checkpoints from earlier epochs are intact. Lower the learning rate or check "
                "the data (p7keras data inspect)."
            )


# ------------------------------------------------------------------------------------- run files
class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever ``monitor`` (default ``val_margin``) reaches a new maximum.

    The file is written to a temporary name and renamed, so an interrupted save never leaves a
    half-written checkpoint. ``best`` carries the best value of earlier (resumed) epochs.

    Args:
        filepath: the ``.keras`` file.
        monitor: the logged metric to maximise.
        best: best value seen before this ``fit`` (resume), or None.
    """

    def __init__(self, filepath: str, monitor: str = "val_margin", best: float | None = None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.best = -math.inf if best is None else float(best)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)) and float(value) > self.best:
            self.best = float(value)
            with atomic_path(self.filepath) as tmp:
                self.model.save(tmp)


class HistoryWriter(keras.callbacks.Callback):
    """Writes every epoch's training and validation metrics (and λ) to a JSON file after each epoch.

    Args:
        filepath: the ``history.json`` path.
        history: metrics of earlier epochs (resumed run); new epochs are appended.
    """

    def __init__(self, filepath: str, history: dict | None = None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["epoch"] = epoch + 1
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        write_json(self.filepath, self.history)


class EpochProgress(keras.callbacks.Callback):
    """A progress bar per epoch showing only ``loss``, ``margin`` and ``cos_anchor`` (and val_ ones).

    Use it with ``fit(verbose=0)``.
    """

    KEYS = ("loss", "margin", "cos_anchor")

    def __init__(self, epochs: int, steps: int | None = None):
        super().__init__()
        self.epochs = epochs
        self.steps = steps

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self.bar = keras.utils.Progbar(self.steps, stateful_metrics=self.KEYS)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1, [(k, float(logs[k])) for k in self.KEYS if k in (logs or {})])

    def on_epoch_end(self, epoch, logs=None):
        keys = self.KEYS + tuple(f"val_{k}" for k in self.KEYS)
        values = [(k, float(logs[k])) for k in keys if k in (logs or {})]
        self.bar.update(self.bar._seen_so_far, values, finalize=True)


def default_callbacks(
    warmup_epochs: int = DEFAULTS.warmup_epochs,
    run_dir: str | None = None,
    history: dict | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks a P7 training run wants: warm-up, NaN guard, monitor (+ run files).

    Example:

    >>> callbacks = default_callbacks(warmup_epochs=2, run_dir="saved_models/run")  # doctest: +SKIP
    >>> model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)  # doctest: +SKIP

    Args:
        warmup_epochs: epochs with the teacher term on.
        run_dir: when given, also keep ``best.keras`` (highest val margin) and ``history.json`` there.
        history: metrics of earlier epochs (a resumed run).

    Returns:
        ``[TeacherWarmup, NaNGuard, P7Monitor, (BestModelCheckpoint, HistoryWriter)]``.
    """
    callbacks = [TeacherWarmup(warmup_epochs), NaNGuard(), P7Monitor(warmup_epochs=warmup_epochs, history=history)]
    if run_dir is not None:
        previous = (history or {}).get("val_margin") or []
        finite = [v for v in previous if math.isfinite(v)]
        callbacks.append(BestModelCheckpoint(os.path.join(run_dir, "best.keras"), best=max(finite, default=None)))
        callbacks.append(HistoryWriter(os.path.join(run_dir, "history.json"), history=history))
    return callbacks
