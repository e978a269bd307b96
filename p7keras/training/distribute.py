"""Data-parallel training with the engines Keras already has (``p7keras train --distribute data-parallel``).

* **JAX**: ``keras.distribution.DataParallel`` over every device: the variables are replicated, each
  batch is split along its first axis, and the step is one ``jax.jit`` program over the global batch,
  so in-batch negatives are the global batch's without anything more.
* **TensorFlow**: ``tf.distribute.MirroredStrategy`` over the GPUs (else the CPU's logical devices): each
  replica runs the step on its slice of the batch; the step all-gathers the targets so the other
  replicas' targets are negatives too (``p7keras.models.steps.tensorflow``).
* **PyTorch**: refused (Keras has no data-parallel engine for it; use JAX or TensorFlow).

**Several processes** (one per host, or several on one host): JAX's distributed runtime through
``keras.distribution.initialize`` (``p7keras train --coordinator HOST:PORT --num-processes N --process-id I``,
or Keras' ``KERAS_DISTRIBUTION_*`` environment variables), one ``DataParallel`` over every process's devices.
Each process reads its own slice of every global batch (``P7Dataset(process=...)``); only process 0 writes
the run directory; every process reads its backup when the run resumes.

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

import numpy as np

DISTRIBUTE_CHOICES = ("none", "data-parallel")
# Keras' own variables for keras.distribution.initialize(): coordinator address, process count, process id.
PROCESS_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")
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
        # Several processes: each feeds its own slice of every batch (P7Dataset(process=...)), so Keras
        # must not shard the dataset again.
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=process_slice()[1] == 1))
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


# ------------------------------------------------------------------------------ several processes
def process_problems(coordinator: str | None, num_processes: int | None, process_id: int | None,
                     backend: str | None, distribute: str) -> list[str]:
    """The problems of the multi-process settings (``--coordinator``, ``--num-processes``, ``--process-id``).

    Args:
        coordinator: ``HOST:PORT`` of process 0's coordination service.
        num_processes: N, processes in the run.
        process_id: I, this process (0 to N - 1).
        backend: the run's Keras backend (None: not known yet).
        distribute: the run's ``--distribute`` setting.

    Returns:
        One message per problem (none when no setting is given).
    """
    given = {"--coordinator": coordinator, "--num-processes": num_processes, "--process-id": process_id}
    if all(value is None for value in given.values()):
        return []
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        return [f"several processes need --coordinator, --num-processes and --process-id together; missing {', '.join(missing)}"]
    problems = []
    host, _, port = str(coordinator).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        problems.append(f"--coordinator must be HOST:PORT (process 0's address, a free port), got {coordinator!r}")
    if int(num_processes) < 1:
        problems.append(f"--num-processes must be >= 1, got {num_processes}")
    elif not 0 <= int(process_id) < int(num_processes):
        problems.append(f"--process-id must be 0 to {int(num_processes) - 1} for --num-processes {num_processes}, "
                        f"got {process_id}")
    if backend is not None and backend != "jax":
        problems.append(f"--coordinator/--num-processes/--process-id start JAX's distributed runtime; the {backend} "
                        "backend cannot use them (use --backend jax)")
    if distribute != "data-parallel":
        problems.append("several processes train together only with --distribute data-parallel")
    return problems


def request_processes(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Asks for a run over several processes: sets Keras' ``KERAS_DISTRIBUTION_*`` variables (the command
    line does this from its flags; :func:`start_processes` reads them)."""
    if num_processes is None:
        return
    for name, value in zip(PROCESS_ENV, (coordinator, num_processes, process_id)):
        os.environ[name] = str(value)


def _env_int(name: str, default: int | None) -> int | None:
    """The whole number >= 0 in environment variable ``name`` (``default`` when unset)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def requested_processes() -> int:
    """N of ``KERAS_DISTRIBUTION_NUM_PROCESSES`` (1 when unset)."""
    count = _env_int(PROCESS_ENV[1], 1)
    if count < 1:
        raise ValueError(f"{PROCESS_ENV[1]} must be a whole number >= 1, got {count}")
    return count


def process_lock(output_dir: str, config: dict):
    """Several processes: a lock on this process's ``--process-id`` in this run, on this host.

    Taken before the process joins JAX's runtime: a second process given the same id for the same run (the
    same output folder and settings) is refused in one line naming the first (a duplicate would break the
    runtime of the live run, and the two would share one scratch folder). The lock file lives in the
    system's temporary folder, so processes on other hosts are not compared (their ids are the
    coordinator's to tell apart). One process: nothing is locked.

    Example:

        with process_lock("saved_models", config.to_dict()):
            preflight(config)            # joins the runtime
            ...

    Args:
        output_dir: the run's output folder.
        config: the run's settings (``TrainConfig.to_dict()``).

    Returns:
        A context manager holding the lock (:class:`p7keras.locks.FolderLock`) or doing nothing.
    """
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from p7keras.locks import FolderLock  # noqa: PLC0415

    if requested_processes() == 1 or _env_int(PROCESS_ENV[2], None) is None:
        return contextlib.nullcontext()
    process_id = _env_int(PROCESS_ENV[2], None)
    run = hashlib.sha256(json.dumps([os.path.abspath(output_dir), config], sort_keys=True).encode()).hexdigest()[:16]
    lock_file = os.path.join(tempfile.gettempdir(), "p7keras-locks", f"run-{run}.process-{process_id}.lock")
    return FolderLock(f"{process_id} of the run into {output_dir}", "--process-id", lock_file)


def start_processes(distribute: str) -> None:
    """Joins JAX's distributed runtime when several processes are asked for; call before JAX starts.

    A no-op for one process, and when the runtime is already up (a script that called
    ``keras.distribution.initialize`` itself).

    Raises:
        ValueError: several processes on another backend or without ``--distribute data-parallel``.
        RuntimeError: the coordinator cannot be reached (one line naming it).
    """
    count = requested_processes()
    if count == 1:
        return
    import keras  # noqa: PLC0415

    coordinator, process_id = os.environ.get(PROCESS_ENV[0]), _env_int(PROCESS_ENV[2], None)
    problems = process_problems(coordinator, count, process_id, keras.backend.backend(), distribute)
    if problems:
        raise ValueError(problems[0])
    import jax  # noqa: PLC0415

    if jax.distributed.is_initialized():
        return
    if process_id == 0:
        _check_port_free(coordinator)
    try:
        keras.distribution.initialize(coordinator, count, process_id)
    except Exception as exc:  # JAX raises several types (XlaRuntimeError, RuntimeError) for an unreachable peer
        raise RuntimeError(f"process {process_id} of {count} could not join the coordinator {coordinator}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` now (for ``--coordinator`` on one machine)."""
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _check_port_free(coordinator: str) -> None:
    """Process 0 serves the coordinator at ``coordinator``: a port already taken there is refused in one line
    (JAX's runtime would crash the process)."""
    import errno  # noqa: PLC0415
    import socket  # noqa: PLC0415

    host, _, port = coordinator.rpartition(":")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as probe:
            probe.bind((host.strip("[]"), int(port)))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"--coordinator {coordinator}: port {port} is already in use on this host (process 0 "
                             "serves the coordinator there); choose a free port") from None


def process_slice() -> tuple[int, int]:
    """``(index, count)`` of this process among the run's processes (``(0, 1)`` for one process).

    Keras not imported yet means no distributed runtime was started: one process (asked without loading Keras).
    """
    import sys  # noqa: PLC0415

    if "keras" not in sys.modules:
        return 0, 1
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "jax":
        return 0, 1
    import jax  # noqa: PLC0415

    return jax.process_index(), jax.process_count()


def share_text(text: str, limit: int = 4096) -> str:
    """``text`` of process 0, in every process (a path, say). One process: ``text`` unchanged."""
    index, count = process_slice()
    if count == 1:
        return text
    from jax.experimental import multihost_utils  # noqa: PLC0415

    data = text.encode()
    if len(data) > limit:
        raise ValueError(f"cannot share {len(data)} bytes between processes (at most {limit}): {text[:80]}...")
    buffer = np.zeros(limit + 1, np.int32)  # the length, then the bytes
    buffer[0], buffer[1:len(data) + 1] = len(data), np.frombuffer(data, np.uint8)
    shared = np.asarray(multihost_utils.broadcast_one_to_all(buffer))
    return bytes(shared[1:int(shared[0]) + 1].astype(np.uint8)).decode()


def check_same_weights(model, stream=None) -> str | None:
    """Checks that every process of a run ends with the same weights; returns their sha256.

    Each process prints one line ``process I of N: weights sha256 ...`` (to ``stream``, default stdout).
    One process: nothing to compare; returns None without reading the weights.

    Raises:
        RuntimeError: this process's weights differ from process 0's.
    """
    import hashlib  # noqa: PLC0415
    import sys  # noqa: PLC0415

    index, count = process_slice()
    if count == 1:
        return None
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    mine = digest.hexdigest()
    first = share_text(mine)
    print(f"process {index} of {count}: weights sha256 {mine}", file=stream or sys.stdout, flush=True)
    if mine != first:
        raise RuntimeError(f"process {index} of {count} ends with weights (sha256 {mine[:16]}) that differ from "
                           f"process 0's ({first[:16]}): the processes did not train the same model")
    return mine
