"""Retrieval ranking at scale: N queries against a V-chunk bank, time and peak allocation.

Spec target: 10,000 queries against a 100,000-chunk bank (D = 384) well under a minute on two CPU
cores, with memory bounded by the blocks (never an N x V score matrix):
``p7keras bench --what retrieval --dim 384``.

Example:

    from p7keras.bench.config import BenchConfig
    from p7keras.bench.retrieval import measure_retrieval
    measure_retrieval(BenchConfig(dim=32, retrieval_queries=300, retrieval_bank=3000))
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from p7keras.bench.config import BenchConfig, random_unit
from p7keras.evaluation.retrieval import count_higher, within_article_above

RETRIEVAL_CHUNKS_PER_ARTICLE = 20


def measure_retrieval(config: BenchConfig) -> dict[str, float]:
    """Time the ``all`` + ``exclude-context`` pass and the ``within-article`` pass on random unit data.

    The peak allocation is what numpy allocated during the passes (``tracemalloc``; the bank and the
    queries, allocated before, are not included).

    Args:
        config: ``retrieval_queries`` (N), ``retrieval_bank`` (V), D, K and the seed.

    Returns:
        ``{"retrieval_queries_per_s", "retrieval_all_and_exclude_context_s", "retrieval_within_article_s",
        "retrieval_peak_alloc_mib", "retrieval_bank_mib"}``.
    """
    rng = np.random.default_rng(config.seed)
    n, v, k = config.retrieval_queries, config.retrieval_bank, config.context_length
    bank = random_unit(rng, (v, config.dim))
    queries = random_unit(rng, (n, config.dim))
    starts = rng.integers(0, v - k, size=n)
    context_rows = starts[:, None] + np.arange(k)
    target_rows = starts + k
    article_ids = np.arange(v) // RETRIEVAL_CHUNKS_PER_ARTICLE

    tracemalloc.start()
    start = time.perf_counter()
    count_higher(queries, bank, target_rows, context_rows)
    middle = time.perf_counter()
    within_article_above(queries, bank, target_rows, article_ids)
    end = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "retrieval_queries_per_s": n / (end - start),
        "retrieval_all_and_exclude_context_s": middle - start,
        "retrieval_within_article_s": end - middle,
        "retrieval_peak_alloc_mib": peak / 2**20,
        "retrieval_bank_mib": bank.nbytes / 2**20,
    }
