"""``EpochProgress``: a compact progress bar (loss, margin, cos_anchor), or one line per epoch in a log."""

from __future__ import annotations

import sys
import time

import keras

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
