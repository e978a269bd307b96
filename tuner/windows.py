"""The search's data, loaded once and windowed once per context length K.

The context length is a hyperparameter, so each trial may need other windows of the same corpus:
:class:`WindowCache` keeps the loaded corpus (or sequence file) and the
``p7keras.data.load_splits`` result of every K it has been asked for.

Example:

>>> from p7keras.data import make_synthetic_corpus
>>> cache = WindowCache(make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16))
>>> cache.splits(3).train.context_length, cache.splits(7).val.context_length, cache.dim
(3, 7, 16)
"""

from __future__ import annotations

import dataclasses

from p7keras import data as p7data
from p7keras.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class SyntheticOptions:
    """Size of the embedded synthetic corpus used when no data file is given (None: its default).

    Args:
        num_articles: articles A.
        chunks_per_article: chunks of every article.
        dim: embedding width D.
    """

    num_articles: int | None = None
    chunks_per_article: int | None = None
    dim: int | None = None

    def given(self) -> dict:
        """The options that were set, as ``make_synthetic_corpus`` keyword arguments."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class WindowCache:
    """Train/val/ood splits of one data set for any context length K, each K windowed once.

    Example:

    >>> cache = WindowCache.from_config(TrainConfig(), SyntheticOptions(num_articles=20, dim=16))  # doctest: +SKIP

    Args:
        source: a loaded ``ChunkCorpus`` or ``SequenceFile`` (or a path).
        seed: the split seed.
        val: a separate validation file (then nothing is split and there is no ood split).
    """

    def __init__(self, source, seed: int = 0, val=None):
        self.source = source if isinstance(source, (p7data.ChunkCorpus, p7data.SequenceFile)) else p7data.load(source)
        self.val = None if val is None else p7data.load(val)
        self.seed = int(seed)
        self._splits: dict[int, p7data.DataSplits] = {}

    @classmethod
    def from_config(cls, config: TrainConfig, synthetic: SyntheticOptions = SyntheticOptions()) -> "WindowCache":
        """The data a training configuration names: ``data``, ``train``/``val`` or the synthetic corpus.

        Args:
            config: its ``data``, ``train``, ``val`` and ``seed`` are used.
            synthetic: the synthetic corpus's size (only without a data file).

        Returns:
            A :class:`WindowCache`.

        Raises:
            ValueError: synthetic options together with a data file.
            FileNotFoundError, p7keras.data.DataError: unreadable data.
        """
        path = config.train if config.train is not None else config.data
        if path is not None and synthetic.given():
            flags = ", ".join(f"--{name.replace('_', '-')}" for name in synthetic.given())
            raise ValueError(f"{flags} size the synthetic corpus and cannot be used with a data file ({path})")
        source = p7data.make_synthetic_corpus(**synthetic.given()) if path is None else path
        return cls(source, config.seed, config.val)

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
            self._splits[k] = p7data.load_splits(self.source, k, self.seed, val=self.val)
        return self._splits[k]
