"""``BestModelCheckpoint``: the model of the highest selected metric, written atomically."""

from __future__ import annotations

import math
import os

import keras

from p7keras.io import save_model


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
