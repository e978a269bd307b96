"""The search's data, loaded once and windowed once per context length K.

The context length is a hyperparameter, so each trial may need other windows of the same corpus:
:class:`WindowCache` keeps the loaded corpus (or sequence file) and the
``p7keras.data.load_splits`` result of every K it has been asked for.

Example:

    cache = WindowCache.from_config(TrainConfig(num_articles=20, chunks_per_article=12, dim=16))
    cache.splits(3).train.context_length, cache.splits(7).val.context_length, cache.dim    # (3, 7, 16)
"""

from __future__ import annotations

from p7keras import data as p7data
from p7keras.training.config import TrainConfig


class WindowCache:
    """Train/val/ood splits of one data set for any context length K, each K windowed once.

    Example:

        cache = WindowCache.from_config(TrainConfig(num_articles=20, dim=16))

    Args:
        source: a loaded ``ChunkCorpus`` or ``SequenceFile`` (or a path).
        seed: the split seed.
        val: a separate validation file (then nothing is split and there is no ood split).
        train_chunks: train on a seeded subset of whole training articles of at most this many chunks.
    """

    def __init__(self, source, seed: int = 0, val=None, train_chunks: int | None = None):
        self.source = source if isinstance(source, (p7data.ChunkCorpus, p7data.SequenceFile)) else p7data.load(source)
        self.val = None if val is None else p7data.load(val)
        self.seed = int(seed)
        self.train_chunks = train_chunks
        self._splits: dict[int, p7data.DataSplits] = {}

    @classmethod
    def from_config(cls, config: TrainConfig) -> "WindowCache":
        """The data a training configuration names (``TrainConfig.data_source``: a file or the synthetic corpus).

        Args:
            config: its data settings and ``seed`` are used.

        Returns:
            A :class:`WindowCache`.

        Raises:
            FileNotFoundError, p7keras.data.DataError: unreadable data.
        """
        source, val = config.data_source()
        return cls(source, config.seed, val, config.train_chunks)

    @property
    def dim(self) -> int:
        """D, the embedding width."""
        return int(self.source.dim)

    def splits(self, context_length: int) -> p7data.DataSplits:
        """The splits windowed for K = ``context_length`` (computed on first use, then cached).

        Args:
            context_length: K.

        Returns:
            A ``p7keras.data.DataSplits``.

        Raises:
            p7keras.data.DataError: K too long for the data, or an empty split.
        """
        k = int(context_length)
        if k not in self._splits:
            self._splits[k] = p7data.load_splits(self.source, k, self.seed, val=self.val,
                                                 train_chunks=self.train_chunks)
        return self._splits[k]
