"""Training throughput: ``model.fit`` sequences per second on random unit data, alone or side by side
with the plain-PyTorch reference of the prototype's step (:mod:`p7keras.bench.reference_torch`).

Example:

    from p7keras.bench.config import BenchConfig
    from p7keras.bench.train import build_model, compare_prototype, measure_train
    config = BenchConfig(dim=64, d_model=64, num_layers=1, train_steps=5)
    measure_train(build_model(config), config)  # {"train_seq_per_s": ...}
    compare_prototype(build_model(config), config, rounds=2)["train_vs_prototype"]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np

from p7keras.bench.config import BenchConfig, random_unit
from p7keras.config import CONTEXT_KEY, HARD_NEGATIVES_KEY, TARGET_KEY
from p7keras.models import MODEL_CLASSES, P7Ranker


class _EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch of ``fit``, and the wait before its first batch, in seconds.

    The wait is Keras' input pipeline starting the epoch (on TensorFlow, tf.data's autotuned prefetch
    stalls 2-4 s at the start of about half the epochs on a 2-core CPU: the swing between bench rounds).
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self.waits: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._waiting = True

    def on_train_batch_begin(self, batch, logs=None):
        if self._waiting:
            self.waits.append(time.perf_counter() - self._start)
            self._waiting = False

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def build_model(config: BenchConfig) -> P7Ranker:
    """The compiled model of ``config``, its weights seeded by ``config.seed``.

    Args:
        config: model type and sizes, ``jit_compile``, ``steps_per_execution`` and the seed.

    Returns:
        A compiled :class:`p7keras.models.P7Ranker`.
    """
    keras.utils.set_random_seed(config.seed)
    layers = {} if config.model_type == "flat" else {"num_layers": config.num_layers}  # flat: no layer stack
    model = MODEL_CLASSES[config.model_type](
        context_length=config.context_length,
        input_dim=config.dim,
        d_model=config.d_model,
        dtype=config.precision,
        **layers,
    )
    model.compile(jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)
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


def training_input(data: dict[str, np.ndarray], batch_size: int) -> tuple[object, dict]:
    """What :func:`measure_train` gives ``fit``: the batches of ``data`` in order, without tf.data's autotuner.

    On TensorFlow, Keras feeds arrays through a tf.data pipeline whose autotuned prefetch stalls 0.3-4 s before
    the first batch of a third to a half of the epochs on a 2-core CPU; with two timed epochs of 20 steps that
    moved the bench's TensorFlow figure by up to 40% between rounds. So on TensorFlow the same batches come from a
    ``tf.data.Dataset`` with autotune off (a one-batch prefetch); JAX and PyTorch read the arrays as Keras does.

    Example:

        inputs, batching = training_input(random_batches(config), config.batch_size)
        model.fit(inputs, epochs=2, **batching)

    Args:
        data: the arrays of :func:`random_batches` (N a multiple of ``batch_size``).
        batch_size: B.

    Returns:
        ``(inputs, fit keyword arguments)``.
    """
    if keras.backend.backend() != "tensorflow":
        return data, {"batch_size": batch_size, "shuffle": False}
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow backend only)

    options = tf.data.Options()
    options.autotune.enabled = False
    batches = tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=True).prefetch(1)
    return batches.with_options(options), {"shuffle": False}  # in order (and no warning that fit ignores it)


def measure_train(model: P7Ranker, config: BenchConfig) -> dict[str, float]:
    """Training sequences per second of ``model`` on random unit data.

    ``model.fit`` runs ``1 + timed_epochs`` epochs of ``train_steps`` batches; the first (compilation)
    epoch is not timed and the best timed epoch is reported.

    Args:
        model: a compiled model (see :func:`build_model`).
        config: batch size, steps, timed epochs, hard negatives and the seed.

    Returns:
        ``{"train_seq_per_s", "train_epoch_waits_s"}``: sequences/s of the fastest timed epoch, and each timed
        epoch's wait before its first batch.
    """
    data = random_batches(config)
    timer = _EpochTimer()
    inputs, batching = training_input(data, config.batch_size)
    model.fit(inputs, epochs=1 + config.timed_epochs, verbose=0, callbacks=[timer], **batching)
    return {"train_seq_per_s": len(data[TARGET_KEY]) / min(timer.seconds[1:]),
            "train_epoch_waits_s": [round(wait, 3) for wait in timer.waits[1:]]}


def measure_reference(config: BenchConfig) -> dict:
    """Time the plain-PyTorch reference step at ``config``'s sizes, in a child process.

    The child (``python -m p7keras.bench.reference_torch``) imports torch only, so it never meets the
    Keras backend of this process; it times the same protocol as :func:`measure_train`.

    Args:
        config: D, K, d_model, layers, B, M, ``train_steps``, ``timed_epochs``, ``prototype_threads``, seed.

    Returns:
        What :func:`p7keras.bench.reference_torch.measure` returns (``train_seq_per_s`` first).

    Raises:
        RuntimeError: when the child fails (its last stderr lines are in the message).
    """
    flags = {"dim": config.dim, "context-length": config.context_length, "d-model": config.d_model,
             "num-layers": config.num_layers, "batch-size": config.batch_size,
             "hard-negatives": config.hard_negatives, "steps": config.train_steps,
             "timed-epochs": config.timed_epochs, "threads": config.prototype_threads, "seed": config.seed}
    command = [sys.executable, "-m", "p7keras.bench.reference_torch"]
    for name, value in flags.items():
        command += [f"--{name}", str(value)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"the PyTorch reference step failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_prototype(model: P7Ranker, config: BenchConfig, rounds: int | None = None) -> dict:
    """``model``'s training throughput side by side with the plain-PyTorch reference, alternating.

    Each round measures both (p7keras first in even rounds, the reference first in odd ones, so neither
    always runs first on a shared machine) and keeps their ratio; the figures are the medians.

    Args:
        model: a compiled model (see :func:`build_model`).
        config: the sizes; ``prototype_rounds`` unless ``rounds`` is given.
        rounds: rounds to run (>= 1).

    Returns:
        ``{"train_seq_per_s", "prototype_train_seq_per_s", "train_vs_prototype"`` (medians over rounds),
        ``"train_rounds"`` (each round's three figures), ``"prototype_reference"`` (torch version, device,
        threads)}.
    """
    rounds = config.prototype_rounds if rounds is None else int(rounds)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    per_round, reference = [], {}
    for index in range(rounds):
        order = ("p7keras", "reference") if index % 2 == 0 else ("reference", "p7keras")
        figures = {}
        for side in order:
            if side == "p7keras":
                figures.update(measure_train(model, config))
            else:
                reference = measure_reference(config)
                figures["prototype_train_seq_per_s"] = reference["train_seq_per_s"]
        figures["train_vs_prototype"] = figures["train_seq_per_s"] / figures["prototype_train_seq_per_s"]
        per_round.append(figures)
    medians = {key: statistics.median(r[key] for r in per_round) for key in per_round[0]
               if key != "train_epoch_waits_s"}
    return {**medians, "train_rounds": per_round,
            "prototype_reference": {"torch_version": reference["torch_version"], "device": reference["device"],
                                    "threads": reference["configuration"]["threads"]}}
