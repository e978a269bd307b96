"""``NaNGuard`` names the epoch and batch of the first non-finite loss."""

import math

import pytest

from p7keras import callbacks as cb


def test_nan_guard_names_epoch_and_batch():
    guard = cb.NaNGuard()
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"loss": 1.0})
    with pytest.raises(cb.NonFiniteLossError, match="epoch 3, batch 5"):
        guard.on_train_batch_end(4, {"loss": math.nan})
