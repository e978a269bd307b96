"""``InterruptAtBatchEnd``: Ctrl-C during ``fit`` stops it at the end of the running batch."""

from __future__ import annotations

import contextlib
import signal
import threading

import keras

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
