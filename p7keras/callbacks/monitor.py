"""``P7Monitor``: every monitoring rule of spec section 6 after each epoch, and the verdict at the end.

The rules themselves are pure functions of :mod:`p7keras.verdict`; this callback only watches and calls them.
"""

from __future__ import annotations

import dataclasses
import sys

import keras

from p7keras.config import DEFAULTS
from p7keras.verdict import (
    VIOLATIONS_END_KEY,
    VIOLATIONS_START_KEY,
    MonitorSettings,
    MonitorWarning,
    check_rules,
    history_verdict,
    lambda_range_notes,
    patience_stop,
)

class P7Monitor(keras.callbacks.Callback):
    """Applies the monitoring rules after every epoch and gives the verdict at the end of training.

    Each rule's warning is printed once (to ``stream``), plainly, with its suggested action; the hard
    orthogonal-drift rule also stops training, and so does ``patience`` epochs without a new best
    ``select`` value. After training ``self.verdict`` holds the verdict of the best epoch (highest
    ``select``, by default ``val_margin``), with ``best_by`` naming it, and ``notes`` when λ's range
    reaches outside the spec's. The rules themselves are
    :func:`p7keras.verdict.check_rules`, :func:`p7keras.verdict.patience_stop` and
    :func:`p7keras.verdict.history_verdict`.

    During the warm-up epochs it also reads the batches' running ``teacher_violations`` and logs, per
    warm-up epoch, the first batch's value and the mean over the epoch's second half
    (``teacher_violations_start`` / ``teacher_violations_end`` in ``self.history``): with a 1-epoch
    warm-up the teacher rule compares these two.

    Example:

        ```python
        monitor = P7Monitor(warmup_epochs=2)
        model.fit(train, validation_data=val, epochs=10, callbacks=[monitor])
        monitor.verdict["status"]  # 'PASS', 'MARGINAL' or 'FAIL'
        ```

    Args:
        warmup_epochs, anchor_lambda_min, anchor_lambda_max, anchor_learnable: facts of the run; taken from the
            model at the start of training when left None.
        history: metrics of epochs finished before this ``fit`` (a resumed run).
        stream: where warnings go (default ``sys.stderr``).
        select: the logged metric whose maximum is the best epoch (``val_R@5`` and ``val_MRR@10`` need a
            :class:`RetrievalMetrics` before the monitor).
        patience: stop after this many epochs without a new best ``select`` (0: never).
    """

    def __init__(self, warmup_epochs=None, anchor_lambda_min=None, anchor_lambda_max=None, anchor_learnable=None,
                 history: dict | None = None, stream=None, select: str = DEFAULTS.select,
                 patience: int = DEFAULTS.patience):
        super().__init__()
        if int(patience) < 0:
            raise ValueError(f"patience must be >= 0 (0: no early stopping), got {patience!r}")
        self.select = select
        self.patience = int(patience)
        self.stopped_early: str | None = None
        self._given = dict(warmup_epochs=warmup_epochs, anchor_lambda_min=anchor_lambda_min, anchor_lambda_max=anchor_lambda_max,
                           anchor_learnable=anchor_learnable)
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.stream = stream
        self.warnings: list[MonitorWarning] = []
        self.hard_drift = False
        self.verdict: dict | None = None
        self._violations: list[float] | None = None  # running means of this warm-up epoch's batches

    def _settings(self) -> MonitorSettings:
        model = self.model
        anchor = getattr(model, "anchor", None)  # the SemanticAnchor layer: the same names
        facts = {"warmup_epochs": getattr(model, "warmup_epochs", DEFAULTS.warmup_epochs)}
        for name in ("anchor_lambda_min", "anchor_lambda_max", "anchor_learnable"):
            facts[name] = getattr(anchor, name, getattr(DEFAULTS, name))
        facts.update({k: v for k, v in self._given.items() if v is not None})
        return MonitorSettings(**facts)

    def on_train_begin(self, logs=None):
        self.settings = self._settings()
        self._replay_warnings()

    def _replay_warnings(self) -> None:
        """The warnings of the epochs a resumed run already finished (printed then; recorded again now)."""
        done = len(self.history.get("loss", []))
        for epoch in range(done):
            so_far = {key: values[:epoch + 1] for key, values in self.history.items()}
            for warning in check_rules(so_far, epoch, self.settings):
                if warning.rule not in {w.rule for w in self.warnings}:
                    self.warnings.append(warning)
                self.hard_drift = self.hard_drift or warning.stop

    def on_epoch_begin(self, epoch, logs=None):
        self._violations = [] if epoch < self.settings.warmup_epochs else None

    def on_train_batch_end(self, batch, logs=None):
        if self._violations is not None and "teacher_violations" in (logs or {}):
            self._violations.append(float(logs["teacher_violations"]))

    def _log_warmup_violations(self) -> None:
        """The warm-up epoch's first-batch violations and the mean over its second half, from running means.

        The running mean after ``n`` batches is ``m_n``; the second half's mean is
        ``(n m_n - h m_h) / (n - h)`` with ``h = n // 2`` (batches weigh alike; a smaller last batch
        shifts it slightly). An epoch of one batch has no start and end to compare and logs nothing.
        """
        means, self._violations = self._violations, None
        if not means or len(means) < 2:
            return
        n, h = len(means), len(means) // 2
        self.history.setdefault(VIOLATIONS_START_KEY, []).append(means[0])
        self.history.setdefault(VIOLATIONS_END_KEY, []).append(max(0.0, (n * means[-1] - h * means[h - 1]) / (n - h)))

    def on_epoch_end(self, epoch, logs=None):
        self._log_warmup_violations()
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
        stop = patience_stop(self.history, self.select, self.patience)
        total = (self.params or {}).get("epochs")
        last = total is not None and epoch + 1 >= int(total)  # nothing left to stop
        if stop is not None and not last:
            self.stopped_early = f"epoch {epoch + 1}: {stop}"
            self.model.stop_training = True
            print(f"[p7keras] {self.stopped_early}", file=self.stream or sys.stderr, flush=True)

    def on_train_end(self, logs=None):
        self.verdict = history_verdict(self.history, self.select, self.hard_drift)
        self.verdict["best_by"] = self.select
        if self.stopped_early is not None:
            self.verdict["stopped_early"] = self.stopped_early
        notes = lambda_range_notes(self.settings.anchor_lambda_min, self.settings.anchor_lambda_max)
        if notes:
            self.verdict["notes"] = notes
        # epochs count from 1 in every file, as on the console ("[p7keras] epoch 2: ...")
        self.verdict["warnings"] = [{**dataclasses.asdict(w), "epoch": w.epoch + 1} for w in self.warnings]
