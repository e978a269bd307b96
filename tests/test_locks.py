"""``p7keras.locks.FolderLock`` (issue 22): one process per folder, the owner named, a killed owner's lock taken over.

The holders here are real processes (:func:`hold`): a ``flock`` is per open file, and the kernel drops it
when its process dies, which is what a ``kill -9`` test needs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from p7keras.locks import FolderInUseError, FolderLock

pytestmark = pytest.mark.one_backend  # standard library and filelock only

ROOT = Path(__file__).resolve().parent.parent
_HOLDER = ("import sys, time; from p7keras.locks import FolderLock; "
           "FolderLock(sys.argv[1], 'folder', sys.argv[2] or None).acquire(); print('held', flush=True); time.sleep(600)")


def hold(folder: Path, lock_file: Path | str = "", env: dict | None = None) -> subprocess.Popen:
    """A process that takes ``folder``'s lock (``lock_file``: another lock file) and keeps it until killed."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder), str(lock_file)], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert holder.stdout.readline().strip() == "held", "the holder did not take the lock"
    return holder


def kill(holder: subprocess.Popen) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()


def test_a_second_process_is_refused_with_the_owner_named(tmp_path):
    holder = hold(tmp_path / "run")
    try:
        with pytest.raises(FolderInUseError) as refused:
            FolderLock(tmp_path / "run", "run directory").acquire()
        assert re.fullmatch(
            rf"run directory {re.escape(str(tmp_path / 'run'))} is in use by another process \(pid {holder.pid} on "
            rf"host {re.escape(socket.gethostname())}, started \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d: python -c … "
            rf"{re.escape(str(tmp_path / 'run'))} ''\); wait for it to finish or stop it \(a lock left by a killed "
            r"process is taken over\)", str(refused.value)), str(refused.value)
        assert isinstance(refused.value, ValueError)  # the console's exit code 2
    finally:
        kill(holder)


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = hold(tmp_path / "run")
    kill(holder)  # kill -9: the owner file stays, the kernel dropped the lock
    assert json.loads((tmp_path / "run" / ".p7keras.lock.owner").read_text())["pid"] == holder.pid
    lock = FolderLock(tmp_path / "run", "run directory").acquire()
    try:
        assert lock.previous_owner["pid"] == holder.pid
        assert json.loads((tmp_path / "run" / ".p7keras.lock.owner").read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert not (tmp_path / "run" / ".p7keras.lock.owner").exists()
    with FolderLock(tmp_path / "run") as again:  # released: taken at once, no earlier owner to report
        assert again.held and again.previous_owner is None


def _try_in_another_process(folder: Path) -> int:
    """Exit code of a process that tries to take ``folder``'s lock (0: taken, 1: refused)."""
    script = "import sys; from p7keras.locks import FolderLock; FolderLock(sys.argv[1]).acquire()"
    return subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode


def test_the_lock_is_reentrant_within_one_process_and_freed_by_its_first_holder(tmp_path):
    outer = FolderLock(tmp_path / "out", "shard folder").acquire()
    inner = FolderLock(tmp_path / "out", "shard folder").acquire()  # the same process, further down the stack
    assert inner.held
    inner.release()
    try:
        assert outer.held and _try_in_another_process(tmp_path / "out") == 1
    finally:
        outer.release()
    assert _try_in_another_process(tmp_path / "out") == 0


def test_an_owner_that_has_not_recorded_itself_yet_is_said_so(tmp_path):
    holder = hold(tmp_path / "run")
    try:
        (tmp_path / "run" / ".p7keras.lock.owner").unlink()
        with pytest.raises(FolderInUseError, match=r"in use by another process \(an owner that has not recorded "
                                                   r"itself yet\)"):
            FolderLock(tmp_path / "run", "run directory").acquire()
    finally:
        kill(holder)
