"""The run directory ``<output_dir>/<exp-name>_<timestamp>/``: creation, resume and its files."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from p7keras.console import CLIError, INPUT_OS_ERRORS
from p7keras.io import atomic_path, read_json, save_model, write_json
from p7keras.jit_compile import compilation
from p7keras.locks import FolderLock
from p7keras.training.footprint import DiskNeed, check_room

STATE_FILE = "state.json"
RUNNING, FINISHED, FAILED = "running", "finished", "failed"
# Errors that refuse a run (bad input or usage, exit code 2): a run directory they stop before its first
# epoch is removed (a fault, Ctrl-C or a non-finite loss leaves it, to resume or to read).
REFUSALS = (CLIError, ValueError, KeyError, *INPUT_OS_ERRORS)


def _new_folder(root: Path, exp_name: str) -> Path:
    """Creates ``<root>/<exp_name>_<timestamp>`` (``-2``, ``-3`` ... when taken, by another process too)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while True:
        path = root / (f"{exp_name}_{stamp}" if suffix == 1 else f"{exp_name}_{stamp}-{suffix}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            suffix += 1


def _resumable(folder: Path, config: dict) -> bool:
    """Whether ``folder`` holds an unfinished run of exactly ``config`` (the same command started again)."""
    state = read_json(folder / STATE_FILE) or {}
    return state.get("status") == RUNNING and read_json(folder / "config.json") == config


class RunDirectory:
    """One training run's folder, locked by the process that writes it.

    ``open`` resumes the newest unfinished run of the same experiment name and identical configuration
    (the same command started again), otherwise it creates a new ``<exp-name>_<timestamp>`` folder; with
    ``run_name`` the folder is exactly ``<output_dir>/<run_name>`` (resumed while unfinished with the
    same configuration, refused when it holds anything else). Either way it takes the folder's lock
    (:class:`p7keras.locks.FolderLock`) first: a run directory another live process works in is refused in
    one line naming that process; one left by a killed process is taken over and resumed.

    Used as a context manager, it gives the lock back at the end, and removes a run directory it created
    when the run is refused (an input error, exit code 2) before any epoch finished; a resumed run
    directory is never removed.

    Example:

        with RunDirectory.open("saved_models", "p7", config.to_dict()) as run:
            run.file("best.keras")              # 'saved_models/p7_20260101-120000/best.keras'

    Args:
        path: the run folder.
        resumed: whether an unfinished earlier run is being continued.
        lock: the folder's lock, held (None: not locked by this object).
        made_root: the output folder, when ``open`` created it (removed with the run when it stays empty).
    """

    def __init__(self, path: Path, resumed: bool, lock: FolderLock | None = None, made_root: Path | None = None):
        self.path = Path(path)
        self.resumed = resumed
        self.lock = lock
        self.made_root = made_root

    @classmethod
    def open(cls, output_dir: str, exp_name: str, config: dict, need: DiskNeed | None = None,
             run_name: str | None = None) -> "RunDirectory":
        """Finds (and locks) the run directory to resume, or creates and locks a new one.

        Args:
            output_dir: the folder of run directories (created when missing).
            exp_name: the run directories' name prefix.
            config: the run's settings (``TrainConfig.to_dict()``); only an unfinished run of exactly these
                is resumed.
            need: the disk room the run needs, checked before anything is created (None: not checked here;
                see :meth:`check_room`).
            run_name: a fixed folder name instead of ``<exp_name>_<timestamp>``.

        Returns:
            The run directory, locked by this process.

        Raises:
            p7keras.locks.FolderInUseError: another live process works in the run directory to resume.
            NotADirectoryError / PermissionError / FileExistsError / ValueError: a file where the output
                folder goes, an unwritable or too full output folder, a ``run_name`` taken by another run.
        """
        root = Path(output_dir)
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"output folder {root} is a file, not a folder")
        if need is not None:
            check_room(root, need)
        made_root = None if root.exists() else root
        try:
            root.mkdir(parents=True, exist_ok=True)
            with atomic_path(root / ".p7keras-write-probe") as tmp:
                Path(tmp).write_text("ok")
            (root / ".p7keras-write-probe").unlink()
        except OSError as exc:
            raise PermissionError(f"output folder {root} is not writable: {exc.strerror or exc}") from None
        candidates = [root / run_name] if run_name else sorted(root.glob(f"{exp_name}_*"), reverse=True)
        for candidate in candidates:
            if _resumable(candidate, config):
                lock = FolderLock(candidate, "run directory").acquire()  # a live owner: refused here
                if _resumable(candidate, config):  # not finished in the meantime
                    return cls(candidate, resumed=True, lock=lock)
                lock.release()
        if run_name:
            path = root / run_name
            if path.exists():
                status = (read_json(path / STATE_FILE) or {}).get("status")
                raise FileExistsError(
                    f"{path} already exists ({f'a {status} run' if status else 'not an unfinished run'}"
                    f"{' of other settings' if status == RUNNING else ''}); choose another --run-name or "
                    "remove it")
            path.mkdir()
        else:
            path = _new_folder(root, exp_name)
        run = cls(path, resumed=False, lock=FolderLock(path, "run directory").acquire(), made_root=made_root)
        write_json(run.file("config.json"), config)
        run.mark(RUNNING)
        return run

    def check_room(self, need: DiskNeed, shown: str | None = None) -> None:
        """Raises ``ValueError`` when the output folder's disk has less free space than ``need`` (one line
        naming what was counted); see :func:`p7keras.training.footprint.check_room`."""
        check_room(self.path.parent, need, shown)

    def holds_epochs(self) -> bool:
        """Whether anything of value is here: a finished epoch in the backup or in ``history.json``."""
        history = read_json(self.path / "history.json")
        return self.finished_epochs() > 0 or (isinstance(history, dict) and any(history.values()))

    def discard(self) -> bool:
        """Removes a run directory this process created that holds no finished epoch (and the output folder
        ``open`` created, when it is left empty); never a resumed one. Returns whether it was removed."""
        if self.resumed or self.lock is None or self.holds_epochs():
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        if self.made_root is not None:
            with contextlib.suppress(OSError):
                self.made_root.rmdir()  # only when empty
        return True

    def close(self) -> None:
        """Gives the run directory's lock back."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if value is not None and isinstance(value, REFUSALS):
                self.discard()
        finally:
            self.close()

    def file(self, name: str) -> str:
        return str(self.path / name)

    @property
    def backup_dir(self) -> str:
        return self.file("backup")

    def mark(self, status: str, **details) -> None:
        write_json(self.file(STATE_FILE), {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **details})

    def check_backup(self, stream=None) -> None:
        """Makes the training backup loadable before a resumed run reads it.

        Keras' ``BackupAndRestore`` keeps the last two backups (``latest.weights.h5`` and its ``.bkp``).
        A backup damaged by a crash while it was written (a truncated HDF5 file, or an empty
        ``training_metadata.json``, which Keras writes in place) is replaced by the one before it, with a line on ``stream`` saying so; when neither loads, the error names the folder to
        remove and what is lost.

        Raises:
            RuntimeError: no backup loads.
        """
        backup = self.path / "backup"
        weights, meta = backup / "latest.weights.h5", backup / "training_metadata.json"
        found = _backup_problem(weights, meta)
        if found is None:
            return
        damaged, problem = found
        previous, previous_meta = Path(f"{weights}.bkp"), Path(f"{meta}.bkp")
        if previous.exists() and _backup_problem(previous, previous_meta) is None:
            shutil.copyfile(previous, weights)
            if previous_meta.exists():
                shutil.copyfile(previous_meta, meta)
            print(f"{damaged} is damaged ({problem}); resuming from the backup before it (epoch "
                  f"{self.finished_epochs()})", file=stream or sys.stdout)
            return
        raise RuntimeError(
            f"{damaged} is damaged ({problem}) and no earlier backup loads; remove {backup} and run the same "
            f"command again to restart this run from epoch 1 (its {self.finished_epochs()} finished epochs are "
            "lost; best.keras stays)"
        )

    def finished_epochs(self) -> int:
        """Epochs the backup holds (what Keras' ``BackupAndRestore`` will resume from; 0 if unreadable)."""
        meta = read_json(self.path / "backup" / "training_metadata.json")
        return meta["epoch"] if _epoch_record(meta) else 0

    def load_history(self) -> dict:
        """``history.json`` cut to the epochs the backup holds (a later, unsaved epoch is redone)."""
        history = read_json(self.path / "history.json") or {}
        done = self.finished_epochs()
        return {key: list(values)[:done] for key, values in history.items()}

    def finish(self, model, history: dict, verdict: dict, export: bool, keep: str = "all") -> dict:
        """Writes the end of a run and marks it finished; ``train`` and the tuner's best run both end here.

        ``final.keras`` (``model`` as it is), ``history.json``, ``curves.png``, ``verdict.json`` (the
        verdict with the backend, how its step ran (``compilation``) and the number of epochs run) and, with
        ``export``, ``export/`` (SavedModel). ``best.keras`` is the caller's: written during training, or from a
        checkpoint.

        Args:
            model: the model after its last epoch.
            history: every epoch's metrics.
            verdict: the verdict of the run's best epoch (``p7keras.verdict``).
            export: whether to write the SavedModel.
            keep: ``all`` keeps ``best.keras`` and ``final.keras``; ``best`` removes ``final.keras`` (the export
                is then made from it before); ``final`` removes ``best.keras``.

        Returns:
            The files written, by name (``final``, ``history``, ``export``, ``curves``, ``verdict``).
        """
        import keras  # noqa: PLC0415

        from p7keras.models.saving import export_saved_model  # noqa: PLC0415
        from p7keras.training.curves import plot_curves  # noqa: PLC0415

        files = {"final": save_model(model, self.file("final.keras"))}
        write_json(self.file("history.json"), history)
        files["history"] = self.file("history.json")
        if export:
            files["export"] = export_saved_model(files["final"], self.file("export"))
        if keep == "best" and Path(self.file("best.keras")).exists():
            os.remove(files.pop("final"))
        elif keep == "final" and Path(self.file("best.keras")).exists():
            os.remove(self.file("best.keras"))
        files["curves"] = plot_curves(history, self.file("curves.png"))
        verdict.update(backend=keras.backend.backend(),
                       compilation=compilation(keras.backend.backend(), model.jit_compile, model.run_eagerly),
                       epochs_run=len(history.get("loss", [])))
        write_json(self.file("verdict.json"), verdict)
        files["verdict"] = self.file("verdict.json")
        self.mark(FINISHED, verdict=verdict["status"])
        return files


def _epoch_record(meta) -> bool:
    return isinstance(meta, dict) and isinstance(meta.get("epoch"), int)


def _backup_problem(weights: Path, meta: Path) -> tuple[Path, str] | None:
    """The damaged file of a backup (weights, then Keras' ``training_metadata.json``) and why; None if sound.

    Keras writes the metadata in place after the weights: a crash while it writes leaves it empty.
    """
    if weights.exists() and (problem := _h5_problem(weights)):
        return weights, problem
    if meta.exists() and not _epoch_record(read_json(meta)):
        return meta, "not a JSON record of the finished epoch"
    return None


def _h5_problem(path: Path) -> str | None:
    """Why an HDF5 weights file cannot be read (its first line), or None when it opens and lists its groups."""
    import h5py  # noqa: PLC0415 (Keras' own dependency)

    try:
        with h5py.File(path, "r") as handle:
            handle.visit(lambda name: None)
    except Exception as exc:  # noqa: BLE001 (h5py raises OSError, KeyError or RuntimeError for damage)
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return None


def evaluation_defaults(path: str) -> dict | None:
    """The data a run was trained on, as ``p7keras evaluate`` defaults it: from the run's ``config.json``.

    A run split from one file (``--data``) or from the synthetic corpus is evaluated on its held-out
    ``ood`` articles with the run's split seed; a run with separate ``--train``/``--val`` files on the
    whole validation file.

    Example:

        evaluation_defaults("saved_models/p7_20260101-120000")
        # {'data': 'corpus.npz', 'split': 'ood', 'seed': 0, 'described': 'corpus.npz'}

    Args:
        path: a run directory (anything else: None).

    Returns:
        ``{"data": path or ChunkCorpus, "split", "seed", "described"}``, or None when ``path`` is no
        run directory.

    Raises:
        ValueError: the run's ``config.json`` is damaged.
    """
    from p7keras.training.config import TrainConfig  # noqa: PLC0415

    config_file = Path(path) / "config.json"
    if not Path(path).is_dir() or not config_file.exists():
        return None
    values = read_json(config_file)
    if not isinstance(values, dict):
        raise ValueError(f"{config_file} is damaged (not a JSON object); give the data with --data")
    config = TrainConfig.from_dict(values)
    source, val = config.data_source()
    if val is not None:
        return {"data": val, "split": "all", "seed": config.seed, "described": str(val)}
    sizes = ", ".join(f"{k}={v}" for k, v in config.synthetic.items())
    described = str(source) if isinstance(source, str) else f"the synthetic corpus ({sizes or 'default size'})"
    return {"data": source, "split": "ood", "seed": config.seed, "described": described}
