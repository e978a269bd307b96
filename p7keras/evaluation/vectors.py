"""Small numpy vector helpers of the evaluation: unit rows, the context centroid, row blocks.

Example:

>>> import numpy as np
>>> centroid(np.array([[[1.0, 0.0], [0.0, 1.0]]])).round(4).tolist()
[[0.7071, 0.7071]]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Sequences gathered at once when a computation needs their context vectors (bounded memory).
SEQUENCE_BLOCK = 8192


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` scaled to unit L2 length, in float64 (zero rows stay zero).

    Args:
        vectors: ``(..., D)``.

    Returns:
        ``(..., D)`` float64.
    """
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def centroid(contexts: np.ndarray) -> np.ndarray:
    """``normalize(mean_k c_k)`` of contexts ``(N, K, D)``, in float64 (spec section 1).

    Args:
        contexts: ``(N, K, D)``.

    Returns:
        ``(N, D)`` float64 unit rows.
    """
    return unit_rows(np.asarray(contexts, dtype=np.float64).mean(axis=1))


def blocks(n: int, size: int = SEQUENCE_BLOCK) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)``, ``size`` items each (the last may be shorter).

    Example:

    >>> [(s.start, s.stop) for s in blocks(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
