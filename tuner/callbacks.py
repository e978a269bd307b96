"""``RetrievalMetrics``: the ship gate's retrieval numbers as epoch metrics, so a search can optimise them.

The callback lives in :mod:`p7keras.callbacks` (``p7keras train --select`` uses it too); this module
re-exports it under the names the tuner has always used.

Example:

    callback = RetrievalMetrics(splits.val)
    history = model.fit(train, validation_data=val, callbacks=[callback])
    history.history["val_R@5"]
"""

from __future__ import annotations

from p7keras.callbacks import RETRIEVAL_METRICS as LOGGED_METRICS
from p7keras.callbacks import RETRIEVAL_PREFIX as PREFIX
from p7keras.callbacks import RetrievalMetrics, retrieval_scores

__all__ = ["LOGGED_METRICS", "PREFIX", "RetrievalMetrics", "retrieval_scores"]
