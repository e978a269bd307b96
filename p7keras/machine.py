"""What this machine has, read cheaply without starting a backend: GPU device files, the CPU's bfloat16 units and
its int8 dot-product instructions.

The standard library only: :mod:`p7keras.training.preflight` refuses ``--device gpu`` on a machine without a
GPU from it, and :mod:`p7keras.training.default_precision` decides what ``--precision auto`` trains in.

Example:

    gpu_in_sight(), bf16_cpu_flags()     # (False, ('avx512_bf16',)) on a CPU-only AMD EPYC of Zen 4
"""

from __future__ import annotations

import glob
import os
import sys

# Device files of a GPU on Linux: NVIDIA's driver, AMD's ROCm (kfd) and WSL's GPU paravirtualisation.
GPU_DEVICE_FILES = ("/dev/nvidia*", "/dev/kfd", "/dev/dxg")


def gpu_device_files() -> list[str]:
    """The GPU device files of this machine (:data:`GPU_DEVICE_FILES`; none off Linux)."""
    return sorted(path for pattern in GPU_DEVICE_FILES for path in glob.glob(pattern))


def gpu_in_sight() -> bool:
    """Whether a GPU may run the work: a GPU device file that ``CUDA_VISIBLE_DEVICES`` does not hide.

    Off Linux, where nothing cheap tells, the answer is yes.
    """
    if not sys.platform.startswith("linux"):
        return True
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1")
    return any(not (hidden and path.startswith(("/dev/nvidia", "/dev/dxg"))) for path in gpu_device_files())


# /proc/cpuinfo flags of bfloat16 matrix units: AVX512-BF16 (AMD Zen 4+, Intel Cooper Lake+) and AMX (Intel
# Sapphire Rapids+). oneDNN, under TensorFlow, has kernels for both.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# ... and of float16 matrix units: AVX512-FP16 (Intel Sapphire Rapids+) and AMX-FP16 (Granite Rapids+).
FP16_CPU_FLAGS = ("avx512_fp16", "amx_fp16")
# ... and of int8 dot-product instructions: AMX-INT8 (Intel Sapphire Rapids+), AVX512-VNNI (Intel Cascade Lake+,
# AMD Zen 4+) and AVX-VNNI (Intel Alder Lake+). PyTorch's ``torch._int_mm`` on a CPU is fast with them and slower than
# an int32 product without them (p7keras.models.steps.int8_products).
INT8_CPU_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")
CPUINFO = "/proc/cpuinfo"


def bf16_cpu_flags(cpuinfo: str = CPUINFO) -> tuple[str, ...]:
    """The bfloat16 matrix-unit flags (:data:`BF16_CPU_FLAGS`) this CPU lists, in that order.

    Example:

        bf16_cpu_flags()        # ('avx512_bf16',) on an AMD EPYC of Zen 4; () on an AVX2-only CPU

    Args:
        cpuinfo: the file to read (``/proc/cpuinfo``; absent on macOS and Windows: no flags).

    Returns:
        The flags found on the file's ``flags`` lines.
    """
    return cpu_flags_among(BF16_CPU_FLAGS, cpuinfo)


def fp16_cpu_flags(cpuinfo: str = CPUINFO) -> tuple[str, ...]:
    """The float16 matrix-unit flags (:data:`FP16_CPU_FLAGS`) this CPU lists, as :func:`bf16_cpu_flags` does."""
    return cpu_flags_among(FP16_CPU_FLAGS, cpuinfo)


def int8_cpu_flags(cpuinfo: str = CPUINFO) -> tuple[str, ...]:
    """The int8 dot-product flags (:data:`INT8_CPU_FLAGS`) this CPU lists, as :func:`bf16_cpu_flags` does.

    Example:

        int8_cpu_flags()        # ('amx_int8', 'avx512_vnni') on an AMX Xeon; () on an AVX2-only AMD EPYC
    """
    return cpu_flags_among(INT8_CPU_FLAGS, cpuinfo)


def cpu_flags_among(wanted: tuple[str, ...], cpuinfo: str = CPUINFO) -> tuple[str, ...]:
    """Those of ``wanted`` that the ``flags`` lines of ``cpuinfo`` list, in ``wanted``'s order (none: no file)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            flags = {flag for line in file if line.startswith("flags") for flag in line.split(":", 1)[-1].split()}
    except OSError:
        return ()
    return tuple(flag for flag in wanted if flag in flags)
