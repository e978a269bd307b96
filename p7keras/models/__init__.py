"""P7 ranker models."""

from p7keras.models.lstm import LSTMP7Ranker
from p7keras.models.ranker import METRIC_NAMES, P7Ranker
from p7keras.models.transformer import TransformerP7Ranker

__all__ = ["LSTMP7Ranker", "METRIC_NAMES", "P7Ranker", "TransformerP7Ranker"]
