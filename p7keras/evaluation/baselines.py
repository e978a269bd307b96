"""The baselines of spec section 8: DIRECT (query = c_K, the last context vector) and MEAN
(query = centroid(C)), scored under the same protocols as the models.

Example:

>>> import numpy as np
>>> bank = np.eye(3, dtype=np.float32)
>>> queries = baseline_queries(bank, np.array([[0, 1]]))
>>> queries["DIRECT"].tolist(), queries["MEAN"].astype(float).round(4).tolist()
([[0.0, 1.0, 0.0]], [[0.7071, 0.7071, 0.0]])
"""

from __future__ import annotations

import numpy as np

from p7keras.evaluation.vectors import blocks, centroid

DIRECT, MEAN = "DIRECT", "MEAN"
BASELINES = (DIRECT, MEAN)


def baseline_queries(bank: np.ndarray, context_rows: np.ndarray) -> dict[str, np.ndarray]:
    """The DIRECT and MEAN queries of every sequence.

    DIRECT is the bank row of ``c_K`` itself (bit for bit), so a model that returns ``c_K`` scores
    exactly as DIRECT.

    Args:
        bank: ``(V, D)`` unit chunk vectors.
        context_rows: ``(N, K)`` bank rows of each context, oldest first.

    Returns:
        ``{"DIRECT": (N, D) float32, "MEAN": (N, D) float32}``.
    """
    mean = np.empty((len(context_rows), bank.shape[1]), dtype=np.float32)
    for part in blocks(len(context_rows)):
        mean[part] = centroid(bank[context_rows[part]])
    return {DIRECT: bank[context_rows[:, -1]], MEAN: mean}


def baseline_predictors() -> dict[str, callable]:
    """DIRECT and MEAN as functions of the contexts ``(n, K, D) -> (n, D)`` (what the diagnostics feed).

    Example:

    >>> contexts = np.eye(3, dtype=np.float32)[None, :2]
    >>> {name: f(contexts).round(4).tolist() for name, f in baseline_predictors().items()}
    {'DIRECT': [[0.0, 1.0, 0.0]], 'MEAN': [[0.7071, 0.7071, 0.0]]}
    """
    return {DIRECT: lambda contexts: contexts[:, -1], MEAN: centroid}
