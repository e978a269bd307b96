"""Dropout whose masks, where TensorFlow compiles with XLA on a CPU, come from the Threefry generator (issue 23).

Keras' TensorFlow dropout draws its mask with ``tf.random.stateless_uniform``'s default generator, Philox, and XLA's
CPU code for Philox is slow: the twelve masks of one training step of the ``p7keras bench`` transformer took
11.95-13.16 ms there against 3.88-4.24 ms with Threefry (``python docs/dropout_masks.py --backend tensorflow``, three
rounds, an AVX2 AMD EPYC, 2026-12-05), and the whole XLA step trained at 319.9-328.8 against 310.4-316.6 seq/s (four
rounds alternating; README, "TensorFlow's dropout masks under XLA"). Threefry has no TensorFlow kernel outside XLA, so
:func:`dropout` draws with it only inside an XLA-compiled function on a CPU and leaves every other case (the graph,
eager, a GPU, JAX, PyTorch) to the layer itself. The masks are other bits than Philox's, from the same seed generator:
the same seed gives the same masks run after run, and a TensorFlow model trained under XLA gets other (equally random)
masks than before this module.

Example:

    layer = keras.layers.Dropout(0.1, seed=3)
    y = dropout(layer, np.ones((4, 8), "float32"), training=True)   # as layer(x, training=True)
"""

from __future__ import annotations

import keras

from p7keras.jit_compile import tensorflow_sees_gpu


def dropout(layer: keras.layers.Dropout, inputs, training=None):
    """``layer(inputs, training=training)``, its mask drawn by Threefry inside an XLA function on TensorFlow's CPU.

    Example:

        layer = keras.layers.Dropout(0.1, seed=3)
        y = dropout(layer, x, training=True)   # inside tf.function(jit_compile=True) on a CPU: Threefry's mask

    Args:
        layer: a Keras ``Dropout`` layer (its rate, noise shape and seed generator).
        inputs: the tensor to drop from.
        training: as the layer's ``training`` (a Python bool; anything else goes to the layer).

    Returns:
        ``inputs`` with a fraction ``layer.rate`` of its entries zeroed and the rest scaled by ``1 / (1 - rate)``
        in training, else ``inputs``.
    """
    if training is True and 0 < layer.rate < 1 and layer.noise_shape is None and in_xla_on_cpu():
        return _threefry_dropout(inputs, layer.rate, layer.seed_generator)
    return layer(inputs, training=training)


def in_xla_on_cpu() -> bool:
    """Whether the code runs on TensorFlow inside an XLA-compiled function, no GPU in sight."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow backend only)
    from tensorflow.python.ops import control_flow_util  # noqa: PLC0415 (TensorFlow's own test for an XLA context)

    return not tensorflow_sees_gpu() and control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _threefry_dropout(inputs, rate: float, seed_generator):
    """TensorFlow's ``stateless_dropout`` arithmetic (keep where uniform >= rate, scale by 1 / (1 - rate)) with a
    Threefry uniform drawn in float32 from the next seed of ``seed_generator``."""
    import tensorflow as tf  # noqa: PLC0415

    seed = seed_generator.next()
    if seed.dtype != tf.int32:  # the state is int64 on TensorFlow: into int32 as Keras' own random ops do
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), "int32")
    uniform = tf.random.stateless_uniform(tf.shape(inputs), seed, dtype="float32", alg="threefry")
    keep = tf.cast(uniform >= rate, inputs.dtype)
    return inputs * tf.cast(1.0 / (1.0 - rate), inputs.dtype) * keep
