"""The process's resident memory (RSS), logged per trial to show that a search's memory stays flat.

Example:

>>> rss_mib() > 0
True
"""

from __future__ import annotations

import gc
import os
import resource
import sys


def rss_mib() -> float:
    """The current resident set size of this process in MiB.

    Read from ``/proc/self/statm`` on Linux; elsewhere the peak RSS (``getrusage``) stands in.

    Returns:
        RSS in MiB.
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def release_memory() -> float:
    """Drops Keras' global state and collects garbage; returns the RSS afterwards (MiB)."""
    import keras  # noqa: PLC0415

    keras.backend.clear_session()
    gc.collect()
    return rss_mib()
