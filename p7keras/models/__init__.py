"""P7 ranker models (importing this room registers every p7keras model and layer with Keras)."""

from __future__ import annotations

from p7keras.models.flat import FlatP7Ranker
from p7keras.models.lstm import LSTMP7Ranker
from p7keras.models.ranker import METRIC_NAMES, P7Ranker
from p7keras.models.saving import load_model
from p7keras.models.transformer import TransformerP7Ranker

__all__ = ["FlatP7Ranker", "LSTMP7Ranker", "METRIC_NAMES", "MODEL_CLASSES", "P7Ranker", "TransformerP7Ranker",
           "load_model"]

# ``model_type`` (``p7keras.config.MODEL_TYPES``) -> class
MODEL_CLASSES = {"transformer": TransformerP7Ranker, "lstm": LSTMP7Ranker, "flat": FlatP7Ranker}
