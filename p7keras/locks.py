"""Advisory folder locks: a run directory, a search folder or a shard folder is worked on by one process at a time.

:class:`FolderLock` takes an exclusive ``flock`` (the ``filelock`` library) on a lock file of the folder,
without waiting, before the command does any work. A second process asking for the same folder gets a
:class:`FolderInUseError` (a ``ValueError``: one line, exit code 2) naming the owner: its pid, host, start
time and command, read from a side file the owner writes once it holds the lock (the lock file itself is
truncated by every process that opens it, so it cannot carry them). The kernel drops a ``flock`` when its
process dies, so a lock left by a killed process (``kill -9``) is simply taken over by the next one, which
overwrites the stale owner file (``previous_owner`` keeps what it said).

Within one process the lock is re-entrant by path: a caller holding a folder's lock (``p7keras data shard``)
can hand the folder to code that locks it again (:class:`p7keras.data.shard_writer.ShardWriter`).

On a network file system the lock is only as good as the file system's ``flock``: Linux's NFS client maps it
onto NFS byte-range locks, which other clients see; a mount without a lock manager (``nolock``, some
FUSE/SMB mounts) keeps it local, so two hosts are then not kept apart.

This module imports only the standard library and ``filelock`` (it runs before Keras loads).

Example:

    with FolderLock("saved_models/p7_20260101-120000", "run directory"):
        ...   # a second process: FolderInUseError: run directory saved_models/p7_... is in use by pid ...
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time

import filelock

LOCK_FILE = ".p7keras.lock"
OWNER_SUFFIX = ".owner"  # the side file beside the lock file: who holds it

_HELD: dict[str, "FolderLock"] = {}  # lock files this process holds, by real path


class FolderInUseError(ValueError):
    """Another live process holds the folder's lock (one line naming it; exit code 2)."""


def this_command() -> str:
    """This process's command line, as a user typed it (``p7keras train ...``, ``python -m tuner.search ...``)."""
    argv = list(sys.argv) or ["python"]
    head = argv[0]
    if os.path.basename(head) == "__main__.py":
        package = os.path.basename(os.path.dirname(head))
        head = package if package == "p7keras" else f"python -m {package}"
    elif os.path.basename(head) in ("p7keras", "-c"):
        head = "p7keras" if os.path.basename(head) == "p7keras" else "python -c …"
    else:
        head = os.path.basename(head)
    return " ".join([head, *(shlex.quote(arg) for arg in argv[1:])])


def describe_owner(owner: dict | None) -> str:
    """``pid 123 on host h, started 2026-01-01T12:00:00: p7keras train ...`` (or that none is recorded)."""
    if not owner:
        return "an owner that has not recorded itself yet"
    return (f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}, started {owner.get('started', '?')}: "
            f"{owner.get('command', '?')}")


class FolderLock:
    """An exclusive, non-blocking advisory lock on one folder's work.

    Example:

        lock = FolderLock("runs/p7_20260101-120000", "run directory").acquire()
        ...
        lock.release()

    Args:
        folder: the folder the lock guards (named in the message).
        what: what the folder is, for the message (``run directory``, ``search folder``, ``shard folder``).
        lock_file: the lock file (default ``<folder>/.p7keras.lock``); its owner file is beside it, with
            ``.owner`` appended. Its folder is created.

    Attributes:
        previous_owner: the owner recorded by a process that died holding the lock (taken over), else None.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder", lock_file: str | os.PathLike | None = None):
        self.folder = os.fspath(folder)
        self.what = what
        self.path = os.fspath(lock_file) if lock_file is not None else os.path.join(self.folder, LOCK_FILE)
        self.owner_path = self.path + OWNER_SUFFIX
        self.previous_owner: dict | None = None
        self._lock: filelock.BaseFileLock | None = None
        self._guest = False  # this process held the lock already when this object asked for it

    @property
    def held(self) -> bool:
        return self._lock is not None or self._guest

    def owner(self) -> dict | None:
        """What the owner file says (pid, host, started, command), or None when there is none to read."""
        try:
            with open(self.owner_path, encoding="utf-8") as handle:
                owner = json.load(handle)
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def acquire(self) -> "FolderLock":
        """Takes the lock now, or raises naming its live owner; returns ``self``.

        Raises:
            FolderInUseError: another process holds it.
            PermissionError / OSError: the lock file cannot be created.
        """
        if self.held:
            return self
        key = os.path.realpath(self.path)
        if key in _HELD:  # this process holds it already, further up the stack
            self._guest = True
            return self
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        lock = filelock.FileLock(self.path, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise FolderInUseError(
                f"{self.what} {self.folder} is in use by another process ({describe_owner(self.owner())}); wait "
                "for it to finish or stop it (a lock left by a killed process is taken over)") from None
        self._lock = lock
        _HELD[key] = self
        previous = self.owner()
        self.previous_owner = previous if previous and previous.get("pid") != os.getpid() else None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "command": this_command()}
        tmp = f"{self.owner_path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(tmp, self.owner_path)
        return self

    def release(self) -> None:
        """Gives the lock up (removing the owner file); nothing when it is not held."""
        if self._guest:
            self._guest = False
            return
        if self._lock is None:
            return
        _HELD.pop(os.path.realpath(self.path), None)
        try:
            os.remove(self.owner_path)
        except FileNotFoundError:
            pass
        lock, self._lock = self._lock, None
        lock.release()

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
