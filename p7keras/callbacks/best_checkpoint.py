"""``BestModelCheckpoint``: the model of the highest selected metric, written atomically."""

from __future__ import annotations

import os

import keras

from p7keras.callbacks.retrieval import RETRIEVAL_METRICS
from p7keras.io import save_model
from p7keras.verdict import best_epoch


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model of the selected epoch (:func:`p7keras.verdict.best_epoch`), atomically.

    On ``val_margin`` that is every new maximum. On a retrieval metric (``val_R@5``, ``val_MRR@10``) the
    starting model is saved before the first epoch and an epoch replaces it only when its validation
    gain over the start is above noise (``RetrievalMetrics`` logs the interval's lower bound); so a run
    where no epoch beats its start keeps the starting model. The file is written to a temporary name
    and renamed, so an interrupted save never leaves a half-written checkpoint. ``history`` carries the
    earlier epochs of a resumed run.

    Args:
        filepath: the ``.keras`` file.
        monitor: the logged metric to maximise.
        history: metric name -> values of earlier (resumed) epochs, or None.
    """

    def __init__(self, filepath: str, monitor: str = "val_margin", history: dict | None = None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.history = {key: list(values) for key, values in (history or {}).items() if isinstance(values, list)}

    def on_train_begin(self, logs=None):
        if self.monitor in RETRIEVAL_METRICS and not self.history and not os.path.exists(self.filepath):
            save_model(self.model, self.filepath, optimizer=False)  # the starting model, until an epoch beats it

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        epochs = len(self.history.get(self.monitor, []))
        if epochs and best_epoch(self.history, self.monitor) == epochs - 1:
            save_model(self.model, self.filepath, optimizer=False)  # for evaluation: weights only
