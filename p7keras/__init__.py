"""p7keras: P7 "directional ranker" latent vector models for Keras 3 (TensorFlow, JAX, PyTorch).

Example:

>>> import p7keras
>>> model = p7keras.TransformerP7Ranker(context_length=5)  # doctest: +SKIP
>>> model.compile()  # doctest: +SKIP
>>> model.fit(train_batches, validation_data=val_batches, epochs=10)  # doctest: +SKIP

Names are imported on first use, so ``p7keras`` (and the ``p7keras`` command) can choose the Keras
backend before Keras itself is imported.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "DEFAULTS": "p7keras.config",
    "P7Ranker": "p7keras.models",
    "TransformerP7Ranker": "p7keras.models",
    "LSTMP7Ranker": "p7keras.models",
    "evaluate": "p7keras.evaluation",
    "train": "p7keras.training",
    "TrainConfig": "p7keras.training",
}
_SUBMODULES = ("callbacks", "config", "data", "evaluation", "layers", "losses", "models", "training")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"p7keras.{name}")
    else:
        raise AttributeError(f"module 'p7keras' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
