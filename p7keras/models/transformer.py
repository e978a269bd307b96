"""Transformer P7 ranker (spec section 2)."""

from __future__ import annotations

import keras

from p7keras.config import DEFAULTS, model_problems, raise_problems
from p7keras.layers import EncoderBlock, PositionalEmbedding
from p7keras.models.ranker import P7Ranker


@keras.saving.register_keras_serializable(package="p7keras")
class TransformerP7Ranker(P7Ranker):
    """Transformer encoder ranker: contexts ``(B, K, D)`` -> unit next-chunk predictions ``(B, D)``.

    Dense(D→d_model) → learned positions → ``num_layers`` encoder blocks → last position →
    Dense → ReLU → LayerNorm → Dense(d_model→D) → unit norm → semantic anchoring. The final block
    computes only the last position (the one the head reads) unless the anchor needs every
    position (``anchor_mode="attention"``).

    Example:

        model = p7keras.TransformerP7Ranker(context_length=5, d_model=64, num_layers=2)
        model.compile()
        model.fit({"context": contexts, "target": targets}, epochs=2)
        predictions = model.predict(contexts)

    Args:
        num_heads: attention heads (d_model must be divisible by it).
        num_layers: encoder blocks (>= 1).
        ff_dim: feed-forward width.
        **kwargs: the shared arguments of ``p7keras.models.P7Ranker`` (context_length, input_dim,
            d_model, dropout, anchor and loss parameters).

    Returns:
        A ``keras.Model``; ``call`` returns unit vectors ``(B, D)``.
    """

    MODEL_TYPE = "transformer"  # its name in p7keras.config.MODEL_TYPES (what --model-type takes)

    def __init__(
        self,
        num_heads: int = DEFAULTS.num_heads,
        num_layers: int = DEFAULTS.num_layers,
        ff_dim: int = DEFAULTS.ff_dim,
        **kwargs,
    ):
        input_dim = kwargs.pop("input_dim", None)
        super().__init__(**kwargs)
        raise_problems(model_problems(self.context_length, self.d_model, num_heads, num_layers, ff_dim))
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.ff_dim = int(ff_dim)
        self.positions = PositionalEmbedding(self.context_length, name="positional_embedding",
                                             dtype=self.dtype_policy)
        last_only = self.anchor.anchor_mode != "attention"
        self.blocks = [
            EncoderBlock(
                self.d_model,
                self.num_heads,
                self.ff_dim,
                self.dropout,
                last_only=last_only and i == self.num_layers - 1,
                name=f"encoder_block_{i}",
                dtype=self.dtype_policy,
            )
            for i in range(self.num_layers)
        ]
        if input_dim is not None:
            self.build((None, self.context_length, int(input_dim)))

    def _build_encoder(self, projected_shape):
        self.positions.build(projected_shape)
        shape = projected_shape
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        return shape

    def _encode(self, projected, training):
        x = self.positions(projected)
        for block in self.blocks:
            x = block(x, training=training)
        return x[:, -1], x

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, num_layers=self.num_layers, ff_dim=self.ff_dim)
        return config
