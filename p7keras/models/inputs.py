"""The batch contract of the P7 rankers, and its checks (what ``fit``/``evaluate``/``predict`` accept).

A batch (produced by ``p7keras.data``) is

* a dict ``{"context": (B, K, D), "target": (B, D), "hard_negatives": (B, M, D)}``
  (``hard_negatives`` optional), or
* ``x = contexts (B, K, D)`` with ``y = targets (B, D)`` (no hard negatives).

The previous chunk is ``context[:, -1]``. ``predict`` takes contexts ``(B, K, D)`` or such a dict. Numpy
inputs are checked here before any backend sees them, with the offending key, shape or row named.
"""

from __future__ import annotations

import keras
import numpy as np

from p7keras.config import CONTEXT_KEY, HARD_NEGATIVES_KEY, TARGET_KEY


def context_of(inputs):
    """The contexts ``(B, K, D)`` of a batch: its ``"context"`` entry, or ``inputs`` itself when not a dict.

    Example:

        >>> context_of({"context": "c", "target": "t"}), context_of("c")
        ('c', 'c')

    Args:
        inputs: a batch dict or the contexts.

    Returns:
        The contexts.

    Raises:
        KeyError: a dict without ``"context"``.
    """
    if not isinstance(inputs, dict):
        return inputs
    if CONTEXT_KEY not in inputs:
        raise KeyError(
            f"batch dict has keys {sorted(inputs)}; the P7 batch contract needs "
            f"'{CONTEXT_KEY}' (B, K, D) and '{TARGET_KEY}' (B, D)"
        )
    return inputs[CONTEXT_KEY]


def unpack_batch(data) -> tuple:
    """``(context, target, hard_negatives)`` of a batch (``hard_negatives`` None when absent).

    Example:

        >>> unpack_batch(("contexts", "targets"))
        ('contexts', 'targets', None)

    Args:
        data: a dict batch, or ``(contexts, targets)`` as ``fit`` passes it to a step.

    Returns:
        The three parts of the batch contract.

    Raises:
        ValueError: the batch has no target.
    """
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(x, dict):
        context, target, hard_negatives = context_of(x), x.get(TARGET_KEY, y), x.get(HARD_NEGATIVES_KEY)
    else:
        context, target, hard_negatives = x, y, None
    if target is None:
        raise ValueError(
            f"the batch has no target: pass a dict with '{TARGET_KEY}' (B, D) or fit(contexts, targets)"
        )
    return context, target, hard_negatives


def check_context_shape(shape, context_length: int, input_dim: int | None, owner: str = "P7Ranker",
                        need_dim: bool = False) -> None:
    """Checks a contexts shape ``(batch, K, D)`` against the model's K and D (None: any D).

    Example:

        >>> check_context_shape((8, 5, 16), context_length=5, input_dim=16)
        >>> check_context_shape((8, 4, 16), context_length=5, input_dim=16)
        Traceback (most recent call last):
        ValueError: P7Ranker expects contexts of shape (batch, K=5, D=16); got shape (8, 4, 16): context length K=4 ...

    Args:
        shape: the shape (entries may be None).
        context_length: the model's K.
        input_dim: the model's D, or None while unbuilt.
        owner: the model's class name, for the message.
        need_dim: D must be known (to build the model).

    Raises:
        ValueError: a wrong rank, K or D (or an unknown D with ``need_dim``), naming the shape.
    """
    shape = tuple(shape)
    problem = None
    if len(shape) != 3:
        problem = f"rank {len(shape)}, expected rank 3"
    elif shape[1] is not None and shape[1] != context_length:
        problem = f"context length K={shape[1]} but the model was built for K={context_length}"
    elif shape[2] is not None and input_dim is not None and shape[2] != input_dim:
        problem = f"embedding width D={shape[2]} but the model was built for D={input_dim}"
    elif need_dim and shape[2] is None:
        problem = "D must be known to build the model"
    if problem is not None:
        expected = f"(batch, K={context_length}, D={input_dim or 'any'})"
        raise ValueError(f"{owner} expects contexts of shape {expected}; got shape {shape}: {problem}")


def check_arrays(x, y, context_length: int, input_dim: int | None, owner: str = "P7Ranker") -> None:
    """Checks numpy inputs of ``fit``/``evaluate``/``predict``: keys, shapes, row counts, dtype, finiteness.

    Datasets and generators pass unchecked (``p7keras.data`` checks them when it loads them).

    Example:

        >>> contexts = np.zeros((4, 5, 16), "float32")
        >>> check_arrays({"context": contexts, "target": np.zeros((3, 16), "float32")}, None, 5, 16)
        Traceback (most recent call last):
        ValueError: 'target' has 3 rows but 'context' has 4

    Args:
        x: contexts, a batch dict, or anything ``fit`` takes.
        y: the targets, or None.
        context_length: the model's K.
        input_dim: the model's D, or None while unbuilt.
        owner: the model's class name, for the messages.

    Raises:
        KeyError: an unknown or missing batch key.
        ValueError: a wrong shape, row count or dtype, or NaN/inf values (with the first bad row).
    """
    arrays = dict(x) if isinstance(x, dict) else {CONTEXT_KEY: x}
    if y is not None:
        arrays[TARGET_KEY] = y
    if not all(isinstance(a, np.ndarray) for a in arrays.values()):
        return
    context = context_of(arrays)
    check_context_shape(context.shape, context_length, input_dim, owner)
    expected = {
        CONTEXT_KEY: (context_length, input_dim),
        TARGET_KEY: (input_dim,),
        HARD_NEGATIVES_KEY: (None, input_dim),
    }
    for key, array in arrays.items():
        if key not in expected:
            raise KeyError(f"unknown batch key {key!r}; the P7 batch contract has {sorted(expected)}")
        want = expected[key]
        if array.ndim != len(want) + 1 or any(w is not None and w != got for w, got in zip(want, array.shape[1:])):
            shown = tuple("N" if w is None else w for w in want)
            raise ValueError(f"'{key}' has shape {array.shape}; expected (batch,) + {shown} for this model")
        if len(array) != len(context):
            raise ValueError(f"'{key}' has {len(array)} rows but '{CONTEXT_KEY}' has {len(context)}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"'{key}' has dtype {array.dtype}; expected float32")
        bad = ~np.isfinite(array)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"'{key}' holds {int(bad.sum())} NaN/inf values (first in row {row})")
