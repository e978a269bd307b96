"""``NaNGuard``: training stops at the first non-finite loss, naming the epoch and batch."""

from __future__ import annotations

import math

import keras

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
