"""Training callbacks for P7 rankers, usable with a plain ``model.fit``: one callback per module, as in Keras.

The callbacks watch training; the rules they apply (monitoring, best epoch, PASS / MARGINAL / FAIL)
live in :mod:`p7keras.verdict` as pure functions.

* ``TeacherWarmup`` (``p7keras.models.warmup``): the teacher term on for the first epochs (``P7Ranker.fit``
  adds one itself).
* ``P7Monitor`` (``monitor``): every monitoring rule of spec section 6, each warning printed once with its
  suggested action, the hard-drift stop, and the final PASS / MARGINAL / FAIL verdict with its reasons.
* ``NaNGuard`` (``nan_guard``): stops at the first non-finite loss, naming the epoch and batch.
* ``RetrievalMetrics`` (``retrieval``): ``val_R@1``, ``val_R@5``, ``val_R@10`` and ``val_MRR@10`` (protocol
  ``all``) as epoch metrics, so a run can select (and stop) on them.
* ``BestModelCheckpoint`` (``best_checkpoint``): keeps the model of the highest selected metric (default
  ``val_margin``, written atomically).
* ``RestoreFrom`` (``restore``): resumes from another folder's backup (the processes of one run).
* ``HistoryWriter`` (``history``): ``history.json`` after every epoch, carried on across resumed runs.
* ``EpochProgress`` (``progress``): a compact progress bar (loss, margin, cos_anchor).
* ``InterruptAtBatchEnd`` (``interrupt``): Ctrl-C stops ``fit`` at the end of the running batch.
* ``default_callbacks`` (``defaults``): the set a P7 run wants, as a ``P7Callbacks`` list with named members.

Example:

    ```python
    callbacks = p7keras.callbacks.default_callbacks(warmup_epochs=2)
    model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
    callbacks.monitor.verdict  # {'status': 'PASS', 'reasons': [...], ...}
    ```
"""

from p7keras.callbacks.best_checkpoint import BestModelCheckpoint
from p7keras.callbacks.defaults import P7Callbacks, default_callbacks
from p7keras.callbacks.history import HistoryWriter
from p7keras.callbacks.interrupt import InterruptAtBatchEnd, interrupt_at_batch_end
from p7keras.callbacks.monitor import P7Monitor
from p7keras.callbacks.nan_guard import NaNGuard, NonFiniteLossError
from p7keras.callbacks.progress import EpochProgress
from p7keras.callbacks.restore import RestoreFrom
from p7keras.callbacks.retrieval import RETRIEVAL_METRICS, RETRIEVAL_PREFIX, RetrievalMetrics, retrieval_scores
from p7keras.models.warmup import TeacherWarmup

# The rules moved to p7keras.verdict; these names stay importable from here.
from p7keras.verdict import (
    VIOLATIONS_END_KEY,
    VIOLATIONS_START_KEY,
    MonitorSettings,
    MonitorWarning,
    best_epoch,
    check_rules,
    history_verdict,
    lambda_range_notes,
    patience_stop,
    verdict,
)

__all__ = [
    "RETRIEVAL_METRICS", "RETRIEVAL_PREFIX", "VIOLATIONS_END_KEY", "VIOLATIONS_START_KEY", "BestModelCheckpoint",
    "EpochProgress", "HistoryWriter", "InterruptAtBatchEnd", "MonitorSettings", "MonitorWarning", "NaNGuard",
    "NonFiniteLossError", "P7Callbacks", "P7Monitor", "RestoreFrom", "RetrievalMetrics", "TeacherWarmup",
    "best_epoch", "check_rules", "default_callbacks", "history_verdict", "interrupt_at_batch_end",
    "lambda_range_notes", "patience_stop", "retrieval_scores", "verdict",
]
