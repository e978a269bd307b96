"""In-article hard negatives (spec section 3): M other chunks of the target's article, never the target.

Each article's chunks are one contiguous range of bank rows, so sampling is vectorised: draw an offset
in the range that skips the target's row (and the rows already drawn, while the article has enough
chunks). Without article ids (or for an article with a single chunk) negatives are random rows of the
whole bank, again never the target's row.

Example:

>>> import numpy as np
>>> bank_ids = np.array([0, 0, 0, 1, 1, 1, 1])
>>> rng = np.random.default_rng(0)
>>> negs = sample_hard_negatives(rng, np.array([1, 5]), bank_ids, 2)
>>> bool(np.all(negs[0] < 3) and np.all(negs[0] != 1) and np.all(negs[1] >= 3) and np.all(negs[1] != 5))
True
"""

from __future__ import annotations

import numpy as np


def group_ranges(target_rows: np.ndarray, bank_article_ids: np.ndarray | None, bank_size: int):
    """Start and size of the bank-row range each target's negatives are drawn from.

    Args:
        target_rows: ``(N,)`` bank row of each target.
        bank_article_ids: ``(V,)`` article of each bank row (contiguous per article), or ``None``.
        bank_size: V.

    Returns:
        ``(starts, sizes)``, ``(N,)`` int64 each: the target's article, or the whole bank when there are
        no article ids or the article has a single row.
    """
    n = target_rows.shape[0]
    starts = np.zeros(n, dtype=np.int64)
    sizes = np.full(n, bank_size, dtype=np.int64)
    if bank_article_ids is None:
        return starts, sizes
    ids = np.asarray(bank_article_ids)
    boundaries = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1, [ids.size]])
    run = np.searchsorted(boundaries, target_rows, side="right") - 1
    run_starts, run_sizes = boundaries[run], boundaries[run + 1] - boundaries[run]
    in_article = run_sizes >= 2
    starts[in_article] = run_starts[in_article]
    sizes[in_article] = run_sizes[in_article]
    return starts, sizes


def sample_hard_negatives(
    rng: np.random.Generator,
    target_rows: np.ndarray,
    bank_article_ids: np.ndarray | None,
    count: int,
    bank_size: int | None = None,
) -> np.ndarray:
    """Draw ``count`` negative bank rows per target: in its article, distinct while possible, never it.

    Args:
        rng: the generator (seeded by the caller, e.g. per epoch).
        target_rows: ``(N,)`` bank row of each target.
        bank_article_ids: ``(V,)`` article of each bank row (each article contiguous), or ``None`` for
            random rows of the whole bank.
        count: M, negatives per target.
        bank_size: V (default ``len(bank_article_ids)``; required when that is ``None``).

    Returns:
        ``(N, M)`` int64 bank rows; ``row != target_rows[i]`` always.
    """
    target_rows = np.asarray(target_rows, dtype=np.int64)
    size_of_bank = len(bank_article_ids) if bank_size is None else bank_size
    if size_of_bank < 2 and count > 0:
        raise ValueError("hard negatives need a bank of at least 2 chunk vectors")
    starts, sizes = group_ranges(target_rows, bank_article_ids, size_of_bank)
    taken = (target_rows - starts)[:, None]  # offsets already used in each range, the target first
    out = np.empty((target_rows.shape[0], count), dtype=np.int64)
    for j in range(count):
        distinct = sizes - 1 - j >= 1  # enough unused rows left to keep negatives distinct
        choices = np.where(distinct, sizes - 1 - j, sizes - 1)
        offset = np.floor(rng.random(target_rows.shape[0]) * choices).astype(np.int64)
        target_only = np.full_like(taken, np.iinfo(np.int64).max)  # skip the target alone
        target_only[:, 0] = taken[:, 0]
        skip = np.where(distinct[:, None], np.sort(taken, axis=1), target_only)
        for column in skip.T:  # ascending: offset -> the offset-th unused row
            offset += offset >= column
        out[:, j] = starts + offset
        taken = np.concatenate([taken, offset[:, None]], axis=1)
    return out
