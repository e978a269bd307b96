"""Atomic file writes: a failure never leaves a half-written file behind.

Everything p7keras writes (corpora, reports, model files) goes to a temporary name in the destination
folder and is renamed over the destination only once it is complete (``os.replace`` is atomic on one
file system).

The rule for the files and folders a user names (``--out``, ``--json``, ``--html``), in one place: every
command checks them before its work (:func:`check_writable`) and refuses one that exists already, in one
line naming it (:func:`refuse_existing`), unless ``--overwrite`` is given (:func:`add_overwrite_argument`).

Example:

    with atomic_path("corpus.npz") as tmp:
        np.savez(tmp, x=np.zeros(3))      # corpus.npz appears only once the write has finished
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file is not created in advance (the writer creates it, with the usual permissions) and
    keeps the destination's suffix (``np.savez`` appends ``.npz`` to names without it). When the block
    raises, the temporary file is removed and the destination is untouched. Missing parent folders are
    created. An ``OSError`` that names the temporary file (a permission denied, a full disk) is raised
    again naming ``path``, the file the user asked for, with the same class, ``errno`` and ``strerror``
    (a ``PermissionError`` is exit code 2, a full disk 3).

    Args:
        path: the destination file.

    Returns:
        A context manager yielding the temporary path (a ``str``) to write to.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    suffix = os.path.splitext(base)[1]
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(exc, OSError) and tmp in (exc.filename, exc.filename2):
            raise _naming(exc, path) from None
        raise


def _naming(exc: OSError, path: str) -> OSError:
    """``exc`` (about a temporary file) told about ``path`` instead: same class, errno and strerror."""
    return type(exc)(exc.errno, exc.strerror, path)


OVERWRITE_FLAG = "--overwrite"


def add_overwrite_argument(parser: argparse.ArgumentParser, what: str = "the output files") -> None:
    """Adds ``--overwrite`` (``args.overwrite``): replace outputs that exist instead of refusing them.

    Example:

    >>> parser = argparse.ArgumentParser()
    >>> add_overwrite_argument(parser)
    >>> parser.parse_args(["--overwrite"]).overwrite
    True

    Args:
        parser: the command's parser.
        what: the outputs, as the help line names them.
    """
    parser.add_argument(OVERWRITE_FLAG, action="store_true",
                        help=f"replace {what} if present (without this flag an existing output is refused)")


def refuse_existing(path: str | os.PathLike, overwrite: bool, exists: bool | None = None,
                    what: str = "exists already") -> None:
    """Raise unless ``path`` is free or ``overwrite`` allows replacing it: the one refusal of every command.

    Example:

    >>> refuse_existing(os.curdir, overwrite=False)
    Traceback (most recent call last):
    ...
    FileExistsError: .: exists already; pass --overwrite to replace it

    Args:
        path: the output the user named.
        overwrite: the command's ``--overwrite``.
        exists: whether it counts as existing (``None``: whether anything is at ``path``).
        what: how the line says that it exists.

    Raises:
        FileExistsError: ``"PATH: exists already; pass --overwrite to replace it"`` (exit code 2).
    """
    if exists is None:
        exists = os.path.lexists(path)
    if exists and not overwrite:
        raise FileExistsError(f"{os.fspath(path)}: {what}; pass {OVERWRITE_FLAG} to replace it")


def check_writable(*paths: str | os.PathLike | None, overwrite: bool = False) -> None:
    """Raise unless a file can be written at each path (checked before any work that would write it).

    Refuses a file that exists already unless ``overwrite`` (:func:`refuse_existing`), creates the
    missing parent folders (as :func:`atomic_path` would) and writes and removes a probe file in each
    destination folder. ``None`` entries (an output not asked for) are skipped.

    Example:

    >>> check_writable(os.path.join(tempfile.mkdtemp(), "reports", "examples.json"), None)

    Args:
        *paths: the destination files.
        overwrite: an existing file may be replaced (the command's ``--overwrite``).

    Raises:
        IsADirectoryError: a path is a folder.
        FileExistsError: a file is there already and ``overwrite`` is False.
        NotADirectoryError: a file stands where a parent folder should be.
        PermissionError: the folder cannot be created or written (naming the path and the reason).
    """
    for path in paths:
        if path is None:
            continue
        path = os.fspath(path)
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path}: is a folder; give a file name to write")
        refuse_existing(path, overwrite)
        folder = os.path.dirname(os.path.abspath(path))
        existing = folder
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise NotADirectoryError(f"{path}: cannot write there: {existing} is a file, not a folder")
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise PermissionError(f"{path}: cannot write there ({exc.strerror or exc})") from None


def save_model(model, path: str | os.PathLike, optimizer: bool = True) -> str:
    """Saves a Keras ``model`` to ``path`` (``.keras``) atomically (see :func:`atomic_path`); returns ``path``.

    Args:
        model: a built Keras model.
        path: the ``.keras`` file.
        optimizer: keep the optimizer's state (to train on from the file); without it the file holds the
            weights and configuration only, about a third of the size for AdamW, and loads uncompiled.

    Returns:
        ``path`` as a string.
    """
    if not optimizer and getattr(model, "optimizer", None) is not None:
        from p7keras.models.precision import rebuilt  # noqa: PLC0415 (Keras only when a model is saved)

        model = rebuilt(model)  # the weights and configuration, without the optimizer
    with atomic_path(path) as tmp:
        model.save(tmp)
    return os.fspath(path)


def read_json(path: str | os.PathLike, default=None):
    """The JSON content of ``path``, or ``default`` when the file is missing, unreadable or not JSON.

    For the run's own bookkeeping files (state, history, trial summaries), where a missing or
    damaged file means "nothing recorded yet" rather than an error.

    Args:
        path: the file.
        default: what to return when it cannot be read.

    Returns:
        The parsed content or ``default``.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def write_json(path: str | os.PathLike, data) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`atomic_path`).

    Args:
        path: the destination file.
        data: anything ``json.dump`` accepts.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
