"""Data-parallel training with the engines Keras already has (``p7keras train --distribute data-parallel``).

* **JAX**: ``keras.distribution.DataParallel`` over every device: the variables are replicated, each
  batch is split along its first axis, and the step is one ``jax.jit`` program over the global batch,
  so in-batch negatives are the global batch's without anything more.
* **TensorFlow**: ``tf.distribute.MirroredStrategy`` over the GPUs (else the CPU's logical devices): each
  replica runs the step on its slice of the batch; the step all-gathers the targets so the other
  replicas' targets are negatives too (``p7keras.models.steps.tensorflow``).
* **PyTorch**: refused (Keras has no data-parallel engine for it; use JAX or TensorFlow).

Either way ``--batch-size`` is the **global** batch, and a run on N devices optimises the same objective
as one device with that batch (tested to 1e-5). The batch must split evenly: the last, smaller batch
of training and validation is dropped. ``cpu_devices`` splits the CPU into N devices (XLA's host
platform device count on JAX, logical devices on TensorFlow) to try all this without accelerators.

Example:

    $ p7keras train --backend jax --distribute data-parallel --cpu-devices 2 --epochs 2
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

DISTRIBUTE_CHOICES = ("none", "data-parallel")
DATA_PARALLEL_BACKENDS = ("jax", "tensorflow")
_HOST_DEVICES = "--xla_force_host_platform_device_count"


def distribute_problems(distribute: str, cpu_devices: int | None, backend: str | None, negatives: str,
                        negative_queue: int) -> list[str]:
    """The impossible combinations of the distribution settings (checked before any work).

    Args:
        distribute: ``none`` or ``data-parallel``.
        cpu_devices: N logical CPU devices, or None.
        backend: the Keras backend of the run (None: not known yet).
        negatives, negative_queue: the run's negative pool settings.

    Returns:
        One message per problem.
    """
    problems = []
    if distribute not in DISTRIBUTE_CHOICES:
        problems.append(f"distribute must be one of {DISTRIBUTE_CHOICES}, got {distribute!r}")
    if cpu_devices is not None and int(cpu_devices) < 1:
        problems.append(f"cpu_devices must be >= 1, got {cpu_devices!r}")
    if distribute == "data-parallel":
        if backend is not None and backend not in DATA_PARALLEL_BACKENDS:
            problems.append(f"--distribute data-parallel runs on the {' and '.join(DATA_PARALLEL_BACKENDS)} backends "
                            f"(Keras' DataParallel and tf.distribute); the {backend} backend has no such engine in "
                            "Keras: use --backend jax or --backend tensorflow")
        if backend == "tensorflow" and (negatives == "corpus" or negative_queue):
            problems.append("--negatives corpus and --negative-queue are not supported with --distribute "
                            "data-parallel on TensorFlow (the replicas would each keep their own pool); use JAX")
    return problems


def request_cpu_devices(count: int | None) -> None:
    """Split the CPU into ``count`` devices; call before the backend starts (the command line does).

    JAX: sets ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``. TensorFlow (``KERAS_BACKEND``
    tensorflow): sets the CPU's logical device configuration.
    """
    if count is None:
        return
    flags = re.sub(rf"{_HOST_DEVICES}=\d+", "", os.environ.get("XLA_FLAGS", "")).strip()
    os.environ["XLA_FLAGS"] = f"{flags} {_HOST_DEVICES}={int(count)}".strip()
    os.environ["P7KERAS_CPU_DEVICES"] = str(int(count))
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        _tensorflow_cpu_devices()


def _tensorflow_cpu_devices() -> None:
    import tensorflow as tf  # noqa: PLC0415

    count = os.environ.get("P7KERAS_CPU_DEVICES")
    if not count:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * int(count)
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:  # the runtime already started: fine if it has the devices asked for
        if len(tf.config.list_logical_devices("CPU")) != int(count):
            raise ValueError(f"--cpu-devices {count}: TensorFlow already started with "
                             f"{len(tf.config.list_logical_devices('CPU'))} CPU device(s); give it before anything "
                             "uses TensorFlow (the p7keras command does)") from None


@contextlib.contextmanager
def data_parallel(distribute: str, batch_size: int) -> Iterator[int]:
    """The scope a run builds and fits its model in; yields the number of replicas (1 without).

    Example:

        with data_parallel("data-parallel", 64) as replicas:
            model = build_model(config, dim)
            model.fit(...)

    Args:
        distribute: ``none`` or ``data-parallel``.
        batch_size: the global batch (must split evenly across the replicas).

    Raises:
        ValueError: an unsupported backend, or a batch that does not split evenly.
    """
    if distribute != "data-parallel":
        yield 1
        return
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    problems = distribute_problems(distribute, None, backend, "batch", 0)
    if problems:
        raise ValueError(problems[0])
    if backend == "jax":
        devices = keras.distribution.list_devices()
        _check_batch(batch_size, len(devices))
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
        return
    import tensorflow as tf  # noqa: PLC0415

    _tensorflow_cpu_devices()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    _check_batch(batch_size, len(devices))
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        yield strategy.num_replicas_in_sync


def _check_batch(batch_size: int, replicas: int) -> None:
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} does not split evenly across {replicas} devices; use a multiple "
                         f"of {replicas} (--batch-size is the global batch)")
