"""Batches for ``model.fit``: the batch contract of ``p7keras.config``, on every Keras backend.

Each batch is a dict (what the models' ``train_step`` reads)::

    {"context": float32 (B, K, D) unit rows, oldest first,   # previous chunk = context[:, -1]
     "target": float32 (B, D),
     "hard_negatives": float32 (B, M, D)}                     # omitted when M = 0

:class:`P7Dataset` is a ``keras.utils.PyDataset``: every batch is one vectorised numpy gather from
the sequence set's bank; ``on_epoch_end`` reshuffles and re-samples the hard negatives, seeded by
``(seed, epoch)`` so a run is reproducible. :func:`make_tf_dataset` wraps the same batches in a
``tf.data.Dataset``. ``p7keras bench --what pipeline`` measures batches per second.

Example:

    from p7keras.data import load_sequences, make_synthetic_corpus
    seqs = load_sequences(make_synthetic_corpus(num_articles=8, chunks_per_article=20, dim=32))
    batches = P7Dataset(seqs, batch_size=16, hard_negatives=2, seed=0)
    {key: value.shape for key, value in batches[0].items()}
    # {'context': (16, 5, 32), 'target': (16, 32), 'hard_negatives': (16, 2, 32)}
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Protocol

import keras
import numpy as np

from p7keras.config import CONTEXT_KEY, DEFAULTS, HARD_NEGATIVES_KEY, TARGET_KEY
from p7keras.data.negatives import sample_hard_negatives

logger = logging.getLogger(__name__)


class BatchSource(Protocol):
    """What the batches read of a sequence set: a :class:`p7keras.data.SequenceSet` is one.

    The pipeline takes any object with these attributes, so it does not import ``sequences`` (whose
    ``as_dataset`` builds a :class:`P7Dataset`).
    """

    bank: np.ndarray  # (V, D) unit rows (or a ShardedArray)
    context_rows: np.ndarray  # (N, K) rows of bank
    target_rows: np.ndarray  # (N,) rows of bank
    bank_article_ids: np.ndarray | None
    source: str
    split: str

    def __len__(self) -> int: ...

    @property
    def context_length(self) -> int: ...

    @property
    def dim(self) -> int: ...

    @property
    def has_article_ids(self) -> bool: ...


def _positive_int(value, name: str, minimum: int) -> int:
    """``value`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class P7Dataset(keras.utils.PyDataset):
    """A ``keras.utils.PyDataset`` of P7 batches with per-epoch shuffling and hard negatives.

    Example:
        ``model.fit(P7Dataset(splits.train, batch_size=64, hard_negatives=2), epochs=10)``

    Args:
        sequences: a :class:`p7keras.data.SequenceSet` (any :class:`BatchSource`).
        batch_size: B (default ``DEFAULTS.batch_size``).
        hard_negatives: M in-article hard negatives per sample (default ``DEFAULTS.hard_negatives``);
            without article ids they are random chunks of the dataset (logged once).
        shuffle: a new order of the sequences every epoch.
        seed: seed of the order and of the negatives (epoch ``e`` uses ``(seed, e)``).
        drop_remainder: drop the last, smaller batch.
        process: ``(index, count)``: this process's part of every batch when ``count`` processes train
            together (``--distribute data-parallel`` over several processes): rows ``index·B/count`` to
            ``(index+1)·B/count`` of each global batch of B. Needs ``drop_remainder`` and B divisible by
            ``count``.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.
    """

    def __init__(
        self,
        sequences: BatchSource,
        batch_size: int | None = None,
        hard_negatives: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        process: tuple[int, int] = (0, 1),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sequences = sequences
        self.batch_size = _positive_int(
            DEFAULTS.batch_size if batch_size is None else batch_size, "batch_size", 1
        )
        self.hard_negatives = _positive_int(
            DEFAULTS.hard_negatives if hard_negatives is None else hard_negatives, "hard_negatives", 0
        )
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        index, count = (int(v) for v in process)
        if count > 1 and (not 0 <= index < count or self.batch_size % count or not self.drop_remainder):
            raise ValueError(f"process {process}: a batch of {self.batch_size} splits across {count} processes only "
                             "with 0 <= index < count, a batch divisible by count and drop_remainder=True")
        self.process = (index, count)
        if len(self) == 0:
            raise ValueError(
                f"{sequences.source} ({sequences.split}): {len(sequences)} sequences make no batch of "
                f"{self.batch_size} with drop_remainder=True"
            )
        if self.hard_negatives and not sequences.has_article_ids:
            logger.warning(
                "%s has no article ids: the %d hard negatives per sample are random chunks of the "
                "dataset, not chunks of the target's article",
                sequences.source,
                self.hard_negatives,
            )
        self.epoch = -1
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Prepare the order and the hard negatives of ``epoch`` (deterministic for ``(seed, epoch)``).

        Args:
            epoch: the epoch number (0 for the first).
        """
        seqs = self.sequences
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(seqs)) if self.shuffle else np.arange(len(seqs))
        targets = seqs.target_rows[order]
        negatives = sample_hard_negatives(rng, targets, seqs.bank_article_ids, self.hard_negatives, len(seqs.bank))
        # One assignment, so a batch read by a prefetching thread never mixes two epochs.
        self._rows = (seqs.context_rows[order], targets, negatives)
        self.epoch = epoch

    def on_epoch_end(self) -> None:
        """Called by Keras after each epoch: reshuffle and re-sample the hard negatives."""
        self.set_epoch(self.epoch + 1)

    def __len__(self) -> int:
        rounding = math.floor if self.drop_remainder else math.ceil
        return int(rounding(len(self.sequences) / self.batch_size))

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: this dataset has {len(self)} batches")
        part, parts = self.process
        share = self.batch_size // parts  # the whole batch for one process
        start = index * self.batch_size + part * share
        rows = slice(start, start + share)
        context_rows, target_rows, negative_rows = self._rows
        bank = self.sequences.bank
        batch = {CONTEXT_KEY: bank[context_rows[rows]], TARGET_KEY: bank[target_rows[rows]]}
        if self.hard_negatives:
            batch[HARD_NEGATIVES_KEY] = bank[negative_rows[rows]]
        return batch

    def epoch_rows(self) -> dict[str, np.ndarray]:
        """The current epoch's bank rows in batch order (for tests and debugging).

        Returns:
            ``{"context": (N, K), "target": (N,), "hard_negatives": (N, M)}`` int64 rows of the bank.
        """
        return dict(zip((CONTEXT_KEY, TARGET_KEY, HARD_NEGATIVES_KEY), self._rows))


def make_dataset(sequences: BatchSource, batch_size: int | None = None, hard_negatives: int | None = None,
                 shuffle: bool = True, seed: int = 0, **kwargs) -> P7Dataset:
    """Batches of ``sequences`` for ``model.fit`` (same as ``sequences.as_dataset(...)``).

    Args:
        sequences: a :class:`p7keras.data.SequenceSet` (any :class:`BatchSource`).
        batch_size, hard_negatives, shuffle, seed, **kwargs: see :class:`P7Dataset`.

    Returns:
        A :class:`P7Dataset`.
    """
    return P7Dataset(sequences, batch_size, hard_negatives, shuffle=shuffle, seed=seed, **kwargs)


def make_tf_dataset(sequences: BatchSource, batch_size: int | None = None, hard_negatives: int | None = None,
                    shuffle: bool = True, seed: int = 0, drop_remainder: bool = False):
    """The batches of :class:`P7Dataset` as a prefetched ``tf.data.Dataset``.

    Every pass over the dataset (every epoch of ``model.fit``) starts the next epoch: a new order and
    new hard negatives.

    Args:
        sequences, batch_size, hard_negatives, shuffle, seed, drop_remainder: see :class:`P7Dataset`.

    Returns:
        A ``tf.data.Dataset`` of batch dicts.
    """
    import tensorflow as tf

    batches = P7Dataset(sequences, batch_size, hard_negatives, shuffle, seed, drop_remainder)
    passes = itertools.count()

    def one_epoch():
        epoch = next(passes)
        if epoch != batches.epoch:
            batches.set_epoch(epoch)
        for index in range(len(batches)):
            yield batches[index]

    b = batches.batch_size if drop_remainder else None
    k, d = sequences.context_length, sequences.dim
    signature = {
        CONTEXT_KEY: tf.TensorSpec((b, k, d), tf.float32),
        TARGET_KEY: tf.TensorSpec((b, d), tf.float32),
    }
    if batches.hard_negatives:
        signature[HARD_NEGATIVES_KEY] = tf.TensorSpec((b, batches.hard_negatives, d), tf.float32)
    dataset = tf.data.Dataset.from_generator(one_epoch, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))  # Keras knows the steps
    return dataset.prefetch(tf.data.AUTOTUNE)
