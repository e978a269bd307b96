"""``RestoreFrom``: a ``BackupAndRestore`` that restores another folder's backup (the processes of one run)."""

from __future__ import annotations

import os

import keras

class RestoreFrom(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that writes its own backup but restores, when training starts, another folder's.

    In a multi-process run every process saves what process 0 saves (saving is a collective step of
    all of them), each into its own folder, and all of them resume from process 0's backup.

    Example:

        model.fit(batches, epochs=4, callbacks=[RestoreFrom("/tmp/p7keras-process1/backup", "runs/p7_x/backup")])

    Args:
        backup_dir: where this process writes its backup.
        restore_dir: the backup folder read when training starts.
    """

    def __init__(self, backup_dir: str, restore_dir: str):
        super().__init__(backup_dir, double_checkpoint=True)
        self.restore_dir = os.fspath(restore_dir)

    def on_train_begin(self, logs=None):
        own = self._weights_path, self._training_metadata_path
        self._weights_path = os.path.join(self.restore_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.restore_dir, "training_metadata.json")
        try:
            self._load_model()
        finally:
            self._weights_path, self._training_metadata_path = own
