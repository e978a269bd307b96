"""Deterministic train / val / ood assignment of articles (or rows), for a seed.

Articles are shuffled with ``numpy.random.default_rng(seed)`` and cut by the fractions, so an article
never spans two splits and the same seed always gives the same splits.

Example:

>>> split_of_items(10, seed=0).tolist()
[0, 2, 0, 0, 0, 0, 0, 0, 1, 0]
"""

from __future__ import annotations

import math

import numpy as np

from p7keras.data.errors import DataError

# Split names, in order, and the default share of articles in each (spec: train 0.8 / val 0.1 / ood 0.1).
SPLITS = ("train", "val", "ood")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
ALL = "all"


def check_split(split: str) -> str:
    """Return ``split`` after checking it is ``train``, ``val``, ``ood`` or ``all``.

    Raises:
        DataError: for any other name.
    """
    if split not in (*SPLITS, ALL):
        raise DataError(f"split must be one of {[*SPLITS, ALL]}, got {split!r}")
    return split


def split_counts(num_items: int, fractions=SPLIT_FRACTIONS) -> list[int]:
    """How many items go to each split (rounded; every split with a positive share gets at least one
    item when there are enough items).

    Args:
        num_items: number of articles (or rows).
        fractions: three non-negative shares summing to 1.

    Returns:
        ``[n_train, n_val, n_ood]`` summing to ``num_items``.
    """
    fractions = [float(f) for f in fractions]
    valid = len(fractions) == len(SPLITS) and min(fractions) >= 0
    if not valid or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise DataError(
            f"split fractions must be {len(SPLITS)} non-negative numbers summing to 1, got {fractions}"
        )
    counts = [math.floor(f * num_items + 0.5) for f in fractions[1:]]
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if num_items >= len(wanted):
        counts = [max(c, 1) if f > 0 else 0 for c, f in zip(counts, fractions[1:])]
    counts = [num_items - sum(counts), *counts]
    while counts[0] < 0:  # only with a zero train share and very few items
        counts[int(np.argmax(counts))] -= 1
        counts[0] += 1
    return counts


def split_of_items(num_items: int, seed: int = 0, fractions=SPLIT_FRACTIONS) -> np.ndarray:
    """Assign each of ``num_items`` items (articles or rows) to a split, deterministically for a seed.

    Args:
        num_items: number of items.
        seed: shuffling seed.
        fractions: shares of train, val and ood.

    Returns:
        ``(num_items,)`` int array: 0 train, 1 val, 2 ood.
    """
    counts = split_counts(num_items, fractions)
    order = np.random.default_rng(seed).permutation(num_items)
    labels = np.empty(num_items, dtype=np.int64)
    labels[order] = np.repeat(np.arange(len(SPLITS)), counts)
    return labels


def split_mask(groups: np.ndarray, split: str, seed: int = 0, fractions=SPLIT_FRACTIONS) -> np.ndarray:
    """Boolean mask of the entries of ``groups`` that fall in ``split``; groups are split as a whole.

    Groups are numbered in order of first appearance before shuffling, so the result does not depend on
    the id values themselves.

    Args:
        groups: ``(N,)`` group (article) id of each entry.
        split: ``train``, ``val``, ``ood`` or ``all``.
        seed: shuffling seed.
        fractions: shares of train, val and ood.

    Returns:
        ``(N,)`` bool.
    """
    if check_split(split) == ALL:
        return np.ones(len(groups), dtype=bool)
    unique, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    appearance = np.empty(unique.size, dtype=np.int64)
    appearance[np.argsort(first, kind="stable")] = np.arange(unique.size)
    labels = split_of_items(unique.size, seed, fractions)
    return labels[appearance[inverse.reshape(-1)]] == SPLITS.index(split)
