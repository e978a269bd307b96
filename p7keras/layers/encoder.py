"""Transformer encoder block (self-attention + feed-forward, residual + layer norm)."""

from __future__ import annotations

import keras

from p7keras.config import model_problems, raise_problems
from p7keras.layers.attention import FlatMultiHeadAttention
from p7keras.layers.dropout import dropout


@keras.saving.register_keras_serializable(package="p7keras")
class EncoderBlock(keras.layers.Layer):
    """Post-norm transformer encoder block, as ``torch.nn.TransformerEncoderLayer`` (ReLU).

    With ``last_only=True`` only the last position is computed (it still attends over every
    position): the ranker reads only that vector from its final block, so the block skips the
    query projection, residuals and feed-forward of the other K−1 positions.

    Example:

        block = EncoderBlock(d_model=64, num_heads=4, ff_dim=128)
        y = block(np.zeros((2, 5, 64), "float32"))

    Args:
        d_model: width of the sequence vectors; divisible by ``num_heads``.
        num_heads: attention heads.
        ff_dim: hidden width of the feed-forward network.
        dropout: dropout rate of attention weights and both residual branches.
        last_only: return only the last position, ``(B, 1, d_model)``.

    Returns:
        ``(B, K, d_model)``, or ``(B, 1, d_model)`` with ``last_only``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.0,
        last_only: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        raise_problems(model_problems(d_model=d_model, num_heads=num_heads, ff_dim=ff_dim, dropout=dropout))
        self.d_model = int(d_model)
        self.num_heads = int(num_heads)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.last_only = bool(last_only)
        policy = self.dtype_policy  # the block's sublayers compute in its policy
        self.attention = FlatMultiHeadAttention(
            num_heads=num_heads, key_dim=d_model // num_heads, dropout=dropout, name="attention", dtype=policy
        )
        self.attention_dropout = keras.layers.Dropout(dropout, dtype=policy)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm", dtype=policy)
        self.ff_inner = keras.layers.Dense(ff_dim, activation="relu", name="ff_inner", dtype=policy)
        self.ff_outer = keras.layers.Dense(d_model, name="ff_outer", dtype=policy)
        self.ff_dropout = keras.layers.Dropout(dropout, dtype=policy)
        self.ff_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="ff_norm", dtype=policy)

    def build(self, input_shape):
        query_shape = (input_shape[0], 1, input_shape[2]) if self.last_only else input_shape
        self.attention.build(query_shape, input_shape)
        self.attention_norm.build(query_shape)
        self.ff_inner.build(query_shape)
        self.ff_outer.build(tuple(query_shape[:-1]) + (self.ff_dim,))
        self.ff_norm.build(query_shape)

    def call(self, inputs, training=None):
        query = inputs[:, -1:, :] if self.last_only else inputs
        attended = self.attention(query, inputs, training=training)
        x = self.attention_norm(query + dropout(self.attention_dropout, attended, training))
        ff = self.ff_outer(self.ff_inner(x))
        return self.ff_norm(x + dropout(self.ff_dropout, ff, training))

    def compute_output_shape(self, input_shape):
        if self.last_only:
            return (input_shape[0], 1, input_shape[2])
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            d_model=self.d_model,
            num_heads=self.num_heads,
            ff_dim=self.ff_dim,
            dropout=self.dropout,
            last_only=self.last_only,
        )
        return config
