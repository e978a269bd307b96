"""``HistoryWriter``: ``history.json`` after every epoch, carried on across resumed runs."""

from __future__ import annotations

import os

import keras

from p7keras.io import write_json

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
