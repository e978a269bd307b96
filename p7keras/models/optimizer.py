"""The spec's optimiser, written once: ``P7Ranker.compile()`` and the training run both build it here."""

from __future__ import annotations

import keras

from p7keras.config import DEFAULTS


def default_optimizer(learning_rate: float = DEFAULTS.learning_rate,
                      weight_decay: float = DEFAULTS.weight_decay) -> keras.optimizers.AdamW:
    """AdamW clipped at the spec's global norm (``DEFAULTS.global_clipnorm``, 1.0).

    Example:

        >>> optimizer = default_optimizer(learning_rate=1e-3)
        >>> type(optimizer).__name__, optimizer.global_clipnorm
        ('AdamW', 1.0)

    Args:
        learning_rate: the step size (default ``DEFAULTS.learning_rate``, 5e-4).
        weight_decay: AdamW's decoupled weight decay (default ``DEFAULTS.weight_decay``, 1e-4).

    Returns:
        A new ``keras.optimizers.AdamW``.
    """
    return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay,
                                  global_clipnorm=DEFAULTS.global_clipnorm)
