"""Scale probe of the blocked retrieval: N queries against a V-chunk bank, time and peak memory.

Spec target: 10,000 queries against a 100,000-chunk bank (D = 384) well under a minute on two CPU
cores, with memory bounded by the blocks (never an N x V score matrix).

Example:

    $ python -m p7keras.evaluation.bench                      # 10k x 100k, D = 384
    $ python -m p7keras.evaluation.bench --queries 2000 --bank 20000
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from p7keras.config import DEFAULTS
from p7keras.evaluation.retrieval import count_higher, within_article_above

CHUNKS_PER_ARTICLE = 20


def _unit(rng: np.random.Generator, shape) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def benchmark_retrieval(
    num_queries: int = 10_000,
    bank_size: int = 100_000,
    dim: int = 384,
    context_length: int = DEFAULTS.context_length,
    seed: int = 0,
) -> dict:
    """Time the ``all`` + ``exclude-context`` pass and the ``within-article`` pass on random unit data.

    Peak memory is what numpy allocated during the passes (``tracemalloc``; the bank and the queries,
    allocated before, are not included), next to the process's peak resident size.

    Args:
        num_queries: N queries (sequences).
        bank_size: V bank rows (articles of 20 chunks each).
        dim: D.
        context_length: K context rows per query.
        seed: data seed.

    Returns:
        ``{"queries", "bank", "dim", "all_and_exclude_context_s", "within_article_s", "peak_alloc_mib",
        "bank_mib", "max_rss_mib"}``.
    """
    rng = np.random.default_rng(seed)
    bank = _unit(rng, (bank_size, dim))
    queries = _unit(rng, (num_queries, dim))
    starts = rng.integers(0, bank_size - context_length, size=num_queries)
    context_rows = starts[:, None] + np.arange(context_length)
    target_rows = starts + context_length
    article_ids = np.arange(bank_size) // CHUNKS_PER_ARTICLE

    tracemalloc.start()
    start = time.perf_counter()
    count_higher(queries, bank, target_rows, context_rows)
    middle = time.perf_counter()
    within_article_above(queries, bank, target_rows, article_ids)
    end = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "queries": num_queries,
        "bank": bank_size,
        "dim": dim,
        "all_and_exclude_context_s": middle - start,
        "within_article_s": end - middle,
        "peak_alloc_mib": peak / 2**20,
        "bank_mib": bank.nbytes / 2**20,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--bank", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args(argv)
    r = benchmark_retrieval(args.queries, args.bank, args.dim)
    print(
        f"{r['queries']} queries x {r['bank']} bank rows, D={r['dim']}: all + exclude-context "
        f"{r['all_and_exclude_context_s']:.1f} s, within-article {r['within_article_s']:.1f} s; peak allocation "
        f"during ranking {r['peak_alloc_mib']:.0f} MiB (bank itself {r['bank_mib']:.0f} MiB), "
        f"process max RSS {r['max_rss_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
