"""p7keras: P7 "directional ranker" latent vector models for Keras 3 (TensorFlow, JAX, PyTorch).

Example:

>>> import p7keras
>>> model = p7keras.TransformerP7Ranker(context_length=5)  # doctest: +SKIP
>>> model.compile()  # doctest: +SKIP
>>> model.fit(train_batches, validation_data=val_batches, epochs=10)  # doctest: +SKIP

Importing p7keras registers its layers and models with Keras, so ``keras.saving.load_model`` reads
``.keras`` files written by p7keras. The heavier rooms (``data``, ``evaluation``, ``training``) load on
first use.
"""

from __future__ import annotations

import importlib

from p7keras import callbacks, layers, losses, models
from p7keras.config import DEFAULTS
from p7keras.models import LSTMP7Ranker, P7Ranker, TransformerP7Ranker

__version__ = "0.1.0"

# public name -> module that defines it, imported on first use
_LAZY = {
    "evaluate": "p7keras.evaluation",
    "train": "p7keras.training",
    "TrainConfig": "p7keras.training",
}
_LAZY_SUBMODULES = ("data", "evaluation", "training")

__all__ = [
    "DEFAULTS",
    "LSTMP7Ranker",
    "P7Ranker",
    "TrainConfig",
    "TransformerP7Ranker",
    "__version__",
    "callbacks",
    "data",
    "evaluate",
    "evaluation",
    "layers",
    "losses",
    "models",
    "train",
    "training",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_SUBMODULES:
        value = importlib.import_module(f"p7keras.{name}")
    else:
        raise AttributeError(f"module 'p7keras' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
