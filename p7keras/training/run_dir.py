"""The run directory ``<output_dir>/<exp-name>_<timestamp>/``: creation, resume and its files."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from p7keras.io import atomic_path, write_json

STATE_FILE = "state.json"
RUNNING, FINISHED, FAILED = "running", "finished", "failed"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class RunDirectory:
    """One training run's folder.

    ``open`` resumes the newest unfinished run of the same experiment name and identical configuration
    (the same command started again), otherwise it creates a new ``<exp-name>_<timestamp>`` folder.
    It checks that the output folder is writable and has room before any training starts.

    Example:

    >>> run = RunDirectory.open("saved_models", "p7", config.to_dict(), need_bytes=10**8)  # doctest: +SKIP
    >>> run.file("best.keras")  # doctest: +SKIP

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
        try:
            root.mkdir(parents=True, exist_ok=True)
            with atomic_path(root / ".p7keras-write-probe") as tmp:
                Path(tmp).write_text("ok")
            (root / ".p7keras-write-probe").unlink()
        except OSError as exc:
            raise PermissionError(f"output folder {root} is not writable: {exc.strerror or exc}") from None
        free = shutil.disk_usage(root).free
        if free < need_bytes:
            raise OSError(
                f"output folder {root} has {free / 2**20:.0f} MiB free; this run needs about "
                f"{need_bytes / 2**20:.0f} MiB for its checkpoints and export"
            )
        for candidate in sorted(root.glob(f"{exp_name}_*"), reverse=True):
            state = _read_json(candidate / STATE_FILE) or {}
            if state.get("status") == RUNNING and _read_json(candidate / "config.json") == config:
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

    def finished_epochs(self) -> int:
        """Epochs the backup holds (what Keras' ``BackupAndRestore`` will resume from)."""
        meta = _read_json(self.path / "backup" / "training_metadata.json") or {}
        return int(meta.get("epoch", 0))

    def load_history(self) -> dict:
        """``history.json`` cut to the epochs the backup holds (a later, unsaved epoch is redone)."""
        history = _read_json(self.path / "history.json") or {}
        done = self.finished_epochs()
        return {key: list(values)[:done] for key, values in history.items()}
