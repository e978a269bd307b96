"""LSTM P7 ranker (spec section 2)."""

from __future__ import annotations

import keras

from p7keras.config import DEFAULTS, model_problems, raise_problems
from p7keras.layers.dropout import dropout
from p7keras.models.ranker import P7Ranker


@keras.saving.register_keras_serializable(package="p7keras")
class LSTMP7Ranker(P7Ranker):
    """Stacked-LSTM ranker: contexts ``(B, K, D)`` -> unit next-chunk predictions ``(B, D)``.

    Dense(D→d_model) → ``num_layers`` LSTM layers of d_model units (dropout between them) → last
    step → the shared head, unit norm and semantic anchoring.

    Example:

        model = p7keras.LSTMP7Ranker(context_length=5, d_model=64)
        model.compile()
        model.fit(contexts, targets, epochs=2)

    Args:
        num_layers: stacked LSTM layers (>= 1, default 2).
        **kwargs: the shared arguments of ``p7keras.models.P7Ranker``.

    Returns:
        A ``keras.Model``; ``call`` returns unit vectors ``(B, D)``.
    """

    bfloat16_weights = False  # Keras' LSTM has no bfloat16 kernel (p7keras.models.precision)
    MODEL_TYPE = "lstm"  # its name in p7keras.config.MODEL_TYPES (what --model-type takes)

    def __init__(self, num_layers: int = DEFAULTS.lstm_layers, **kwargs):
        input_dim = kwargs.pop("input_dim", None)
        super().__init__(**kwargs)
        raise_problems(model_problems(self.context_length, self.d_model, num_layers=num_layers))
        self.num_layers = int(num_layers)
        self.lstms = [
            keras.layers.LSTM(self.d_model, return_sequences=True, name=f"lstm_{i}", dtype=self.dtype_policy)
            for i in range(self.num_layers)
        ]
        self.between = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        if input_dim is not None:
            self.build((None, self.context_length, int(input_dim)))

    def _build_encoder(self, projected_shape):
        for lstm in self.lstms:
            lstm.build(projected_shape)
        return projected_shape

    def _encode(self, projected, training):
        x = projected
        for i, lstm in enumerate(self.lstms):
            if i:
                x = dropout(self.between, x, training)
            x = lstm(x, training=training)
        return x[:, -1], x

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers)
        return config
