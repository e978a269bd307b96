"""Throughput probe: training sequences/s and single-sequence prediction latency.

Example:

>>> from p7keras.bench import benchmark
>>> benchmark(dim=64, d_model=64, num_layers=1, train_steps=5)  # doctest: +SKIP
{'backend': 'jax', 'train_seq_per_s': ..., 'predict_p50_ms': ..., 'predict_p95_ms': ..., ...}
"""

from __future__ import annotations

import time

import numpy as np

import keras

from p7keras.config import CONTEXT_KEY, DEFAULTS, HARD_NEGATIVES_KEY, TARGET_KEY
from p7keras.evaluation.predictors import call_latency_ms
from p7keras.models import LSTMP7Ranker, TransformerP7Ranker

MODEL_TYPES = {"transformer": TransformerP7Ranker, "lstm": LSTMP7Ranker}


def _unit(rng: np.random.Generator, shape) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def benchmark(
    model_type: str = "transformer",
    dim: int = 768,
    context_length: int = DEFAULTS.context_length,
    d_model: int = DEFAULTS.d_model,
    num_layers: int = DEFAULTS.num_layers,
    batch_size: int = DEFAULTS.batch_size,
    hard_negatives: int = DEFAULTS.hard_negatives,
    train_steps: int = 20,
    timed_epochs: int = 2,
    predict_calls: int = 200,
    jit_compile="auto",
    seed: int = 0,
) -> dict:
    """Measures training throughput and single-sequence prediction latency on random unit data.

    Training runs ``model.fit`` for ``1 + timed_epochs`` epochs of ``train_steps`` batches; the first
    (compilation) epoch is not timed and the best timed epoch is reported. Latency is the wall time
    of ``predict_on_batch`` on one sequence, after a warm-up.

    Args:
        model_type: ``"transformer"`` or ``"lstm"``.
        dim: D. context_length: K. d_model, num_layers: model size. batch_size: B.
        hard_negatives: M per sample. train_steps: batches per epoch.
        timed_epochs: epochs timed after the warm-up epoch. predict_calls: latency samples.
        jit_compile: passed to ``compile`` (``"auto"``: XLA on TensorFlow, jit on JAX).
        seed: data and weight seed.

    Returns:
        Dict with ``backend``, ``train_seq_per_s``, ``predict_p50_ms``, ``predict_p95_ms`` and the
        configuration measured.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {sorted(MODEL_TYPES)}, got {model_type!r}")
    if train_steps < 1 or timed_epochs < 1 or predict_calls < 1:
        raise ValueError("train_steps, timed_epochs and predict_calls must be >= 1")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    n = batch_size * train_steps
    data = {
        CONTEXT_KEY: _unit(rng, (n, context_length, dim)),
        TARGET_KEY: _unit(rng, (n, dim)),
    }
    if hard_negatives:
        data[HARD_NEGATIVES_KEY] = _unit(rng, (n, hard_negatives, dim))
    model = MODEL_TYPES[model_type](
        context_length=context_length, input_dim=dim, d_model=d_model, num_layers=num_layers
    )
    model.compile(jit_compile=jit_compile)
    timer = _EpochTimer()
    model.fit(
        data, batch_size=batch_size, epochs=1 + timed_epochs, shuffle=False, verbose=0, callbacks=[timer]
    )
    train_seconds = min(timer.seconds[1:])

    latency = call_latency_ms(model.predict_on_batch, data[CONTEXT_KEY][:1], predict_calls, warmup=10)
    return {
        "backend": keras.backend.backend(),
        "train_seq_per_s": n / train_seconds,
        "predict_p50_ms": latency["p50"],
        "predict_p95_ms": latency["p95"],
        "model_type": model_type,
        "dim": dim,
        "context_length": context_length,
        "d_model": d_model,
        "num_layers": num_layers,
        "batch_size": batch_size,
        "hard_negatives": hard_negatives,
        "train_steps": train_steps,
        "jit_compile": model.jit_compile,
        "parameters": model.count_params(),
    }
