"""Vector math shared by layers and losses (``keras.ops`` only, every backend).

Example:

    import numpy as np
    from p7keras import ops as p7ops
    p7ops.cosine(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]))
"""

from __future__ import annotations

from keras import ops

EPSILON = 1e-12


def l2_normalize(x, axis: int = -1):
    """Unit-normalises ``x`` along ``axis`` (zero rows stay zero).

    Args:
        x: tensor of any rank.
        axis: the axis holding the vector components.

    Returns:
        A tensor of the same shape whose slices along ``axis`` have unit L2 norm.
    """
    x = ops.convert_to_tensor(x)
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(square_sum, EPSILON))


def cosine(a, b):
    """Row-wise cosine similarity of ``a`` and ``b`` (``(..., D)`` each).

    Args:
        a: tensor ``(..., D)``.
        b: tensor broadcastable to ``a``.

    Returns:
        Tensor ``(...)`` of cosines.
    """
    return ops.sum(l2_normalize(a) * l2_normalize(b), axis=-1)


def centroid(context):
    """``normalize(mean_k c_k)`` of contexts ``(B, K, D)`` -> ``(B, D)``."""
    return l2_normalize(ops.mean(ops.convert_to_tensor(context), axis=1))


def blend(query_raw, anchor, lambda_blend):
    """``normalize(λ·normalize(query_raw) + (1−λ)·anchor)``.

    Args:
        query_raw: ``(B, D)`` raw model output.
        anchor: ``(B, D)`` unit anchor vector (context centroid or attention mix).
        lambda_blend: scalar λ (float or 0-d tensor).

    Returns:
        Unit tensor ``(B, D)``.
    """
    return l2_normalize(lambda_blend * l2_normalize(query_raw) + (1.0 - lambda_blend) * anchor)
