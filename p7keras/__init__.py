"""p7keras: P7 "directional ranker" latent vector models for Keras 3 (TensorFlow, JAX, PyTorch).

Example:

>>> import p7keras
>>> model = p7keras.TransformerP7Ranker(context_length=5)
>>> model.compile()
>>> model.fit(train_batches, validation_data=val_batches, epochs=10)  # doctest: +SKIP
"""

from p7keras import callbacks, layers, losses
from p7keras.config import DEFAULTS
from p7keras.models import LSTMP7Ranker, P7Ranker, TransformerP7Ranker

__version__ = "0.1.0"

__all__ = [
    "DEFAULTS",
    "LSTMP7Ranker",
    "P7Ranker",
    "TransformerP7Ranker",
    "__version__",
    "callbacks",
    "layers",
    "losses",
]
