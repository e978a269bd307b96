"""Training throughput: ``model.fit`` sequences per second on random unit data.

Example:

    from p7keras.bench.config import BenchConfig
    from p7keras.bench.train import build_model, measure_train
    config = BenchConfig(dim=64, d_model=64, num_layers=1, train_steps=5)
    measure_train(build_model(config), config)  # {"train_seq_per_s": ...}
"""

from __future__ import annotations

import time

import keras
import numpy as np

from p7keras.bench.config import BenchConfig, random_unit
from p7keras.config import CONTEXT_KEY, HARD_NEGATIVES_KEY, TARGET_KEY
from p7keras.models import MODEL_CLASSES, P7Ranker



class _EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch of ``fit``, in seconds."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def build_model(config: BenchConfig) -> P7Ranker:
    """The compiled model of ``config``, its weights seeded by ``config.seed``.

    Args:
        config: model type and sizes, ``jit_compile`` and the seed.

    Returns:
        A compiled :class:`p7keras.models.P7Ranker`.
    """
    keras.utils.set_random_seed(config.seed)
    layers = {} if config.model_type == "flat" else {"num_layers": config.num_layers}  # flat: no layer stack
    model = MODEL_CLASSES[config.model_type](
        context_length=config.context_length,
        input_dim=config.dim,
        d_model=config.d_model,
        **layers,
    )
    model.compile(jit_compile=config.jit_compile)
    return model


def random_batches(config: BenchConfig) -> dict[str, np.ndarray]:
    """``train_steps`` batches of random unit data in the batch contract of ``p7keras.config``.

    Args:
        config: B, K, D, M, ``train_steps`` and the seed.

    Returns:
        ``{"context": (N, K, D), "target": (N, D)[, "hard_negatives": (N, M, D)]}`` with N = B * steps.
    """
    rng = np.random.default_rng(config.seed)
    n, k, d = config.batch_size * config.train_steps, config.context_length, config.dim
    data = {CONTEXT_KEY: random_unit(rng, (n, k, d)), TARGET_KEY: random_unit(rng, (n, d))}
    if config.hard_negatives:
        data[HARD_NEGATIVES_KEY] = random_unit(rng, (n, config.hard_negatives, d))
    return data


def measure_train(model: P7Ranker, config: BenchConfig) -> dict[str, float]:
    """Training sequences per second of ``model`` on random unit data.

    ``model.fit`` runs ``1 + timed_epochs`` epochs of ``train_steps`` batches; the first (compilation)
    epoch is not timed and the best timed epoch is reported.

    Args:
        model: a compiled model (see :func:`build_model`).
        config: batch size, steps, timed epochs, hard negatives and the seed.

    Returns:
        ``{"train_seq_per_s"}``.
    """
    data = random_batches(config)
    timer = _EpochTimer()
    model.fit(data, batch_size=config.batch_size, epochs=1 + config.timed_epochs, shuffle=False, verbose=0,
              callbacks=[timer])
    return {"train_seq_per_s": len(data[TARGET_KEY]) / min(timer.seconds[1:])}
