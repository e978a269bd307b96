"""Input pipeline throughput: batches per second of :class:`p7keras.data.P7Dataset` alone.

Compare with the training step's batches per second: the pipeline must be >= 10x.

Example:

    from p7keras.bench.config import BenchConfig
    from p7keras.bench.pipeline import measure_pipeline
    measure_pipeline(BenchConfig(dim=32, batch_size=16, pipeline_articles=10, pipeline_epochs=1))
"""

from __future__ import annotations

import time

from p7keras.bench.config import BenchConfig
from p7keras.data import P7Dataset, load_sequences, make_synthetic_corpus

PIPELINE_CHUNKS_PER_ARTICLE = 50


def measure_pipeline(config: BenchConfig) -> dict[str, float]:
    """Time full epochs of :class:`p7keras.data.P7Dataset` on a synthetic corpus.

    Every batch is gathered, plus ``on_epoch_end``'s reshuffle and re-sampling of the hard negatives.

    Args:
        config: ``pipeline_articles`` (of ``PIPELINE_CHUNKS_PER_ARTICLE`` chunks), ``pipeline_epochs``,
            D, K, B, M and the seed.

    Returns:
        ``{"pipeline_batches_per_s", "pipeline_seq_per_s", "pipeline_batches", "pipeline_seconds"}``.
    """
    corpus = make_synthetic_corpus(num_articles=config.pipeline_articles,
                                   chunks_per_article=PIPELINE_CHUNKS_PER_ARTICLE, dim=config.dim,
                                   seed=config.seed)
    batches = P7Dataset(load_sequences(corpus, config.context_length), config.batch_size,
                        config.hard_negatives, seed=config.seed)
    count = 0
    start = time.perf_counter()
    for _ in range(config.pipeline_epochs):
        for index in range(len(batches)):
            batches[index]
            count += 1
        batches.on_epoch_end()
    seconds = time.perf_counter() - start
    return {
        "pipeline_batches_per_s": count / seconds,
        "pipeline_seq_per_s": count * batches.batch_size / seconds,
        "pipeline_batches": count,
        "pipeline_seconds": seconds,
    }
