"""In-memory containers for the two file formats of spec section 9.

:class:`ChunkCorpus` holds a chunk corpus (what :func:`p7keras.data.load_corpus`,
:func:`p7keras.data.make_synthetic_corpus` and :func:`p7keras.data.text_to_corpus` return);
:class:`SequenceFile` holds an upstream sequence file. Both are plain, already-checked numpy data.

Example:

>>> import numpy as np
>>> corpus = ChunkCorpus(
...     vectors=np.eye(4, dtype=np.float32),
...     article_ids=np.array([0, 0, 1, 1]),
...     source="demo",
... )
>>> corpus.num_articles, corpus.dim, corpus.article_lengths.tolist()
(2, 4, [2, 2])
"""

from __future__ import annotations

import dataclasses

import numpy as np


def article_runs(article_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start row and length of each run of equal ids, in order.

    Args:
        article_ids: ``(N,)`` integer array.

    Returns:
        ``(starts, lengths)``, two ``(R,)`` int64 arrays (R = number of runs).
    """
    ids = np.asarray(article_ids)
    if ids.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1]).astype(np.int64)
    lengths = np.diff(np.concatenate([starts, [ids.size]])).astype(np.int64)
    return starts, lengths


@dataclasses.dataclass(frozen=True, eq=False)
class ChunkCorpus:
    """A chunk corpus: unit chunk vectors in reading order, grouped by article.

    Attributes:
        vectors: ``(N, D)`` float32, unit rows, in reading order.
        article_ids: ``(N,)`` int64; the chunks of one article are contiguous.
        positions: ``(N,)`` int64 position of each chunk in its article (``None`` -> 0, 1, 2, ...).
        article_names: ``(A,)`` str, one per article in order of first appearance (``None`` -> the ids).
        source: the file it came from, or ``"synthetic"`` / ``"text:DIR"``.
        non_unit: how many input vectors were not unit length and were normalised on load.
        texts: ``(N,)`` str, the text of each chunk (``None`` when only the vectors are known).
    """

    vectors: np.ndarray
    article_ids: np.ndarray
    positions: np.ndarray | None = None
    article_names: np.ndarray | None = None
    source: str = "memory"
    non_unit: int = 0
    texts: np.ndarray | None = None

    def __post_init__(self) -> None:
        starts, lengths = article_runs(self.article_ids)
        if self.positions is None:
            run_of_row = np.repeat(np.arange(starts.size), lengths)
            rows = np.arange(np.asarray(self.article_ids).size)
            object.__setattr__(self, "positions", rows - starts[run_of_row])
        if self.article_names is None:
            names = np.asarray(self.article_ids)[starts].astype(str)
            object.__setattr__(self, "article_names", names)

    @property
    def num_chunks(self) -> int:
        """N, the number of chunk vectors."""
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        """D, the vector dimension."""
        return int(self.vectors.shape[1])

    @property
    def num_articles(self) -> int:
        """A, the number of articles."""
        return int(article_runs(self.article_ids)[0].size)

    @property
    def article_lengths(self) -> np.ndarray:
        """``(A,)`` number of chunks of each article, in order."""
        return article_runs(self.article_ids)[1]


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceFile:
    """An upstream sequence file: one row per sequence, contexts and targets as vectors.

    Attributes:
        contexts: ``(N, K, D)`` float32 unit rows, oldest first.
        targets: ``(N, D)`` float32 unit rows (the next chunk of each context).
        article_ids: ``(N,)`` int64 article of each sequence, or ``None`` when the file has none.
        source: the file it came from.
        non_unit: how many input vectors were not unit length and were normalised on load.
    """

    contexts: np.ndarray
    targets: np.ndarray
    article_ids: np.ndarray | None = None
    source: str = "memory"
    non_unit: int = 0

    @property
    def num_sequences(self) -> int:
        """N, the number of sequences."""
        return int(self.contexts.shape[0])

    @property
    def context_length(self) -> int:
        """K, the context length of every row."""
        return int(self.contexts.shape[1])

    @property
    def dim(self) -> int:
        """D, the vector dimension."""
        return int(self.contexts.shape[2])
