"""Prediction latency: wall time of ``predict_on_batch`` on one sequence.

Example:

    from p7keras.bench.config import BenchConfig
    from p7keras.bench.predict import measure_predict
    from p7keras.bench.train import build_model
    config = BenchConfig(dim=64, d_model=64, num_layers=1, predict_calls=20)
    measure_predict(build_model(config), config)  # {"predict_p50_ms": ..., "predict_p95_ms": ...}
"""

from __future__ import annotations

import numpy as np

from p7keras.bench.config import BenchConfig, random_unit
from p7keras.evaluation.predictors import call_latency_ms
from p7keras.models import P7Ranker

PREDICT_WARMUP_CALLS = 10


def measure_predict(model: P7Ranker, config: BenchConfig) -> dict[str, float]:
    """Median and 95th percentile latency of predicting one sequence, after a warm-up.

    Latency does not depend on the weights: an untrained model measures the same as a trained one.

    Args:
        model: a compiled model (see :func:`p7keras.bench.train.build_model`).
        config: K, D, ``predict_calls`` and the seed.

    Returns:
        ``{"predict_p50_ms", "predict_p95_ms"}``.
    """
    context = random_unit(np.random.default_rng(config.seed), (1, config.context_length, config.dim))
    latency = call_latency_ms(model.predict_on_batch, context, config.predict_calls, warmup=PREDICT_WARMUP_CALLS)
    return {"predict_p50_ms": latency["p50"], "predict_p95_ms": latency["p95"]}
