"""``RetrievalMetrics``: validation retrieval (``val_R@1``, ``val_R@5``, ``val_R@10``, ``val_MRR@10``, protocol
``all``) as epoch metrics, so a run can select (and stop) on them; ``retrieval_scores`` computes them."""

from __future__ import annotations

import typing

import keras
import numpy as np

from p7keras.evaluation.predictors import DEFAULT_BATCH_SIZE, load_predictor
from p7keras.evaluation.retrieval import ALL, METRIC_NAMES, rank_queries, retrieval_metrics
from p7keras.evaluation.vectors import blocks

if typing.TYPE_CHECKING:
    from p7keras.data import SequenceSet

RETRIEVAL_PREFIX = "val_"
# The names RetrievalMetrics logs: val_R@1, val_R@5, val_R@10, val_MRR@10.
RETRIEVAL_METRICS = tuple(RETRIEVAL_PREFIX + name for name in METRIC_NAMES)


def retrieval_scores(model, sequences: SequenceSet, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, float]:
    """R@1, R@5, R@10 and MRR@10 of ``model`` on ``sequences`` under protocol ``all`` (spec section 8).

    The same code as ``p7keras.evaluate`` (``load_predictor``, ``rank_queries``, ``retrieval_metrics``):
    every sequence's prediction is ranked against the split's bank of chunks, the context included.

    Example:

        retrieval_scores(model, splits.val)["R@5"]  # 0.42

    Args:
        model: a ``keras.Model`` (or anything ``p7keras.evaluation.load_predictor`` takes).
        sequences: the sequence set; its bank is the candidate set.
        batch_size: prediction batch size.

    Returns:
        ``{"R@1", "R@5", "R@10", "MRR@10"}`` as floats.
    """
    predictor = load_predictor(model, batch_size=batch_size)
    rows = sequences.context_rows
    queries = np.empty((len(sequences), sequences.dim), dtype=np.float32)
    for part in blocks(len(sequences)):
        queries[part] = predictor.predict(sequences.bank[rows[part]])
    ranks = rank_queries(queries, sequences.bank, sequences.target_rows, rows)
    return retrieval_metrics(ranks[ALL])


class RetrievalMetrics(keras.callbacks.Callback):
    """Adds ``val_R@1``, ``val_R@5``, ``val_R@10`` and ``val_MRR@10`` (protocol ``all``) to the epoch logs.

    At the end of every epoch the model predicts every sequence of the validation split and each
    prediction is ranked against the split's bank (:func:`retrieval_scores`). Put it before the
    callbacks that read these metrics (``P7Monitor``, ``BestModelCheckpoint``, ``HistoryWriter``;
    ``default_callbacks`` does, and the tuner appends its own after the ones given to ``fit``).

    Example:

        model.fit(train, validation_data=val, callbacks=[RetrievalMetrics(splits.val)])

    Args:
        sequences: the validation split (``p7keras.data.SequenceSet``).
        batch_size: prediction batch size.

    Raises:
        ValueError: ``sequences`` is empty.
    """

    def __init__(self, sequences: SequenceSet, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__()
        if len(sequences) == 0:
            raise ValueError("RetrievalMetrics needs at least one validation sequence, got 0")
        self.sequences = sequences
        self.batch_size = int(batch_size)
        self.last: dict[str, float] = {}
        self._predictor = None  # compiled once per model; it predicts with the current weights

    def on_epoch_end(self, epoch, logs=None):
        if self._predictor is None or self._predictor.owner is not self.model:
            self._predictor = load_predictor(self.model, batch_size=self.batch_size)
        scores = retrieval_scores(self._predictor, self.sequences, self.batch_size)
        self.last = {RETRIEVAL_PREFIX + name: value for name, value in scores.items()}
        if logs is not None:
            logs.update(self.last)
