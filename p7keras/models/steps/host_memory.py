"""Freed host memory kept for reuse (glibc's malloc): JAX's CPU steps without fresh page faults every step.

XLA's CPU runtime allocates each execution's large buffers (the step's activations, gradients and new weights)
with ``malloc`` and frees them when the step ends. glibc serves an allocation of 32 MB or more (or above its
moving threshold) with a fresh ``mmap`` and returns it to the system on ``free``, so every step touches its
buffers' pages anew: 16,000 minor page faults (about 65 MB) per step of the bench transformer under JAX,
against none under TensorFlow and PyTorch, whose allocators keep their memory. With glibc told to keep freed
memory (no ``mmap`` for large blocks, no trimming of the heap) the faults go, and the JAX bench step took 102-105
ms against 113-118 ms (``mixed_bfloat16``, a 2-core AMX Xeon, 2026-12-05, two processes each, alternating;
README: JAX's bfloat16 products). The cost: the process keeps the memory it freed (its resident size stays at
its peak) instead of returning it. glibc still maps a block that the heap cannot hold.

:func:`keep_freed_host_memory` does it with ``mallopt``, once, on Linux with glibc, unless the environment
already sets glibc's own ``MALLOC_MMAP_MAX_`` or ``MALLOC_TRIM_THRESHOLD_`` (the user's choice stands).
p7keras calls it when its JAX step is imported; it applies to the whole process.

Example:

    from p7keras.models.steps.host_memory import keep_freed_host_memory
    keep_freed_host_memory()   # True on Linux/glibc (then for the process), False elsewhere
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_MAX = -4
KEEP = 2**31 - 1  # the largest trim threshold mallopt takes: never trim
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")


@functools.cache
def keep_freed_host_memory() -> bool:
    """Tells glibc's ``malloc`` to keep freed memory for reuse (no ``mmap`` for large blocks, no trimming).

    Idempotent. Nothing is changed off Linux, with another C library, or when the environment sets
    ``MALLOC_MMAP_MAX_`` or ``MALLOC_TRIM_THRESHOLD_``.

    Example:

        keep_freed_host_memory()

    Returns:
        True when glibc now keeps freed memory (this call or an earlier one), else False.
    """
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt  # glibc's; not musl's
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP))
