"""What ``--precision auto`` trains in on this machine, and why (issue 23).

The rule follows what was measured (README, Precision; :data:`BF16_UNITS_THAT_PAY`): on a CPU with
bfloat16 matrix units (``avx512_bf16`` or ``amx_bf16`` among ``/proc/cpuinfo``'s flags), TensorFlow trains
1.22-1.39x faster under ``mixed_bfloat16`` than in float32; PyTorch 1.25-1.35x on AMX (``amx_bf16``) and
within a round's drift on AVX512_BF16 alone; JAX 1.53-1.57x on AMX since its bfloat16 products run on the units
with its weight gradients in the weights' order (``p7keras.models.steps.bf16_dots``; not measured on AVX512_BF16
alone since). On an NVIDIA H200 (bench sizes,
2026-12-04) no 16-bit policy trained faster than float32 on JAX or PyTorch (TensorFlow was not measured there),
and nothing was measured with ``--distribute``. So ``auto`` is ``mixed_bfloat16`` for a single-device
TensorFlow run on such a CPU, or JAX or PyTorch run on an AMX CPU, with no GPU in sight, and ``float32``
everywhere else. It is
not the default: the default recipe's model trained under ``mixed_bfloat16`` was below its float32 twin beyond
the interval on one seed of three (README), so float32 stays the default and ``auto`` is asked for.
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
from p7keras.machine import BF16_CPU_FLAGS, CPUINFO, FP16_CPU_FLAGS, bf16_cpu_flags, fp16_cpu_flags, gpu_in_sight

AUTO = TRAIN_PRECISIONS[0]
# A 16-bit mode's speed as a fraction of float32's on a CPU without its matrix units: an AVX2 AMD EPYC, 2 cores,
# the bench configuration, two rounds alternating float32 and the mode, 2026-12-04 (README: Precision).
# Training: `p7keras bench --what train --precision P`; prediction: `--what predict --quantize bfloat16`.
SPEED_WITHOUT_UNITS = {
    "mixed_bfloat16": {"tensorflow": "trained at 0.87-0.88x", "jax": "trained at 0.88-0.94x",
                       "torch": "trained at 0.03x"},
    "mixed_float16": {"tensorflow": "trained at 0.79-1.01x", "torch": "trained at 0.72-0.79x"},
    "bfloat16": {"tensorflow": "predicted batches at 0.70-0.92x (single sequences 0.91-0.93x)",
                 "jax": "predicted batches at 0.71-0.79x (single sequences 0.36-0.37x)",
                 "torch": "predicted batches at 0.006x (single sequences 0.10-0.12x)"},
}
# ... and where a 16-bit mode was slower than float32 even with the units: JAX's single-sequence prediction in
# bfloat16 (its batches are faster; a 2-core Intel Xeon with AMX, 2026-12-05, two rounds; README: Precision).
SLOWER_WITH_UNITS = {
    "bfloat16": {"jax": "predicted single sequences at 0.77-0.97x float32's speed (batches 2.9-3.2x)"},
}
# The CPU flags on which a backend trains the bench transformer faster under mixed_bfloat16 than in float32, as
# measured (README: Precision): TensorFlow 1.37-1.39x on AVX512_BF16 (2026-12-04) and 1.22-1.26x on AMX
# (2026-12-05), through oneDNN; PyTorch 1.25-1.35x on AMX but 1.05-1.20x (within a round's drift) on AVX512_BF16
# alone; JAX 1.53-1.57x on AMX with its bfloat16 products on the units, its weight gradients in the weights' order
# and its step's buffers kept (models/steps/bf16_dots.py, host_memory.py; 1.07-1.12x before the gradients' order,
# 1.16-1.22x without the kept buffers; before the products were on the units 0.75-0.78x there and 0.76-0.91x on
# AVX512_BF16 alone, not measured there since).
BF16_UNITS_THAT_PAY = {"tensorflow": BF16_CPU_FLAGS, "jax": ("amx_bf16",), "torch": ("amx_bf16",)}
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
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


def cpu_computes(device: str) -> bool:
    """Whether a run's ``--device`` leaves the work to the CPU: ``cpu``, or ``auto`` with no GPU in sight.

    Example:

        cpu_computes("auto")     # True on a machine without a GPU (or with CUDA_VISIBLE_DEVICES="")
    """
    return device == "cpu" or (device == "auto" and not gpu_in_sight())


def resolve_precision(precision: str, backend: str | None = None, device: str = "auto",
                      distribute: str = "none", cpuinfo: str = CPUINFO) -> tuple[str, str]:
    """The Keras dtype policy a run trains under, and the reason, for ``precision`` (``auto`` or a policy).

    Example:

        resolve_precision("auto", "jax")           # on an AMX CPU: ('mixed_bfloat16', 'auto: JAX on a CPU with ...')
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
        caveat = slow_on_this_cpu(precision, backend or keras_backend_name(), device, cpuinfo)
        return precision, "as asked" + (f"; {caveat}" if caveat else "")
    if precision != AUTO:
        raise ValueError(f"precision must be {AUTO!r} or one of {PRECISIONS}, got {precision!r}")
    pinned = os.environ.get(PRECISION_ENV)
    if pinned:
        if pinned not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV}={pinned!r} is not a training precision; use one of {PRECISIONS}")
        return pinned, f"auto: {PRECISION_ENV}={pinned}"
    backend = backend or keras_backend_name()
    units = BF16_UNITS_THAT_PAY.get(backend)
    if not units:
        return "float32", f"auto: mixed_bfloat16 was measured no faster on {backend}; --precision to choose"
    if distribute != "none":
        return "float32", f"auto: mixed_bfloat16 was not measured with --distribute {distribute}"
    if not cpu_computes(device):
        return "float32", ("auto: a GPU may train this run, and on the GPU measured (an NVIDIA H200) no 16-bit "
                           "policy trained faster at the bench sizes")
    flags = tuple(flag for flag in bf16_cpu_flags(cpuinfo) if flag in units)
    if not flags:
        if units == BF16_CPU_FLAGS:
            return "float32", f"auto: this CPU has no bfloat16 units (no {' or '.join(units)} flag)"
        return "float32", (f"auto: {BACKEND_NAMES[backend]} was measured faster in mixed_bfloat16 only on a CPU "
                           f"with AMX (no {' or '.join(units)} flag here)")
    return "mixed_bfloat16", (f"auto: {BACKEND_NAMES[backend]} on a CPU with bfloat16 units ({', '.join(flags)}); "
                              "--precision float32 to turn it off")


def slow_on_this_cpu(precision: str, backend: str, device: str = "auto", cpuinfo: str = CPUINFO) -> str | None:
    """Why ``precision`` computes slower than float32 here: 16 bits on a CPU without such units (or JAX's bfloat16).

    Such a CPU (AVX2 only, for one) emulates the 16-bit arithmetic. On an AVX2 AMD EPYC, measured
    (:data:`SPEED_WITHOUT_UNITS`, README: Precision), every 16-bit mode was slower than float32 on every
    backend, and bfloat16 on PyTorch 30 (training) to 160 times (batch prediction) slower. JAX predicted single
    sequences slower in bfloat16 even on a CPU with the units (:data:`SLOWER_WITH_UNITS`). Nothing is said off
    Linux (no ``/proc/cpuinfo`` to tell), nor when a GPU may compute.

    Example:

        slow_on_this_cpu("mixed_bfloat16", "torch")   # on an AVX2-only CPU: 'this CPU has no bfloat16 units ...'

    Args:
        precision: a training policy (``mixed_bfloat16``, ``mixed_float16``) or an inference mode (``bfloat16``).
        backend: the backend that computes.
        device: the run's ``--device``.
        cpuinfo: the file the CPU flags are read from.

    Returns:
        One clause (no full stop), or None when there is nothing to say.
    """
    if precision not in SPEED_WITHOUT_UNITS or not cpu_computes(device):
        return None
    kind, wanted, present = (("bfloat16", BF16_CPU_FLAGS, bf16_cpu_flags) if "bfloat16" in precision
                             else ("float16", FP16_CPU_FLAGS, fp16_cpu_flags))
    if not os.path.exists(cpuinfo):
        return None
    units = present(cpuinfo)
    if units:
        figure = SLOWER_WITH_UNITS.get(precision, {}).get(backend)
        return f"on an AMX CPU {precision} on {backend} {figure}" if figure else None
    figure = SPEED_WITHOUT_UNITS[precision].get(backend)
    measured = f"; on an AVX2 CPU {precision} {figure} float32's speed on {backend}" if figure else ""
    return f"this CPU has no {kind} units (no {' or '.join(wanted)} flag){measured}; float32 is at least as fast here"


def quantize_note(mode: str | None, backend: str | None = None) -> str | None:
    """The line a command predicting with ``--quantize MODE`` prints when the mode is slower here (else None).

    Example:

        quantize_note("bfloat16", "torch")   # on an AVX2-only CPU: 'note: --quantize bfloat16: this CPU has no ...'
    """
    caveat = slow_on_this_cpu(mode, backend or keras_backend_name()) if mode else None
    return f"note: --quantize {mode}: {caveat}" if caveat else None


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
