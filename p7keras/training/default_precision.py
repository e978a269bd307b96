"""What ``--precision auto`` trains in on this machine, and why (issue 23).

The rule follows what was measured (README, Precision): on a CPU with bfloat16 matrix units
(``avx512_bf16`` or ``amx_bf16`` among ``/proc/cpuinfo``'s flags), TensorFlow trains 1.37-1.39x faster
under ``mixed_bfloat16`` than in float32; JAX was slower there in bfloat16 and PyTorch level. On an NVIDIA
H200 (bench sizes, 2026-12-04) no 16-bit policy trained faster than float32 on JAX or PyTorch (TensorFlow
was not measured there), and nothing was measured with ``--distribute``. So ``auto`` is ``mixed_bfloat16`` for a single-device
TensorFlow run on such a CPU with no GPU in sight, and ``float32`` everywhere else. It is not the default:
the default recipe's model trained under ``mixed_bfloat16`` was below its float32 twin beyond the interval
on one seed of three (README), so float32 stays the default and ``auto`` is asked for.
``P7KERAS_PRECISION`` (one of ``PRECISIONS``) sets what ``auto`` means on a machine, whatever it has
(the test suite pins ``float32`` this way). A precision given by name is never changed.

The answer is known before Keras starts (the standard library only): the backend is ``--backend``, else
``KERAS_BACKEND``, else the ``backend`` of Keras' own ``keras.json``, else TensorFlow, as Keras decides.

Example:

    resolve_precision("auto", backend="tensorflow", device="auto", distribute="none")
    # on a CPU with avx512_bf16: ('mixed_bfloat16', 'auto: TensorFlow on a CPU with bfloat16 units (avx512_bf16) ...')
"""

from __future__ import annotations

import json
import os
import sys

from p7keras.config import PRECISIONS, TRAIN_PRECISIONS
from p7keras.machine import BF16_CPU_FLAGS, CPUINFO, bf16_cpu_flags, gpu_in_sight

AUTO = TRAIN_PRECISIONS[0]
# The variable that sets what --precision auto means on a machine (unset: the rule of this module).
PRECISION_ENV = "P7KERAS_PRECISION"


def keras_backend_name() -> str:
    """The backend Keras runs (or will run) on, without importing Keras: as Keras itself decides."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as file:
            return str(json.load(file).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def resolve_precision(precision: str, backend: str | None = None, device: str = "auto",
                      distribute: str = "none", cpuinfo: str = CPUINFO) -> tuple[str, str]:
    """The Keras dtype policy a run trains under, and the reason, for ``precision`` (``auto`` or a policy).

    Example:

        resolve_precision("auto", "jax")           # ('float32', 'auto: mixed_bfloat16 was measured no faster ...')
        resolve_precision("mixed_float16", "jax")  # ('mixed_float16', 'as asked')

    Args:
        precision: ``auto`` or one of ``PRECISIONS`` (returned as it is).
        backend: the run's backend (None: :func:`keras_backend_name`).
        device: the run's ``--device``.
        distribute: the run's ``--distribute``.
        cpuinfo: the file the CPU flags are read from.

    Returns:
        ``(policy, reason)``: one of ``PRECISIONS``, and the words the run prints beside it.

    Raises:
        ValueError: ``precision`` is neither, or ``P7KERAS_PRECISION`` names no policy.
    """
    if precision in PRECISIONS:
        return precision, "as asked"
    if precision != AUTO:
        raise ValueError(f"precision must be {AUTO!r} or one of {PRECISIONS}, got {precision!r}")
    pinned = os.environ.get(PRECISION_ENV)
    if pinned:
        if pinned not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV}={pinned!r} is not a training precision; use one of {PRECISIONS}")
        return pinned, f"auto: {PRECISION_ENV}={pinned}"
    backend = backend or keras_backend_name()
    if backend != "tensorflow":
        return "float32", f"auto: mixed_bfloat16 was measured no faster on {backend}; --precision to choose"
    if distribute != "none":
        return "float32", f"auto: mixed_bfloat16 was not measured with --distribute {distribute}"
    if device == "gpu" or (device == "auto" and gpu_in_sight()):
        return "float32", ("auto: a GPU may train this run, and on the GPU measured (an NVIDIA H200) no 16-bit "
                           "policy trained faster at the bench sizes")
    flags = bf16_cpu_flags(cpuinfo)
    if not flags:
        return "float32", f"auto: this CPU has no bfloat16 units (no {' or '.join(BF16_CPU_FLAGS)} flag)"
    return "mixed_bfloat16", (f"auto: TensorFlow on a CPU with bfloat16 units ({', '.join(flags)}); "
                              "--precision float32 to turn it off")


def precision_line(policy: str, reason: str) -> str:
    """The line a run (and a search) prints about its training precision.

    Example:

        precision_line("mixed_bfloat16", "auto: TensorFlow on a CPU with bfloat16 units (avx512_bf16); ...")
        # 'Precision: mixed_bfloat16 (auto: TensorFlow on ...; Keras dtype policy: float32 variables and loss, ...)'

    Args:
        policy: one of ``PRECISIONS``.
        reason: why (:func:`resolve_precision`'s second value).

    Returns:
        One line, without a newline.
    """
    parts = [] if reason == "as asked" else [reason]
    if policy != "float32":
        parts.append(f"Keras dtype policy: float32 variables and loss, the encoder and head in {policy.split('_')[1]}"
                     + ("; loss scaling" if policy == "mixed_float16" else ""))
    return f"Precision: {policy}" + (f" ({'; '.join(parts)})" if parts else "")
