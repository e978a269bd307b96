"""``preflight(config)``: every check a run needs before it reads data or builds a model, done once.

A training run (:func:`p7keras.training.train`) calls it once; a search (:func:`tuner.search.run_search`)
calls it once for its base config, and its hypermodel and trials do not check again. In order, each
failure one ``ValueError`` line (the command line turns it into exit code 2):

1. the settings (:meth:`TrainConfig.check`);
2. the SavedModel export can be written here (TensorFlow installed, unless ``--no-export``);
3. the backend: ``KERAS_BACKEND`` set (and GPUs hidden for ``--device cpu``) before Keras is imported;
4. ``--cpu-devices`` and several processes, before the backend starts (:mod:`p7keras.training.distribute`);
5. the device asked for (``--device gpu`` / ``metal``) is not certainly absent from this machine: the
   cheap check, without Keras (:func:`check_device_present`: on Linux, a GPU needs a ``/dev/nvidia*``,
   ``/dev/kfd`` or ``/dev/dxg`` device not hidden by ``CUDA_VISIBLE_DEVICES``; Metal needs macOS).

Nothing here imports Keras: the caller reads its data next (numpy only), then starts Keras and asks the
backend itself whether it finds the device (:func:`check_device`), so a missing file or device is one
line in well under a second.

Once the data is loaded, :func:`check_data` looks for degenerate data (issue 22) before any model is
built: every vector the same refuses the run (a :class:`~p7keras.data.DataError`, exit code 2); DIRECT
exact for nearly every sequence, or few distinct vectors, print a warning line and the run goes on.

Example:

    preflight(TrainConfig(device="gpu"))
    # on a machine without a GPU: ValueError: --device gpu requested, but this machine has no GPU device
    # (no /dev/nvidia*, /dev/kfd or /dev/dxg)
"""

from __future__ import annotations

import os
import sys

from p7keras.config import export_problems
from p7keras.jit_compile import cpu_xla_setting, tensorflow_sees_gpu
from p7keras.machine import gpu_device_files, gpu_in_sight
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
    if config.jit_compile == "auto":
        cpu_xla_setting()  # P7KERAS_CPU_XLA, read when the model is compiled: refused now, not after the data loads
    for problem in export_problems(config.export):
        raise ValueError(problem)
    select_backend(config.backend, config.device)
    request_cpu_devices(config.cpu_devices)
    start_processes(config.distribute)  # several processes: JAX's distributed runtime, before JAX starts
    check_device_present(config.device)


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
        if tensorflow_sees_gpu():
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


def check_device_present(device: str) -> None:
    """Raises ``ValueError`` when ``device`` (gpu or metal) is certainly absent, without starting a backend.

    The cheap check: a GPU on Linux shows as a device file (:data:`p7keras.machine.GPU_DEVICE_FILES`), and
    ``CUDA_VISIBLE_DEVICES`` set to nothing or -1 hides NVIDIA's; Metal is macOS only. Where a device may
    be there (and on other systems, where nothing cheap tells), it leaves the answer to the backend
    (:func:`check_device`, once Keras runs).

    Example:

        check_device_present("metal")   # on Linux: ValueError: --device metal requested, but Metal is macOS only ...

    Raises:
        ValueError: the device is certainly not there.
    """
    if device == "metal" and sys.platform != "darwin":
        raise ValueError(f"--device metal requested, but Metal is macOS only (this machine runs {sys.platform})")
    if device != "gpu" or not sys.platform.startswith("linux"):
        return
    files = gpu_device_files()
    if not files:
        raise ValueError("--device gpu requested, but this machine has no GPU device (no /dev/nvidia*, /dev/kfd "
                         "or /dev/dxg)")
    if not gpu_in_sight():
        raise ValueError(f"--device gpu requested, but CUDA_VISIBLE_DEVICES="
                         f"{os.environ['CUDA_VISIBLE_DEVICES']!r} hides every GPU of this machine")


def check_device(device: str) -> None:
    """Raises ``ValueError`` when ``device`` (gpu or metal) is not available to the active backend.

    It starts Keras (quietly, :func:`p7keras.console.import_keras_quietly`) unless the device is ``auto``
    or ``cpu``; :func:`check_device_present` has refused a device that is certainly absent before.

    Example:

        check_device("gpu")   # on a CPU-only machine: ValueError: --device gpu requested, but ...
    """
    if device in ("auto", "cpu"):
        return
    from p7keras.console import import_keras_quietly  # noqa: PLC0415 (standard library only)

    import_keras_quietly()
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    found = _accelerators(backend)
    if device not in found:
        seen = ", ".join(sorted(found)) or "none"
        raise ValueError(f"--device {device} requested, but the {backend} backend finds no {device.upper()} "
                         f"(accelerators found: {seen})")


def check_precision(precision: str, device: str) -> None:
    """Raises ``ValueError`` when the active backend cannot train under ``precision`` on this machine.

    JAX's CPU backend (XLA) has no float16 matrix product with float32 accumulation, which ``mixed_float16``
    needs; TensorFlow and PyTorch run it on a CPU (slowly: CPUs have no float16 units). It starts Keras.

    Example:

        check_precision("mixed_float16", "cpu")   # on JAX: ValueError: --precision mixed_float16 needs a GPU ...
    """
    if precision != "mixed_float16":
        return
    from p7keras.console import import_keras_quietly  # noqa: PLC0415 (standard library only)

    import_keras_quietly()
    import keras  # noqa: PLC0415

    if keras.backend.backend() == "jax" and (device == "cpu" or "gpu" not in _accelerators("jax")):
        raise ValueError("--precision mixed_float16 needs a GPU on the jax backend (XLA's CPU backend has no "
                         "float16 matrix product); use mixed_bfloat16 or float32 on a CPU")
