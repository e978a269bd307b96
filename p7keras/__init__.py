"""p7keras: P7 "directional ranker" latent vector models for Keras 3 (TensorFlow, JAX, PyTorch).

Example:

    import p7keras
    model = p7keras.TransformerP7Ranker(context_length=5)
    model.compile()
    model.fit(train_batches, validation_data=val_batches, epochs=10,
              callbacks=p7keras.callbacks.default_callbacks())
    model = p7keras.load_model("saved_models/p7_20260101-120000/best.keras")

``import p7keras`` is light (no Keras, no TensorFlow): every public name loads its room on first use,
so the command line starts in a fraction of a second. The models and layers register themselves with
Keras when ``p7keras.models`` or ``p7keras.layers`` is first used (any model class, or
``p7keras.load_model``); to read a ``.keras`` file with ``keras.saving.load_model`` directly, call
``p7keras.load_model`` instead or ``import p7keras.models`` first.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it, imported on first use
_LAZY = {
    "DEFAULTS": "p7keras.config",
    "FlatP7Ranker": "p7keras.models",
    "LSTMP7Ranker": "p7keras.models",
    "P7Ranker": "p7keras.models",
    "Predictor": "p7keras.evaluation.predictors",
    "TransformerP7Ranker": "p7keras.models",
    "load_model": "p7keras.models.saving",
    "evaluate": "p7keras.evaluation",
    "train": "p7keras.training",
    "TrainConfig": "p7keras.training",
}
_LAZY_SUBMODULES = ("callbacks", "data", "evaluation", "layers", "losses", "models", "training", "verdict")

__all__ = sorted([*_LAZY, *_LAZY_SUBMODULES, "__version__"])


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
