"""Training callbacks for P7 rankers, usable with a plain ``model.fit``.

The callbacks watch training; the rules they apply (monitoring, best epoch, PASS / MARGINAL / FAIL)
live in :mod:`p7keras.verdict` as pure functions.

* ``TeacherWarmup``: the teacher term on for the first epochs (``P7Ranker.fit`` adds one itself).
* ``P7Monitor``: every monitoring rule of spec section 6, each warning printed once with its suggested
  action, the hard-drift stop, and the final PASS / MARGINAL / FAIL verdict with its reasons.
* ``NaNGuard``: stops at the first non-finite loss, naming the epoch and batch.
* ``RetrievalMetrics``: ``val_R@1``, ``val_R@5``, ``val_R@10`` and ``val_MRR@10`` (protocol ``all``) as
  epoch metrics, so a run can select (and stop) on them.
* ``BestModelCheckpoint``: keeps the model of the highest selected metric (default ``val_margin``,
  written atomically).
* ``HistoryWriter``: ``history.json`` after every epoch, carried on across resumed runs.
* ``EpochProgress``: a compact progress bar (loss, margin, cos_anchor).
* ``default_callbacks``: the set a P7 run wants, as a ``P7Callbacks`` list with named members.

Example:

    ```python
    callbacks = p7keras.callbacks.default_callbacks(warmup_epochs=2)
    model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
    callbacks.monitor.verdict  # {'status': 'PASS', 'reasons': [...], ...}
    ```
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import time

import typing

import keras
from keras.src import tree as _keras_tree

import numpy as np

from p7keras.config import DEFAULTS, SELECT_METRICS
from p7keras.evaluation.predictors import DEFAULT_BATCH_SIZE, load_predictor
from p7keras.evaluation.retrieval import ALL, METRIC_NAMES, rank_queries, retrieval_metrics
from p7keras.evaluation.vectors import blocks
from p7keras.io import save_model, write_json

# The rules moved to p7keras.verdict; these names stay importable from here.
from p7keras.verdict import (  # noqa: F401
    VIOLATIONS_END_KEY,
    VIOLATIONS_START_KEY,
    MonitorSettings,
    MonitorWarning,
    best_epoch,
    check_rules,
    history_verdict,
    lambda_range_notes,
    patience_stop,
    verdict,
)

if typing.TYPE_CHECKING:
    from p7keras.data import SequenceSet


@keras.saving.register_keras_serializable(package="p7keras")
class TeacherWarmup(keras.callbacks.Callback):
    """Switches the teacher term on for the first ``warmup_epochs`` epochs, off after.

    It sets the model's non-trainable ``teacher_active`` variable at the start of each epoch, so the
    switch works inside compiled (XLA / jit) steps and follows the absolute epoch on resumed runs.

    Example:

        ```python
        model.fit(ds, epochs=10, callbacks=[TeacherWarmup(warmup_epochs=2)])
        ```

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


# ---------------------------------------------------------------------------- validation retrieval
RETRIEVAL_PREFIX = "val_"
# The names RetrievalMetrics logs: val_R@1, val_R@5, val_R@10, val_MRR@10.
RETRIEVAL_METRICS = tuple(RETRIEVAL_PREFIX + name for name in METRIC_NAMES)


def retrieval_scores(model, sequences: SequenceSet, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, float]:
    """R@1, R@5, R@10 and MRR@10 of ``model`` on ``sequences`` under protocol ``all`` (spec section 8).

    The same code as ``p7keras.evaluate`` (``load_predictor``, ``rank_queries``, ``retrieval_metrics``):
    every sequence's prediction is ranked against the split's bank of chunks, the context included.

    Example:

        retrieval_scores(model, splits.val)["R@5"]  # 0.42

    Args:
        model: a ``keras.Model`` (or anything ``p7keras.evaluation.load_predictor`` takes).
        sequences: the sequence set; its bank is the candidate set.
        batch_size: prediction batch size.

    Returns:
        ``{"R@1", "R@5", "R@10", "MRR@10"}`` as floats.
    """
    predictor = load_predictor(model, batch_size=batch_size)
    rows = sequences.context_rows
    queries = np.empty((len(sequences), sequences.dim), dtype=np.float32)
    for part in blocks(len(sequences)):
        queries[part] = predictor.predict(sequences.bank[rows[part]])
    ranks = rank_queries(queries, sequences.bank, sequences.target_rows, rows)
    return retrieval_metrics(ranks[ALL])


class RetrievalMetrics(keras.callbacks.Callback):
    """Adds ``val_R@1``, ``val_R@5``, ``val_R@10`` and ``val_MRR@10`` (protocol ``all``) to the epoch logs.

    At the end of every epoch the model predicts every sequence of the validation split and each
    prediction is ranked against the split's bank (:func:`retrieval_scores`). Put it before the
    callbacks that read these metrics (``P7Monitor``, ``BestModelCheckpoint``, ``HistoryWriter``;
    ``default_callbacks`` does, and the tuner appends its own after the ones given to ``fit``).

    Example:

        model.fit(train, validation_data=val, callbacks=[RetrievalMetrics(splits.val)])

    Args:
        sequences: the validation split (``p7keras.data.SequenceSet``).
        batch_size: prediction batch size.

    Raises:
        ValueError: ``sequences`` is empty.
    """

    def __init__(self, sequences: SequenceSet, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__()
        if len(sequences) == 0:
            raise ValueError("RetrievalMetrics needs at least one validation sequence, got 0")
        self.sequences = sequences
        self.batch_size = int(batch_size)
        self.last: dict[str, float] = {}
        self._predictor = None  # compiled once per model; it predicts with the current weights

    def on_epoch_end(self, epoch, logs=None):
        if self._predictor is None or self._predictor.owner is not self.model:
            self._predictor = load_predictor(self.model, batch_size=self.batch_size)
        scores = retrieval_scores(self._predictor, self.sequences, self.batch_size)
        self.last = {RETRIEVAL_PREFIX + name: value for name, value in scores.items()}
        if logs is not None:
            logs.update(self.last)


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
            save_model(self.model, self.filepath, optimizer=False)  # for evaluation: weights only


class RestoreFrom(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that writes its own backup but restores, when training starts, another folder's.

    In a multi-process run every process saves what process 0 saves (saving is a collective step of
    all of them), each into its own folder, and all of them resume from process 0's backup.

    Example:

        model.fit(batches, epochs=4, callbacks=[RestoreFrom("/tmp/p7keras-process1/backup", "runs/p7_x/backup")])

    Args:
        backup_dir: where this process writes its backup.
        restore_dir: the backup folder read when training starts.
    """

    def __init__(self, backup_dir: str, restore_dir: str):
        super().__init__(backup_dir, double_checkpoint=True)
        self.restore_dir = os.fspath(restore_dir)

    def on_train_begin(self, logs=None):
        own = self._weights_path, self._training_metadata_path
        self._weights_path = os.path.join(self.restore_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.restore_dir, "training_metadata.json")
        try:
            self._load_model()
        finally:
            self._weights_path, self._training_metadata_path = own


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
    """Progress showing only ``loss``, ``margin`` and ``cos_anchor`` (and their val_ ones).

    On a terminal, a progress bar per epoch; otherwise (a log file, a pipe, CI) one line per epoch, as
    Keras' ``verbose=2``, so a log holds no control sequences. Use it with ``fit(verbose=0)``.

    Example:

        model.fit(train, validation_data=val, epochs=10, verbose=0, callbacks=[EpochProgress(10, len(train))])

    Args:
        epochs: the run's number of epochs (for "Epoch 3/10").
        steps: batches per epoch (the bar's length; None: unknown).
        stream: where to write (default ``sys.stdout``).
        interactive: draw bars (default: whether ``stream`` is a terminal).
    """

    KEYS = ("loss", "margin", "cos_anchor")

    def __init__(self, epochs: int, steps: int | None = None, stream=None, interactive: bool | None = None):
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.stream = stream
        self.interactive = interactive

    def _out(self):
        return self.stream or sys.stdout

    def _interactive(self) -> bool:
        if self.interactive is not None:
            return self.interactive
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self.bar = None
        if self._interactive():
            print(f"Epoch {epoch + 1}/{self.epochs}", file=self._out(), flush=True)
            self.bar = keras.utils.Progbar(self.steps, stateful_metrics=self.KEYS)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(batch + 1, [(k, float(logs[k])) for k in self.KEYS if k in (logs or {})])

    def on_epoch_end(self, epoch, logs=None):
        keys = self.KEYS + tuple(f"val_{k}" for k in self.KEYS)
        values = [(k, float(logs[k])) for k in keys if k in (logs or {})]
        if self.bar is not None:
            self.bar.update(self.bar._seen_so_far, values, finalize=True)
            return
        shown = " - ".join(f"{k} {v:.4f}" for k, v in values)
        print(f"Epoch {epoch + 1}/{self.epochs} - {time.perf_counter() - self._start:.1f}s - {shown}",
              file=self._out(), flush=True)


# Keras flattens ``fit(callbacks=...)`` with its tree module (optree / dm-tree / torch pytree), which treats
# an unregistered list subclass as one leaf; registered like Keras' own TrackedList, P7Callbacks flattens
# as a list. (``P7Ranker.fit`` passes a plain list on to Keras anyway.)
_register_tree_node = getattr(_keras_tree, "register_tree_node_class", lambda cls: cls)


class InterruptAtBatchEnd(keras.callbacks.Callback):
    """Ctrl-C during ``fit`` stops it at the end of the running batch, as a ``KeyboardInterrupt``.

    Python raises ``KeyboardInterrupt`` wherever the signal lands; inside a backend's C++ call (TensorFlow's
    TensorBoard summary writer at an epoch's end) it can be swallowed, and training went on. Under
    :func:`interrupt_at_batch_end` the signal is recorded instead and this callback raises at the next batch
    or epoch boundary; a second Ctrl-C raises at once.

    Example:

        with interrupt_at_batch_end() as interrupt:
            model.fit(batches, callbacks=[interrupt])
    """

    def __init__(self):
        super().__init__()
        self.pressed = False

    def press(self, signum=None, frame=None) -> None:
        """The SIGINT handler: record the first press, raise on the second."""
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def _check(self, *args, **kwargs) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_begin = on_epoch_end = _check


@contextlib.contextmanager
def interrupt_at_batch_end():
    """Yields an :class:`InterruptAtBatchEnd` that SIGINT presses while the block runs (main thread only)."""
    callback = InterruptAtBatchEnd()
    if threading.current_thread() is not threading.main_thread():
        yield callback
        return
    previous = signal.signal(signal.SIGINT, callback.press)
    try:
        yield callback
    finally:
        signal.signal(signal.SIGINT, previous)


@_register_tree_node
class P7Callbacks(list):
    """A list of callbacks whose P7 members are reachable by name; pass it straight to ``model.fit``.

    Each named attribute is the list's first callback of that class (None when it holds none), so the
    names stay right after ``append``, ``extend``, ``+=`` or ``+`` (which returns a ``P7Callbacks``
    too, on either side). Keras flattens it like a plain list on every backend.

    Example:

        ```python
        callbacks = default_callbacks(warmup_epochs=2, run_dir="saved_models/run")
        callbacks += [keras.callbacks.TensorBoard("saved_models/run/tensorboard")]
        model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
        callbacks.monitor.verdict["status"], callbacks.best_checkpoint.best
        ```
    """

    def _first(self, cls: type) -> keras.callbacks.Callback | None:
        return next((c for c in self if isinstance(c, cls)), None)

    @property
    def warmup(self) -> TeacherWarmup | None:
        """The ``TeacherWarmup``."""
        return self._first(TeacherWarmup)

    @property
    def nan_guard(self) -> NaNGuard | None:
        """The ``NaNGuard``."""
        return self._first(NaNGuard)

    @property
    def monitor(self) -> P7Monitor | None:
        """The ``P7Monitor`` (its ``verdict`` after training)."""
        return self._first(P7Monitor)

    @property
    def retrieval(self) -> RetrievalMetrics | None:
        """The ``RetrievalMetrics`` (None without validation sequences)."""
        return self._first(RetrievalMetrics)

    @property
    def best_checkpoint(self) -> BestModelCheckpoint | None:
        """The ``BestModelCheckpoint`` (None without a run directory)."""
        return self._first(BestModelCheckpoint)

    @property
    def history_writer(self) -> HistoryWriter | None:
        """The ``HistoryWriter`` (None without a run directory)."""
        return self._first(HistoryWriter)

    def __add__(self, other) -> P7Callbacks:
        return type(self)([*self, *other])

    def __radd__(self, other) -> P7Callbacks:
        return type(self)([*other, *self])

    def __repr__(self) -> str:
        return f"P7Callbacks({list.__repr__(self)})"

    # the tree-node protocol of Keras' tree module (optree / dm-tree, then torch pytree)
    def tree_flatten(self):
        return list(self), None

    @classmethod
    def tree_unflatten(cls, metadata, children):
        return cls(children)

    def torchtree_flatten(self):
        return list(self), None

    @classmethod
    def torchtree_unflatten(cls, children, metadata):
        return cls(children)

    def torchtree_flatten_with_keys(self):
        from torch.utils import _pytree as torch_tree  # noqa: PLC0415 (torch backend only)

        return [(torch_tree.SequenceKey(i), c) for i, c in enumerate(self)], None


def default_callbacks(
    warmup_epochs: int = DEFAULTS.warmup_epochs,
    run_dir: str | None = None,
    history: dict | None = None,
    validation: SequenceSet | None = None,
    select: str = DEFAULTS.select,
    patience: int = DEFAULTS.patience,
) -> P7Callbacks:
    """The callbacks a P7 training run wants: (retrieval,) warm-up, NaN guard, monitor (+ run files).

    Example:

        ```python
        callbacks = default_callbacks(warmup_epochs=2, run_dir="saved_models/run",
                                      validation=splits.val, select="val_R@5", patience=3)
        model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
        callbacks.monitor.verdict["status"], callbacks.monitor.verdict["best_by"]
        ```

    Args:
        warmup_epochs: epochs with the teacher term on.
        run_dir: when given, also keep ``best.keras`` (highest ``select``) and ``history.json`` there.
        history: metrics of earlier epochs (a resumed run).
        validation: the validation ``SequenceSet``; when given, ``RetrievalMetrics`` comes first and logs
            ``val_R@5`` / ``val_MRR@10`` every epoch.
        select: the metric that picks the best epoch (one of ``p7keras.config.SELECT_METRICS``).
        patience: epochs without a new best ``select`` before training stops (0: never).

    Returns:
        A ``P7Callbacks`` list ``[(RetrievalMetrics,) TeacherWarmup, NaNGuard, P7Monitor, (BestModelCheckpoint,
        HistoryWriter)]`` with the attributes ``retrieval``, ``warmup``, ``nan_guard``, ``monitor``,
        ``best_checkpoint`` and ``history_writer`` (None when left out).

    Raises:
        ValueError: an unknown ``select``, or a retrieval ``select`` without ``validation``.
    """
    if select not in SELECT_METRICS:
        raise ValueError(f"select must be one of {SELECT_METRICS}, got {select!r}")
    if select in RETRIEVAL_METRICS and validation is None:
        raise ValueError(f"select {select!r} needs the validation sequences (validation=...) to compute it")
    callbacks = P7Callbacks([] if validation is None else [RetrievalMetrics(validation)])
    callbacks += [TeacherWarmup(warmup_epochs), NaNGuard(),
                  P7Monitor(warmup_epochs=warmup_epochs, history=history, select=select, patience=patience)]
    if run_dir is not None:
        previous = (history or {}).get(select) or []
        finite = [v for v in previous if math.isfinite(v)]
        callbacks.append(BestModelCheckpoint(os.path.join(run_dir, "best.keras"), monitor=select,
                                             best=max(finite, default=None)))
        callbacks.append(HistoryWriter(os.path.join(run_dir, "history.json"), history=history))
    return callbacks
