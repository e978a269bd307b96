"""How fast each refusal of the fault table comes, and whether it came before Keras (issue 22).

Every case of :data:`tests.faults.cases.FAULTS` with exit code 2 and a ``make`` is run as a user runs it, in a
fresh ``python -m p7keras`` process, which reports at exit which of Keras and the backends it imported.
``tests/faults/test_before_keras.py`` asserts that none was (except :data:`NEEDS_KERAS`); this script prints
the times, as a benchmark (they are not asserted: the machine's load sets them).

    $ KERAS_BACKEND=jax python -m tests.faults.refusal_times            # every case, one row each
    $ python -m tests.faults.refusal_times --repeat 3 --json times.json  # the median of 3 runs per case
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from p7keras.console import import_keras_quietly
from tests.faults.cases import FAULTS, Fault

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_tuner")
# The cases that import Keras before they refuse, and why (kept small).
NEEDS_KERAS: dict[str, str] = {}  # case name -> why it cannot be refused before Keras (none now)
# `python -m p7keras ARGS` that prints, at exit, the heavy modules the process imported and its peak
# resident memory in MiB (Linux's VmHWM; 0 elsewhere).
WRAPPER = ("import atexit, re, runpy, sys\n"
           "def report():\n"
           "    try:\n"
           "        peak = int(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) // 1024\n"
           "    except (OSError, AttributeError):\n"
           "        peak = 0\n"
           "    print('LOADED:' + ','.join(m for m in {heavy!r} if m in sys.modules), peak, file=sys.stderr)\n"
           "atexit.register(report)\n"
           "sys.argv = ['p7keras', *sys.argv[1:]]\n"
           "runpy.run_module('p7keras', run_name='__main__')\n").format(heavy=HEAVY)


def refusal_cases() -> list[Fault]:
    """The cases of the fault table that refuse with exit code 2 and can be built in a folder."""
    return [fault for fault in FAULTS if fault.code == 2 and fault.make is not None]


def run_refusal(argv: list[str], env: dict | None = None) -> tuple[float, int, list[str], list[str], int]:
    """Runs ``p7keras ARGV`` in a fresh process.

    Args:
        argv: the arguments after ``p7keras``.
        env: extra environment variables.

    Returns:
        ``(seconds, exit code, stderr lines without the report, heavy modules imported, peak MiB)``.
    """
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=environment)
    seconds = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    report = [line for line in lines if line.startswith("LOADED:")]
    assert report, f"the process did not report what it imported: {done.stderr}"
    modules, peak = report[-1][len("LOADED:"):].split(" ")
    loaded = [name for name in modules.split(",") if name]
    return seconds, done.returncode, [line for line in lines if not line.startswith("LOADED:")], loaded, int(peak)


def main(argv: list[str] | None = None) -> int:
    """Prints each refusal's time (the median of ``--repeat`` runs) and what it imported."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults.refusal_times", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (the median is shown)")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    import_keras_quietly()  # a few cases build a model file in this process
    rows = []
    print(f"{'seconds':>8}  {'peak MiB':>8}  exit  imported              case")
    for fault in refusal_cases():
        with tempfile.TemporaryDirectory() as folder:
            command = fault.make(Path(folder))
            runs = [run_refusal(command) for _ in range(args.repeat)]
        seconds = statistics.median(run[0] for run in runs)
        code, loaded, peak = runs[-1][1], runs[-1][3], max(run[4] for run in runs)
        rows.append({"case": fault.name, "command": fault.command, "seconds": round(seconds, 3), "exit": code,
                     "imported": loaded, "peak_mib": peak})
        print(f"{seconds:8.2f}  {peak:8d}  {code:>4}  {','.join(loaded) or '-':<20}  {fault.name}", flush=True)
    before = [row for row in rows if not row["imported"]]
    if before:
        times = [row["seconds"] for row in before]
        print(f"\n{len(before)} of {len(rows)} refused before Keras: median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s, peak memory up to {max(row['peak_mib'] for row in before)} MiB "
              f"(python {sys.version.split()[0]}, KERAS_BACKEND="
              f"{os.environ.get('KERAS_BACKEND', 'unset')})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
