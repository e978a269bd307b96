"""Learned positional embedding (trainable, initialised non-zero)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="p7keras")
class PositionalEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to a sequence ``(B, K, E)``.

    The table is initialised from ``RandomNormal(stddev=0.02)``, never zeros, and is trained with the
    model (a prototype of this design shipped an all-zero, frozen encoding).

    Example:

        layer = PositionalEmbedding(sequence_length=5)
        y = layer(np.zeros((2, 5, 16), "float32"))

    Args:
        sequence_length: the largest K the layer accepts.
        initializer: initializer of the ``(sequence_length, E)`` table
            (default ``RandomNormal(stddev=0.02)``).

    Returns:
        The input plus the embedding of each position, same shape.
    """

    def __init__(self, sequence_length: int, initializer=None, **kwargs):
        super().__init__(**kwargs)
        if int(sequence_length) < 1:
            raise ValueError(f"sequence_length must be >= 1, got {sequence_length}")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(
            initializer or keras.initializers.RandomNormal(stddev=0.02)
        )

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, input_shape[-1]),
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs):
        length = inputs.shape[1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"PositionalEmbedding got a sequence of length {length}; it was built for at most "
                f"{self.sequence_length}"
            )
        return inputs + ops.expand_dims(self.embeddings[: ops.shape(inputs)[1]], 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            sequence_length=self.sequence_length,
            initializer=keras.initializers.serialize(self.initializer),
        )
        return config
