"""Retrieval ranks of spec section 8: every query scored against a bank of chunk vectors, in blocks.

The hit for sequence ``i`` is the bank row ``target_rows[i]``; its rank is 1 + the number of bank rows
scoring **strictly** higher than that row (ties count for the query). Scores are float32 dot products
(``numpy.matmul``); the bank holds unit vectors, and ranks do not depend on the query's length.

Protocols:

* ``all``: the bank is every chunk of the evaluated split, the query's own context included (the
  ship-gate protocol);
* ``exclude-context``: the query's own K context rows are removed from its candidates (counted in the
  same pass as ``all``: the rows of the context that scored higher are subtracted);
* ``within-article``: the bank is the chunks of the target's article (queries grouped per article).
  Unavailable (``None``) when the data has no article ids (upstream sequence files).

Memory stays bounded: at most ``query_block x bank_block`` scores exist at once, never ``N x V``.

Example:

>>> import numpy as np
>>> bank = np.eye(3, dtype=np.float32)
>>> queries = np.array([[0.9, 0.5, 0.1]], dtype=np.float32)
>>> count_higher(queries, bank, np.array([1]), np.array([[0]])).above.tolist()
[1]
>>> retrieval_metrics(np.array([1, 2, 11]))["MRR@10"]
0.5
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from p7keras.data.shards import ShardedArray

PROTOCOLS = ("all", "exclude-context", "within-article")
ALL, EXCLUDE_CONTEXT, WITHIN_ARTICLE = PROTOCOLS
RECALL_CUTOFFS = (1, 5, 10)
MRR_CUTOFF = 10
METRIC_NAMES = (*(f"R@{k}" for k in RECALL_CUTOFFS), f"MRR@{MRR_CUTOFF}")

# Scores held at once: QUERY_BLOCK x BANK_BLOCK float32 (32 MiB) plus a boolean copy (8 MiB).
QUERY_BLOCK = 1024
BANK_BLOCK = 8192


def as_bank(bank) -> np.ndarray | ShardedArray:
    """``bank`` as contiguous float32, except a sharded bank: it stays on disk, read tile by tile."""
    return bank if isinstance(bank, ShardedArray) else np.ascontiguousarray(bank, dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class HigherCounts:
    """Per-query counts of bank rows scoring strictly higher than the query's target row.

    Attributes:
        above: ``(N,)`` rows other than the target scoring strictly higher (rank under ``all`` - 1).
        context_above: ``(N,)`` how many of those are the query's own (distinct) context rows.
    """

    above: np.ndarray
    context_above: np.ndarray


def _distinct_context(context_rows: np.ndarray, target_rows: np.ndarray) -> np.ndarray:
    """``(N, K)`` mask of context rows to subtract: not the target row, not a repeat within the row."""
    keep = context_rows != target_rows[:, None]
    for j in range(1, context_rows.shape[1]):
        keep[:, j] &= ~(context_rows[:, :j] == context_rows[:, j : j + 1]).any(axis=1)
    return keep


def _scores_of_rows(queries: np.ndarray, bank: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``queries[i] . bank[rows[i]]`` computed with the same matrix product as the bank blocks.

    A row-wise ``einsum`` rounds differently from ``matmul``; a target tied with a duplicate of itself
    must tie in both, so the target scores come from one ``matmul`` against the distinct target rows.
    """
    unique, inverse = np.unique(rows, return_inverse=True)
    block = np.matmul(queries, bank[unique].T)
    return block[np.arange(len(rows)), inverse.reshape(-1)]


def _tile_scores(
    block: np.ndarray, bank: np.ndarray, bank_block: int, buffer: np.ndarray
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first bank row, block @ bank[tile].T)`` for consecutive tiles of ``bank_block`` bank rows.

    The scores are written into ``buffer`` (at least ``len(block) * bank_block`` float32): each tile's
    scores are overwritten by the next one's.
    """
    for tile in range(0, len(bank), bank_block):
        tile_stop = min(tile + bank_block, len(bank))
        scores = buffer[: len(block) * (tile_stop - tile)].reshape(len(block), tile_stop - tile)
        np.matmul(block, bank[tile:tile_stop].T, out=scores)
        yield tile, scores


def top_k_rows(
    queries: np.ndarray,
    bank: np.ndarray,
    k: int,
    query_block: int = QUERY_BLOCK,
    bank_block: int = BANK_BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` bank rows scoring highest for every query, best first, scored in blocks.

    Scores are the same float32 dot products as :func:`count_higher`'s, so a target of rank r (under
    ``all``) is at place r of this list when r <= k (equal scores: the lower bank row first).

    Example:

    >>> bank = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    >>> rows, scores = top_k_rows(np.array([[0.0, 1.0]], np.float32), bank, 2)
    >>> rows.tolist(), [round(float(s), 2) for s in scores[0]]
    ([[1, 2]], [1.0, 0.8])

    Args:
        queries: ``(N, D)`` float32 query vectors.
        bank: ``(V, D)`` float32 bank vectors.
        k: how many rows per query (at most ``V`` are returned).
        query_block, bank_block: block sizes (see :func:`count_higher`).

    Returns:
        ``(rows, scores)``: ``(N, min(k, V))`` int64 bank rows and their float32 scores.

    Raises:
        ValueError: ``k`` < 1.
    """
    if int(k) < 1:
        raise ValueError(f"top-k needs k >= 1, got {k}")
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    bank = as_bank(bank)
    n, k = len(queries), min(int(k), len(bank))
    best_rows = np.zeros((n, k), dtype=np.int64)
    best_scores = np.zeros((n, k), dtype=np.float32)
    buffer = np.empty(min(query_block, n) * min(bank_block, len(bank)), dtype=np.float32)
    for start in range(0, n, query_block):
        stop = min(start + query_block, n)
        rows = np.zeros((stop - start, 0), dtype=np.int64)
        scores = np.zeros((stop - start, 0), dtype=np.float32)
        for tile, tile_scores in _tile_scores(queries[start:stop], bank, bank_block, buffer):
            keep = min(k, tile_scores.shape[1])
            local = np.argpartition(-tile_scores, keep - 1, axis=1)[:, :keep]
            rows = np.concatenate([rows, tile + local], axis=1)
            scores = np.concatenate([scores, np.take_along_axis(tile_scores, local, axis=1)], axis=1)
            order = np.lexsort((rows, -scores), axis=1)[:, :k]
            rows, scores = np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)
        best_rows[start:stop], best_scores[start:stop] = rows, scores
    return best_rows, best_scores


def count_higher(
    queries: np.ndarray,
    bank: np.ndarray,
    target_rows: np.ndarray,
    context_rows: np.ndarray | None = None,
    query_block: int = QUERY_BLOCK,
    bank_block: int = BANK_BLOCK,
) -> HigherCounts:
    """Count, for every query, the bank rows scoring strictly higher than its target row, in blocks.

    Example:

    >>> bank = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    >>> counts = count_higher(np.array([[0.0, 1.0]], np.float32), bank, np.array([2]), np.array([[1]]))
    >>> counts.above.tolist(), counts.context_above.tolist()
    ([1], [1])

    Args:
        queries: ``(N, D)`` float32 query vectors.
        bank: ``(V, D)`` float32 bank vectors.
        target_rows: ``(N,)`` bank row of each query's hit.
        context_rows: ``(N, K)`` bank rows of each query's context (``None``: no context correction).
        query_block: queries scored per block.
        bank_block: bank rows scored per block.

    Returns:
        A :class:`HigherCounts`.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    bank = as_bank(bank)
    target_rows = np.asarray(target_rows, dtype=np.int64)
    n, v = len(queries), len(bank)
    if context_rows is None:
        context_rows = np.zeros((n, 0), dtype=np.int64)
    context_rows = np.asarray(context_rows, dtype=np.int64)
    above = np.zeros(n, dtype=np.int64)
    context_above = np.zeros(n, dtype=np.int64)
    width = min(bank_block, v)
    scores_buffer = np.empty(min(query_block, n) * width, dtype=np.float32)
    higher_buffer = np.empty(scores_buffer.size, dtype=bool)
    for start in range(0, n, query_block):
        stop = min(start + query_block, n)
        block = queries[start:stop]
        rows = np.arange(stop - start)
        # Column 0: the target itself; columns 1..K: the context rows (read from the same scores).
        watched = np.concatenate([target_rows[start:stop, None], context_rows[start:stop]], axis=1)
        watched_higher = np.zeros(watched.shape, dtype=bool)
        single_tile = v <= bank_block
        threshold = None if single_tile else _scores_of_rows(block, bank, target_rows[start:stop])
        for tile, scores in _tile_scores(block, bank, bank_block, scores_buffer):
            tile_stop = tile + scores.shape[1]
            if threshold is None:
                threshold = scores[rows, target_rows[start:stop]].copy()
            higher = higher_buffer[: scores.size].reshape(scores.shape)
            np.greater(scores, threshold[:, None], out=higher)
            above[start:stop] += higher.view(np.uint8).sum(axis=1, dtype=np.int32)
            r, c = np.nonzero((watched >= tile) & (watched < tile_stop))
            watched_higher[r, c] = higher[r, watched[r, c] - tile]
        above[start:stop] -= watched_higher[:, 0]
        keep = _distinct_context(watched[:, 1:], target_rows[start:stop])
        context_above[start:stop] = (watched_higher[:, 1:] & keep).sum(axis=1)
    return HigherCounts(above, context_above)


def within_article_above(
    queries: np.ndarray,
    bank: np.ndarray,
    target_rows: np.ndarray,
    bank_article_ids: np.ndarray,
    query_block: int = QUERY_BLOCK,
    bank_block: int = BANK_BLOCK,
) -> np.ndarray:
    """Rows of the target's own article scoring strictly higher than the target, per query.

    Queries are grouped by their target's article; each group is scored against that article's rows.

    Args:
        queries: ``(N, D)`` float32.
        bank: ``(V, D)`` float32.
        target_rows: ``(N,)`` bank row of each hit.
        bank_article_ids: ``(V,)`` article of each bank row.
        query_block, bank_block: block sizes (see :func:`count_higher`).

    Returns:
        ``(N,)`` int64 counts (rank under ``within-article`` - 1).
    """
    target_rows = np.asarray(target_rows, dtype=np.int64)
    bank_article_ids = np.asarray(bank_article_ids)
    above = np.zeros(len(target_rows), dtype=np.int64)
    articles, bank_group = np.unique(bank_article_ids, return_inverse=True)
    bank_group = bank_group.reshape(-1)
    bank_order = np.argsort(bank_group, kind="stable")
    bank_bounds = np.searchsorted(bank_group[bank_order], np.arange(articles.size + 1))
    query_group = bank_group[target_rows]
    query_order = np.argsort(query_group, kind="stable")
    query_bounds = np.searchsorted(query_group[query_order], np.arange(articles.size + 1))
    # Local index of every bank row inside its article's group.
    local = np.empty(len(bank_order), dtype=np.int64)
    local[bank_order] = np.arange(len(bank_order)) - bank_bounds[bank_group[bank_order]]
    for group in np.flatnonzero(np.diff(query_bounds)):
        members = query_order[query_bounds[group] : query_bounds[group + 1]]
        article_rows = bank_order[bank_bounds[group] : bank_bounds[group + 1]]
        counts = count_higher(
            queries[members], bank[article_rows], local[target_rows[members]], None, query_block, bank_block
        )
        above[members] = counts.above
    return above


def rank_queries(
    queries: np.ndarray,
    bank: np.ndarray,
    target_rows: np.ndarray,
    context_rows: np.ndarray,
    bank_article_ids: np.ndarray | None = None,
    query_block: int = QUERY_BLOCK,
    bank_block: int = BANK_BLOCK,
) -> dict[str, np.ndarray | None]:
    """Rank of every query's target under each protocol.

    Example:

    >>> bank = np.eye(4, dtype=np.float32)
    >>> q = np.array([[0.5, 0.9, 0.1, 0.0]], np.float32)
    >>> ranks = rank_queries(q, bank, np.array([2]), np.array([[0, 1]]), np.array([0, 0, 0, 1]))
    >>> {name: r.tolist() for name, r in ranks.items()}
    {'all': [3], 'exclude-context': [1], 'within-article': [3]}

    Args:
        queries: ``(N, D)`` query vectors (model predictions or a baseline).
        bank: ``(V, D)`` unit bank vectors.
        target_rows: ``(N,)`` bank row of each hit.
        context_rows: ``(N, K)`` bank rows of each context.
        bank_article_ids: ``(V,)`` article of each bank row; ``None`` makes ``within-article`` ``None``.
        query_block, bank_block: block sizes (see :func:`count_higher`).

    Returns:
        ``{protocol: (N,) int64 ranks (1 = best) or None}`` for every protocol of :data:`PROTOCOLS`.
    """
    counts = count_higher(queries, bank, target_rows, context_rows, query_block, bank_block)
    within = None
    if bank_article_ids is not None:
        within = 1 + within_article_above(queries, bank, target_rows, bank_article_ids, query_block, bank_block)
    return {
        ALL: 1 + counts.above,
        EXCLUDE_CONTEXT: 1 + counts.above - counts.context_above,
        WITHIN_ARTICLE: within,
    }


def retrieval_metrics(ranks: np.ndarray | None) -> dict[str, float] | None:
    """R@1, R@5, R@10 and MRR@10 (1/rank if rank <= 10, else 0) of an array of ranks.

    Args:
        ranks: ``(N,)`` ranks (1 = best), or ``None`` for an unavailable protocol.

    Returns:
        ``{"R@1", "R@5", "R@10", "MRR@10"}`` as floats, or ``None``.
    """
    if ranks is None:
        return None
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("retrieval metrics need at least one ranked query, got 0")
    metrics = {f"R@{k}": float(np.mean(ranks <= k)) for k in RECALL_CUTOFFS}
    metrics[f"MRR@{MRR_CUTOFF}"] = float(np.mean(np.where(ranks <= MRR_CUTOFF, 1.0 / ranks, 0.0)))
    return metrics


def recall_curve(ranks: np.ndarray | None, max_k: int) -> list[float] | None:
    """``[R@1, R@2, ..., R@max_k]`` of an array of ranks (``None`` stays ``None``).

    Args:
        ranks: ``(N,)`` ranks, or ``None``.
        max_k: the largest cut-off.

    Returns:
        A list of ``max_k`` floats, or ``None``.
    """
    if ranks is None:
        return None
    counts = np.bincount(np.minimum(np.asarray(ranks), max_k + 1), minlength=max_k + 2)
    return (np.cumsum(counts[1 : max_k + 1]) / len(ranks)).tolist()
