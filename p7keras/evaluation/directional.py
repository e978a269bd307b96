"""The directional test of spec section 8: does the prediction point forward, to the next chunk?

Per sequence, with ``q`` the (unit-normalised) prediction, ``y`` the next chunk, ``p = c_K`` the
previous chunk and ``a = centroid(C)``: ``cos_next = cos(q, y)``, ``cos_prev = cos(q, p)``,
``margin = cos_next - cos_prev`` and ``cos_anchor = cos(q, a)``. The summary is their mean.

Example:

>>> import numpy as np
>>> bank = np.eye(3, dtype=np.float32)
>>> summary, margins = directional_metrics(bank[[2]], bank, np.array([2]), np.array([[0, 1]]))
>>> summary["cos_next"], summary["margin"], margins.tolist()
(1.0, 1.0, [1.0])
"""

from __future__ import annotations

import numpy as np

from p7keras.evaluation.vectors import blocks, centroid, unit_rows

DIRECTIONAL_NAMES = ("cos_next", "cos_prev", "margin", "cos_anchor")
# What spec section 8 expects of a good model's figures: p7keras.verdict.good_model_checks.


def directional_cosines(
    queries: np.ndarray, bank: np.ndarray, target_rows: np.ndarray, context_rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-sequence cos_next, cos_prev, margin and cos_anchor of predictions.

    Example:

    >>> bank = np.eye(3, dtype=np.float32)
    >>> {k: v.tolist() for k, v in directional_cosines(bank[[1]], bank, np.array([2]), np.array([[0, 1]])).items()}
    {'cos_next': [0.0], 'cos_prev': [1.0], 'margin': [-1.0], 'cos_anchor': [0.7071067811865475]}

    Args:
        queries: ``(N, D)`` predictions (normalised here; their length does not matter).
        bank: ``(V, D)`` unit chunk vectors.
        target_rows: ``(N,)`` bank row of each next chunk.
        context_rows: ``(N, K)`` bank rows of each context, oldest first.

    Returns:
        ``{"cos_next", "cos_prev", "margin", "cos_anchor": (N,) float64}``.
    """
    n = len(target_rows)
    if n == 0:
        raise ValueError("the directional test needs at least one sequence, got 0")
    cos = {name: np.empty(n) for name in ("cos_next", "cos_prev", "cos_anchor")}
    for part in blocks(n):
        q = unit_rows(queries[part])
        contexts = bank[context_rows[part]]
        cos["cos_next"][part] = np.einsum("nd,nd->n", q, unit_rows(bank[target_rows[part]]))
        cos["cos_prev"][part] = np.einsum("nd,nd->n", q, unit_rows(contexts[:, -1]))
        cos["cos_anchor"][part] = np.einsum("nd,nd->n", q, centroid(contexts))
    return {"cos_next": cos["cos_next"], "cos_prev": cos["cos_prev"],
            "margin": cos["cos_next"] - cos["cos_prev"], "cos_anchor": cos["cos_anchor"]}


def directional_metrics(
    queries: np.ndarray, bank: np.ndarray, target_rows: np.ndarray, context_rows: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    """Mean cos_next, cos_prev, margin and cos_anchor of predictions, and the per-sequence margins.

    Args:
        queries, bank, target_rows, context_rows: see :func:`directional_cosines`.

    Returns:
        ``({"cos_next", "cos_prev", "margin", "cos_anchor"} as floats, (N,) float64 margins)``.
    """
    cos = directional_cosines(queries, bank, target_rows, context_rows)
    return {name: float(cos[name].mean()) for name in DIRECTIONAL_NAMES}, cos["margin"]
