"""``preflight(config)``: every check a run needs before it reads data or builds a model, done once.

A training run (:func:`p7keras.training.train`) calls it once; a search (:func:`tuner.search.run_search`)
calls it once for its base config, and its hypermodel and trials do not check again. In order, each
failure one ``ValueError`` line (the command line turns it into exit code 2):

1. the settings (:meth:`TrainConfig.check`);
2. the SavedModel export can be written here (TensorFlow installed, unless ``--no-export``);
3. the backend: ``KERAS_BACKEND`` set (and GPUs hidden for ``--device cpu``) before Keras is imported;
4. ``--cpu-devices`` and several processes, before the backend starts (:mod:`p7keras.training.distribute`);
5. the device asked for (``--device gpu`` / ``metal``) is there.

Once the data is loaded, :func:`check_data` looks for degenerate data (issue 22) before any model is
built: every vector the same refuses the run (a :class:`~p7keras.data.DataError`, exit code 2); DIRECT
exact for nearly every sequence, or few distinct vectors, print a warning line and the run goes on.

Example:

    preflight(TrainConfig(device="gpu"))
    # ValueError: --device gpu requested, but the jax backend finds no GPU (accelerators found: none)
"""

from __future__ import annotations

import os
import sys

from p7keras.config import export_problems
from p7keras.training.config import TrainConfig
from p7keras.training.distribute import request_cpu_devices, start_processes


def preflight(config: TrainConfig) -> None:
    """Checks ``config`` and this machine for a run, and selects its backend (before Keras starts).

    Example:

        preflight(TrainConfig(epochs=0))   # ValueError: epochs must be >= 1, got 0

    Args:
        config: the run's settings (a search's base config).

    Raises:
        ValueError: an impossible setting, no TensorFlow for the export, Keras already running on another
            backend, or an absent device.
        RuntimeError: several processes whose coordinator cannot be reached.
    """
    config.check()
    for problem in export_problems(config.export):
        raise ValueError(problem)
    select_backend(config.backend, config.device)
    request_cpu_devices(config.cpu_devices)
    start_processes(config.distribute)  # several processes: JAX's distributed runtime, before JAX starts
    check_device(config.device)


def check_data(data, context_length: int | None, stream=None) -> None:
    """Refuses degenerate data, or prints a warning line per problem (``p7keras data inspect`` says the same).

    The checks (:func:`p7keras.data.quality.degeneracy`) look at a seeded sample of
    ``CHECK_ROWS`` rows and sequences of a larger corpus.

    Example:

        check_data(load("same.npz"), 5)
        # DataError: same.npz: 1 distinct vector among 400 rows: every chunk is the same; nothing can be ...

    Args:
        data: the loaded :class:`~p7keras.data.ChunkCorpus` or :class:`~p7keras.data.SequenceFile`.
        context_length: the run's K (``None``: the default, or the sequence file's).
        stream: where warnings go (default ``sys.stdout``).

    Raises:
        DataError: every vector (nearly) the same: nothing can be learned or measured.
    """
    from p7keras.data import DataError  # noqa: PLC0415 (numpy only)
    from p7keras.data.quality import CHECK_ROWS, degeneracy  # noqa: PLC0415

    for refuse, line in degeneracy(data, context_length, max_rows=CHECK_ROWS).problems():
        if refuse:
            raise DataError(line)
        print(f"warning: {line}", file=stream or sys.stdout, flush=True)


def select_backend(backend: str | None, device: str) -> None:
    """Sets ``KERAS_BACKEND`` (and hides GPUs for ``--device cpu``) before Keras is imported.

    Example:

        select_backend("jax", "cpu")      # os.environ: KERAS_BACKEND=jax, JAX_PLATFORMS=cpu

    Raises:
        ValueError: when Keras is already imported with another backend.
    """
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        os.environ["JAX_PLATFORMS"] = "cpu"
    if backend is None:
        return
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise ValueError(
                f"backend {backend!r} requested but Keras is already running on {current!r}; "
                f"set KERAS_BACKEND={backend} before importing keras (the p7keras command does this)"
            )
        return
    os.environ["KERAS_BACKEND"] = backend


def _accelerators(backend: str) -> set[str]:
    found = set()
    if backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        if tf.config.list_physical_devices("GPU"):
            found.add("gpu")
    elif backend == "jax":
        import jax  # noqa: PLC0415

        platforms = {d.platform.lower() for d in jax.devices()}
        if platforms & {"gpu", "cuda", "rocm"}:
            found.add("gpu")
        if "metal" in platforms:
            found.add("metal")
    elif backend == "torch":
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            found.add("gpu")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            found.add("metal")
    return found


def check_device(device: str) -> None:
    """Raises ``ValueError`` when ``device`` (gpu or metal) is not available to the active backend.

    Example:

        check_device("gpu")   # on a CPU-only machine: ValueError: --device gpu requested, but ...
    """
    import keras  # noqa: PLC0415

    if device in ("auto", "cpu"):
        return
    backend = keras.backend.backend()
    found = _accelerators(backend)
    if device not in found:
        seen = ", ".join(sorted(found)) or "none"
        raise ValueError(f"--device {device} requested, but the {backend} backend finds no {device.upper()} "
                         f"(accelerators found: {seen})")
