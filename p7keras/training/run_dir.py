"""The run directory ``<output_dir>/<exp-name>_<timestamp>/``: creation, resume and its files."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from p7keras.io import atomic_path, read_json, save_model, write_json

STATE_FILE = "state.json"
RUNNING, FINISHED, FAILED = "running", "finished", "failed"


def bytes_needed(model) -> int:
    """Disk room a run of ``model`` needs at its peak, in float32 copies of its weights (AdamW state: x3).

    ``best.keras`` (weights only, x1), ``final.keras`` and the two backups of the last epochs (x3 each),
    the export (x1), and each file's temporary copy while it is written atomically (x3): 17 copies, plus
    50 MiB for the rest.
    """
    return model.count_params() * 4 * 17 + 50 * 2**20


class RunDirectory:
    """One training run's folder.

    ``open`` resumes the newest unfinished run of the same experiment name and identical configuration
    (the same command started again), otherwise it creates a new ``<exp-name>_<timestamp>`` folder.
    It checks that the output folder is writable and has room before any training starts.

    Example:

        run = RunDirectory.open("saved_models", "p7", config.to_dict(), need_bytes=10**8)
        run.file("best.keras")              # 'saved_models/p7_20260101-120000/best.keras'

    Args:
        path: the run folder.
        resumed: whether an unfinished earlier run is being continued.
    """

    def __init__(self, path: Path, resumed: bool):
        self.path = Path(path)
        self.resumed = resumed

    @classmethod
    def open(cls, output_dir: str, exp_name: str, config: dict, need_bytes: int) -> "RunDirectory":
        root = Path(output_dir)
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(f"output folder {root} is a file, not a folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            with atomic_path(root / ".p7keras-write-probe") as tmp:
                Path(tmp).write_text("ok")
            (root / ".p7keras-write-probe").unlink()
        except OSError as exc:
            raise PermissionError(f"output folder {root} is not writable: {exc.strerror or exc}") from None
        free = shutil.disk_usage(root).free
        if free < need_bytes:  # found before any work: the user's to fix (exit code 2), not a fault
            raise ValueError(
                f"output folder {root} has {free / 2**20:.0f} MiB free; this run needs about "
                f"{need_bytes / 2**20:.0f} MiB for its checkpoints and export"
            )
        for candidate in sorted(root.glob(f"{exp_name}_*"), reverse=True):
            state = read_json(candidate / STATE_FILE) or {}
            if state.get("status") == RUNNING and read_json(candidate / "config.json") == config:
                return cls(candidate, resumed=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = root / f"{exp_name}_{stamp}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = root / f"{exp_name}_{stamp}-{suffix}"
        path.mkdir()
        run = cls(path, resumed=False)
        write_json(run.file("config.json"), config)
        run.mark(RUNNING)
        return run

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
        verdict with the backend and the number of epochs run) and, with ``export``, ``export/``
        (SavedModel). ``best.keras`` is the caller's: written during training, or from a checkpoint.

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
        verdict.update(backend=keras.backend.backend(), epochs_run=len(history.get("loss", [])))
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
