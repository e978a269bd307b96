"""Reduced-precision copies of a trained ranker for inference, through Keras' own levers.

Training precision is the model's Keras dtype policy (``TransformerP7Ranker(dtype="mixed_bfloat16")``,
``p7keras train --precision``): see :class:`p7keras.models.P7Ranker`. For inference a trained float32 (or
mixed) model can be turned into:

* ``"int8"``: ``keras.Model.quantize("int8")``: the kernels of every ``Dense`` and ``EinsumDense`` (the input
  projection, attention, feed-forward and head) stored as int8 with per-channel scales, activations quantized
  on the fly; a quarter of the weight bytes a single-sequence prediction streams.
* ``"bfloat16"``: the model rebuilt under the ``"bfloat16"`` dtype policy (weights stored in bfloat16, half the
  bytes); the inputs, the final normalisation and the anchor stay float32.

The model given is never changed: :func:`reduced_precision` returns a new model with the same weights.

Example:

    small = reduced_precision(model, "int8")
    cosine = np.sum(small.predict(contexts) * model.predict(contexts), axis=-1)   # >= 0.999 on the bench data
"""

from __future__ import annotations

import keras

from p7keras.config import quantize_problems, raise_problems


def rebuilt(model: keras.Model, dtype: str | None = None) -> keras.Model:
    """A new model of ``model``'s class and config holding its weights, under the dtype policy ``dtype``.

    Example:

        float32_model = rebuilt(mixed_model, "float32")   # the same weights, computed in float32

    Args:
        model: a built ``keras.Model`` whose class rebuilds it from ``get_config()`` (every p7keras ranker).
        dtype: a Keras dtype policy name (None: the model's own).

    Returns:
        The new, built model; ``model`` is unchanged.

    Raises:
        ValueError: a model that is not built, or one that cannot be rebuilt from its config.
    """
    if not model.built:
        raise ValueError(f"model {model.name} is not built; call it on a batch (or load a trained one) first")
    config = model.get_config()
    if dtype is not None:
        config["dtype"] = dtype
    try:
        copy = type(model).from_config(config)
    except Exception as exc:  # a model Keras cannot rebuild from its config: say which, in one line
        raise ValueError(f"model {model.name} ({type(model).__name__}) cannot be rebuilt from its config "
                         f"({type(exc).__name__}: {exc})") from exc
    if not copy.built:
        copy.build_from_config(model.get_build_config())
    copy.set_weights(model.get_weights())
    return copy


def reduced_precision(model: keras.Model, mode: str) -> keras.Model:
    """A copy of a built ranker for inference in ``mode`` (``"int8"`` or ``"bfloat16"``).

    Example:

        int8_model = reduced_precision(keras.saving.load_model("run/best.keras"), "int8")

    Args:
        model: a built ``keras.Model`` whose class rebuilds it from ``get_config()`` (every p7keras ranker).
        mode: one of ``p7keras.config.QUANTIZE_MODES``.

    Returns:
        A new, built model holding the same weights in ``mode``; ``model`` is unchanged.

    Raises:
        ValueError: an unknown mode, a model that is not built or cannot be rebuilt from its config, or
            ``"bfloat16"`` for a model whose ``bfloat16_weights`` is False (the LSTM ranker).
    """
    raise_problems(quantize_problems(mode))
    if mode == "bfloat16" and not getattr(model, "bfloat16_weights", True):
        raise ValueError(f"model {model.name} ({type(model).__name__}) cannot hold bfloat16 weights (Keras' LSTM "
                         "has no bfloat16 kernel on any backend); use --quantize int8")
    copy = rebuilt(model, "bfloat16" if mode == "bfloat16" else None)
    if mode == "int8":
        copy.quantize("int8")
    return copy
