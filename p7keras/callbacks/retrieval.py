"""``RetrievalMetrics``: validation retrieval (``val_R@1``, ``val_R@5``, ``val_R@10``, ``val_MRR@10``, protocol
``all``) as epoch metrics, so a run can select (and stop) on them; ``retrieval_scores`` computes them.

It also scores the **starting model** (before the first epoch; for the residual head, DIRECT) and logs,
every epoch, the lower bound of the 95% interval of each epoch's gain over it (``val_R@5_gain_low``,
``val_MRR@10_gain_low``: a paired bootstrap over the validation articles), the starting model's figures
(``start_R@5``, ``start_margin``, ...) and the value of the model the selection rule keeps so far
(``val_R@5_selected``): :func:`p7keras.verdict.best_epoch` lets an epoch replace the start only beyond
noise, so a run never ships a model below its starting point by chance."""

from __future__ import annotations

import typing

import keras
import numpy as np

from p7keras.evaluation.directional import DIRECTIONAL_NAMES, directional_cosines
from p7keras.evaluation.predictors import DEFAULT_BATCH_SIZE, load_predictor
from p7keras.evaluation.retrieval import ALL, METRIC_NAMES, rank_queries, retrieval_metrics
from p7keras.evaluation.uncertainty import clustered_gains, clusters, sequence_scores
from p7keras.evaluation.vectors import blocks
from p7keras.verdict import GAIN_LOW_SUFFIX, SELECTED_SUFFIX, selected_value, start_key

if typing.TYPE_CHECKING:
    from p7keras.data import SequenceSet

RETRIEVAL_PREFIX = "val_"
# The names RetrievalMetrics logs: val_R@1, val_R@5, val_R@10, val_MRR@10.
RETRIEVAL_METRICS = tuple(RETRIEVAL_PREFIX + name for name in METRIC_NAMES)
SELECTABLE = ("R@5", "MRR@10")  # the retrieval metrics --select takes, compared with the start
START_RESAMPLES = 1000  # bootstrap resamples of the validation articles for the gain over the start


def _predictions(predictor, sequences: SequenceSet, batch_size: int) -> np.ndarray:
    rows = sequences.context_rows
    queries = np.empty((len(sequences), sequences.dim), dtype=np.float32)
    for part in blocks(len(sequences)):
        queries[part] = predictor.predict(sequences.bank[rows[part]])
    return queries


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
    queries = _predictions(predictor, sequences, batch_size)
    ranks = rank_queries(queries, sequences.bank, sequences.target_rows, sequences.context_rows)
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
        self.start: dict[str, float] | None = None  # the starting model's validation figures
        self._start_scores: dict[str, np.ndarray] | None = None
        self._labels = clusters(len(sequences), sequences.article_ids)[0]
        self._history: dict[str, list[float]] = {}
        self._predictor = None  # compiled once per model; it predicts with the current weights

    def _scores(self) -> tuple[dict[str, np.ndarray], dict[str, float], np.ndarray]:
        """(per-sequence scores, metrics, predictions) of the model as it is now."""
        if self._predictor is None or self._predictor.owner is not self.model:
            self._predictor = load_predictor(self.model, batch_size=self.batch_size)
        seqs = self.sequences
        queries = _predictions(self._predictor, seqs, self.batch_size)
        ranks = rank_queries(queries, seqs.bank, seqs.target_rows, seqs.context_rows)[ALL]
        return sequence_scores(ranks), retrieval_metrics(ranks), queries

    def on_train_begin(self, logs=None):
        """Scores the starting model (before any epoch, and before a resumed run restores its weights)."""
        if self._start_scores is not None:
            return
        self._start_scores, metrics, queries = self._scores()
        seqs = self.sequences
        cosines = directional_cosines(queries, seqs.bank, seqs.target_rows, seqs.context_rows)
        self.start = {**metrics, **{name: float(cosines[name].mean()) for name in DIRECTIONAL_NAMES}}

    def on_epoch_end(self, epoch, logs=None):
        if self._start_scores is None:
            self.on_train_begin()
        scores, metrics, _ = self._scores()
        self.last = {RETRIEVAL_PREFIX + name: value for name, value in metrics.items()}
        gains = clustered_gains({m: scores[m] - self._start_scores[m] for m in SELECTABLE}, self._labels,
                                resamples=START_RESAMPLES, seed=epoch, baseline="the starting model")
        for name in SELECTABLE:
            self.last[RETRIEVAL_PREFIX + name + GAIN_LOW_SUFFIX] = gains[name]["low"]
        self.last.update({start_key(name): value for name, value in self.start.items()})
        for key, value in self.last.items():
            self._history.setdefault(key, []).append(value)
        for name in SELECTABLE:
            self.last[RETRIEVAL_PREFIX + name + SELECTED_SUFFIX] = selected_value(self._history,
                                                                                 RETRIEVAL_PREFIX + name)
        if logs is not None:
            logs.update(self.last)
