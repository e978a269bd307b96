"""One measurement of a docs script in a child process of its own, for scripts that compare JAX lowerings.

A JAX lowering is chosen when a function compiles, and p7keras' registrations stay for the process, so each
lowering is timed in a fresh interpreter: the script runs itself with ``--child MODE ...`` and prints one JSON
line last, which :func:`run_child` returns. The child finds this checkout's ``p7keras`` first and JAX on its CPU.

Example (from ``docs/dropout_masks.py``)::

    result = run_child(__file__, "unrolled", "--calls", "50")   # {"lowering": "unrolled", "ms": ..., ...}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(script: str, mode: str, *args: str) -> dict:
    """Runs ``python SCRIPT --child MODE ARGS...`` and returns the JSON object of its last line of output.

    Args:
        script: the script's path (its ``__file__``).
        mode: the ``--child`` value.
        *args: further arguments.

    Returns:
        The decoded last line.

    Raises:
        subprocess.CalledProcessError: the child failed.
    """
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, script, "--child", mode, *args], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
