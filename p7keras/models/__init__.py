"""P7 ranker models (importing this room registers every p7keras model and layer with Keras)."""

from __future__ import annotations

import os

import keras

from p7keras.models.flat import FlatP7Ranker
from p7keras.models.lstm import LSTMP7Ranker
from p7keras.models.ranker import METRIC_NAMES, P7Ranker
from p7keras.models.transformer import TransformerP7Ranker

__all__ = ["FlatP7Ranker", "LSTMP7Ranker", "METRIC_NAMES", "MODEL_CLASSES", "P7Ranker", "TransformerP7Ranker",
           "load_model"]

# ``model_type`` (``p7keras.config.MODEL_TYPES``) -> class
MODEL_CLASSES = {"transformer": TransformerP7Ranker, "lstm": LSTMP7Ranker, "flat": FlatP7Ranker}


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """Loads a ``.keras`` file written by p7keras (or any Keras model), with p7keras' classes registered.

    Example:

        model = p7keras.load_model("saved_models/p7_20260101-120000/best.keras")
        predictions = model.predict(contexts)

    Args:
        path: the ``.keras`` file.
        compile: restore the compiled state (optimizer, loss settings) too.

    Returns:
        The model, loaded with Keras' ``safe_mode`` (no arbitrary code is run).
    """
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
