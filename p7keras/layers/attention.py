"""Multi-head attention whose four projections are single 2-D matrix products."""

from __future__ import annotations

import math

import keras
from keras import ops

from p7keras.layers.dropout import dropout


def flat_projection(dense: keras.layers.EinsumDense, x, in_axes: int):
    """``dense(x)`` for a projection that contracts the last ``in_axes`` axes of ``x``, as one 2-D matmul.

    The leading axes of ``x`` are folded into rows and the kernel into a (inputs, outputs) matrix, so
    every backend sees one plain matrix product. It is the same arithmetic as ``dense(x)``: a quantized
    or LoRA-adapted ``dense`` is called as it is.

    Example:

        dense = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
        dense.build((None, 5, 16))
        y = flat_projection(dense, np.ones((2, 5, 16), "float32"), in_axes=1)   # (2, 5, 4, 8)

    Args:
        dense: a built ``EinsumDense`` whose kernel is (the contracted axes..., the output axes...).
        x: its input; the last ``in_axes`` axes are contracted.
        in_axes: how many trailing axes of ``x`` the kernel contracts.

    Returns:
        ``dense(x)``: the leading axes of ``x`` followed by the kernel's output axes.
    """
    if dense.quantization_mode is not None or getattr(dense, "lora_enabled", False):
        return dense(x)
    kernel = dense.kernel  # read inside the caller's autocast scope: its compute dtype
    kernel_shape = tuple(kernel.shape)
    inputs = math.prod(kernel_shape[:in_axes])
    y = ops.matmul(ops.reshape(x, (-1, inputs)), ops.reshape(kernel, (inputs, -1)))
    if dense.bias is not None:
        y = y + ops.reshape(dense.bias, (-1,))
    lead = [-1] + [size if size is not None else ops.shape(x)[i + 1]
                   for i, size in enumerate(tuple(x.shape)[1:len(x.shape) - in_axes])]
    return ops.reshape(y, (*lead, *kernel_shape[in_axes:]))


@keras.saving.register_keras_serializable(package="p7keras")
class FlatMultiHeadAttention(keras.layers.MultiHeadAttention):
    """Keras' ``MultiHeadAttention`` (the same weights, config and attention) with flat projections.

    Keras' TensorFlow backend computes a projection such as ``abc,cde->abde`` as a matrix product of a 3-D input with a
    2-D kernel, whose gradient TensorFlow takes one batch row at a time and then sums: on a CPU that made the four
    projections most of the encoder's training step (the ``p7keras bench`` transformer trained 3.8-5.4x slower than with
    2-D products, README "Precision"). Here each projection is one 2-D product (:func:`flat_projection`) on every
    backend; attention itself is Keras', its dropout :func:`p7keras.layers.dropout.dropout` (Threefry's masks under XLA
    on TensorFlow's CPU). The layer takes no masks (the ranker's contexts have none).

    Example:

        attention = FlatMultiHeadAttention(num_heads=4, key_dim=16)
        y = attention(np.zeros((2, 5, 64), "float32"), np.zeros((2, 5, 64), "float32"))   # (2, 5, 64)

    Args:
        **kwargs: as ``keras.layers.MultiHeadAttention``.

    Returns:
        ``(B, T, output dim)``, as ``keras.layers.MultiHeadAttention`` without attention scores.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if getattr(self, "_use_gate", False):
            raise ValueError("FlatMultiHeadAttention has no gated attention: use_gate must be False")

    def call(self, query, value, key=None, training=None):
        key = value if key is None else key
        query = flat_projection(self._query_dense, query, in_axes=1)
        key = flat_projection(self._key_dense, key, in_axes=1)
        value = flat_projection(self._value_dense, value, in_axes=1)
        if self._dropout > 0.0:  # Keras' attention with scores (as _compute_attention), its dropout p7keras'
            scores = ops.einsum(self._dot_product_equation, key,
                                ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype)))
            scores = dropout(self._dropout_layer, self._masked_softmax(scores), training)
            attended = ops.einsum(self._combine_equation, scores, value)
        else:
            attended, _ = self._compute_attention(query, key, value, None, training)
        return flat_projection(self._output_dense, attended, in_axes=2)
