"""Sequences as index arrays: every window of K consecutive chunks inside one article, stride 1.

A window is K context rows (oldest first) plus the target row right after them. Windows are row
indices into the corpus vectors, never copies of the vectors.

Example:

>>> import numpy as np
>>> context_rows, target_rows = window_rows(np.array([0, 0, 0, 0, 1, 1, 1]), 2)
>>> context_rows.tolist(), target_rows.tolist()
([[0, 1], [1, 2], [4, 5]], [2, 3, 6])
"""

from __future__ import annotations

import numpy as np

from p7keras.data.corpus import article_runs
from p7keras.data.errors import DataError


def check_context_length(context_length: int, where: str = "context_length") -> int:
    """Return ``context_length`` as an int after checking K >= 2.

    Args:
        context_length: K.
        where: what to name in the message.

    Returns:
        K.

    Raises:
        DataError: when K is not an integer >= 2.
    """
    if isinstance(context_length, bool) or int(context_length) != context_length or context_length < 2:
        raise DataError(f"{where}: context length K must be an integer >= 2, got {context_length!r}")
    return int(context_length)


def window_rows(article_ids: np.ndarray, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows of K context chunks + 1 target inside each article (stride 1).

    Articles shorter than K + 1 chunks give no window. ``article_ids`` must be contiguous.

    Args:
        article_ids: ``(N,)`` article id of each chunk, in reading order.
        context_length: K >= 2.

    Returns:
        ``(context_rows, target_rows)``: ``(S, K)`` and ``(S,)`` int64 row indices.
    """
    k = check_context_length(context_length)
    ids = np.asarray(article_ids)
    starts = np.flatnonzero(ids[:-k] == ids[k:]) if ids.size > k else np.zeros(0, np.int64)
    starts = starts.astype(np.int64)
    return starts[:, None] + np.arange(k, dtype=np.int64), starts + k


def require_windows(article_ids: np.ndarray, context_length: int, where: str) -> None:
    """Raise when no article is long enough for one window of K + 1 chunks.

    Args:
        article_ids: ``(N,)`` article ids.
        context_length: K.
        where: the source named in the message.

    Raises:
        DataError: "K longer than every article".
    """
    k = check_context_length(context_length)
    _, lengths = article_runs(article_ids)
    longest = int(lengths.max()) if lengths.size else 0
    if longest < k + 1:
        raise DataError(
            f"{where}: context length K = {k} needs articles of at least K + 1 = {k + 1} chunks, "
            f"but the longest article has {longest}"
        )
