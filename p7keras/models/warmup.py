"""The teacher warm-up: what switches the model's teacher term during training (spec section 4).

``P7Ranker.fit`` adds a ``TeacherWarmup`` itself; ``p7keras.callbacks`` re-exports it for runs that pass
their own callbacks.
"""

from __future__ import annotations

import keras

from p7keras.config import DEFAULTS


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
