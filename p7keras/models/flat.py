"""Flat P7 ranker: an MLP over the whole (flattened) context (not in the spec; a small real-text baseline)."""

from __future__ import annotations

import keras
from keras import ops

from p7keras.layers.dropout import dropout
from p7keras.models.ranker import P7Ranker


@keras.saving.register_keras_serializable(package="p7keras")
class FlatP7Ranker(P7Ranker):
    """MLP ranker: contexts ``(B, K, D)`` -> unit next-chunk predictions ``(B, D)``.

    Dense(D→d_model) per position → the K positions flattened (K·d_model) → Dense(d_model) with GELU →
    the shared head, unit norm and semantic anchoring. Every position has its own weights in the
    mixing layer, so the model sees where in the context a chunk stands without a positional
    embedding. With ``head="residual"`` it starts as DIRECT (the last context chunk) and learns a
    correction (the model of ``--preset real-text``).

    Example:

        model = p7keras.models.FlatP7Ranker(context_length=5, d_model=256, head="residual")
        model.compile()
        model.fit({"context": contexts, "target": targets}, epochs=4)

    Args:
        **kwargs: the shared arguments of ``p7keras.models.P7Ranker`` (context_length, input_dim,
            d_model, dropout, head, anchor and loss parameters).

    Returns:
        A ``keras.Model``; ``call`` returns unit vectors ``(B, D)``.
    """

    MODEL_TYPE = "flat"  # its name in p7keras.config.MODEL_TYPES (what --model-type takes)

    def __init__(self, **kwargs):
        input_dim = kwargs.pop("input_dim", None)
        super().__init__(**kwargs)
        self.mix = keras.layers.Dense(self.d_model, activation="gelu", name="context_mix", dtype=self.dtype_policy)
        self.mix_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        if input_dim is not None:
            self.build((None, self.context_length, int(input_dim)))

    def _build_encoder(self, projected_shape):
        self.mix.build((None, self.context_length * self.d_model))
        return projected_shape

    def _encode(self, projected, training):
        flat = ops.reshape(projected, (-1, self.context_length * self.d_model))
        return dropout(self.mix_dropout, self.mix(flat), training), projected
