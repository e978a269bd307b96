"""Sequence sets: the windows of one split, as index arrays into that split's bank of chunk vectors.

A :class:`SequenceSet` is what training and evaluation consume. ``bank`` holds every chunk vector of
the split (for an upstream sequence file: every distinct vector among the split's contexts and targets,
by exact equality of the loaded unit vectors, spec section 8); ``context_rows`` and ``target_rows``
point into it, so the evaluator's retrieval bank is ``bank`` and the hit for sequence ``i`` is row
``target_rows[i]``; ``bank_article_ids`` gives the within-article bank. What a person reads of a bank
row travels with it: ``bank_texts`` (when the corpus has texts), ``bank_positions`` and
``article_names`` (see :meth:`SequenceSet.chunk`).

:func:`load_splits` is the function most users call.

Example:

>>> from p7keras.data import make_synthetic_corpus
>>> splits = load_splits(make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16), seed=0)
>>> splits.train.contexts.shape, splits.val.targets.shape
((112, 5, 16), (14, 16))
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from p7keras.config import DEFAULTS
from p7keras.data.checks import check_contiguous, check_same_dim
from p7keras.data.corpus import ChunkCorpus, SequenceFile, article_runs
from p7keras.data.errors import DataError
from p7keras.data.formats import load
from p7keras.data.shards import take_rows
from p7keras.data.splits import ALL, SPLIT_FRACTIONS, SPLITS, check_split, split_mask
from p7keras.data.windows import check_context_length, require_windows, window_rows


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceSet:
    """The sequences of one split, as row indices into the split's bank of unit chunk vectors.

    Attributes:
        bank: ``(V, D)`` float32 unit rows: every chunk vector of the split, each article's rows
            contiguous (a :class:`p7keras.data.shards.ShardedArray` for a sharded corpus: rows are read
            from disk when indexed).
        context_rows: ``(N, K)`` int64 rows of ``bank``, oldest chunk first.
        target_rows: ``(N,)`` int64 row of ``bank`` holding each sequence's target (next) chunk.
        article_ids: ``(N,)`` int64 article of each sequence, or ``None`` (sequence file without ids).
        bank_article_ids: ``(V,)`` int64 article of each bank row, or ``None``.
        corpus_rows: ``(V,)`` int64 row of each bank vector in the source corpus's ``vectors``, or
            ``None`` for sequence files.
        source: where the data came from.
        split: ``train``, ``val``, ``ood`` or ``all``.
        non_unit: vectors of the source normalised on load (for the data report).
        bank_texts: ``(V,)`` str text of each bank row, or ``None`` (a corpus without ``texts``, a
            sequence file).
        bank_positions: ``(V,)`` int64 position of each bank row in its article, or ``None``.
        article_names: ``{article id: name}`` of the source's articles, or ``None``.
    """

    bank: np.ndarray
    context_rows: np.ndarray
    target_rows: np.ndarray
    article_ids: np.ndarray | None = None
    bank_article_ids: np.ndarray | None = None
    corpus_rows: np.ndarray | None = None
    source: str = "memory"
    split: str = ALL
    non_unit: int = 0
    bank_texts: np.ndarray | None = None
    bank_positions: np.ndarray | None = None
    article_names: dict[int, str] | None = None

    def __len__(self) -> int:
        return int(self.target_rows.shape[0])

    @property
    def context_length(self) -> int:
        """K."""
        return int(self.context_rows.shape[1])

    @property
    def dim(self) -> int:
        """D."""
        return int(self.bank.shape[1])

    @property
    def has_article_ids(self) -> bool:
        """Whether sequences know their article (needed for in-article hard negatives)."""
        return self.bank_article_ids is not None

    @property
    def num_articles(self) -> int | None:
        """Number of distinct articles among the sequences (``None`` without article ids)."""
        return None if self.article_ids is None else int(np.unique(self.article_ids).size)

    @property
    def contexts(self) -> np.ndarray:
        """``(N, K, D)`` float32 context vectors, oldest first (a gathered copy)."""
        return self.bank[self.context_rows]

    @property
    def targets(self) -> np.ndarray:
        """``(N, D)`` float32 target (next chunk) vectors (a gathered copy)."""
        return self.bank[self.target_rows]

    @property
    def previous(self) -> np.ndarray:
        """``(N, D)`` float32 previous chunk of each target, ``contexts[:, -1]``."""
        return self.bank[self.context_rows[:, -1]]

    def chunk(self, row: int) -> dict:
        """What a person can read of bank row ``row``: its article, position and text.

        Example:

            splits.val.chunk(int(splits.val.target_rows[0]))
            # {'row': 7, 'article': 'book/ch01.md', 'position': 7, 'text': 'Ownership is ...'}

        Args:
            row: a row of ``bank``.

        Returns:
            ``{"row", "article", "position", "text"}``; ``article`` is the name (else the id) or ``None``
            without article ids, ``position`` and ``text`` are ``None`` when unknown.
        """
        row = int(row)
        article = None
        if self.bank_article_ids is not None:
            article_id = int(self.bank_article_ids[row])
            article = (self.article_names or {}).get(article_id, str(article_id))
        return {
            "row": row,
            "article": article,
            "position": None if self.bank_positions is None else int(self.bank_positions[row]),
            "text": None if self.bank_texts is None else str(self.bank_texts[row]),
        }

    def subset_articles(self, max_chunks: int, seed: int = 0) -> "SequenceSet":
        """A seeded subset of whole articles holding at most ``max_chunks`` bank chunks (at least one article).

        For data-scaling studies: the articles are drawn in a seeded order and kept while their chunks
        fit, the bank is cut to their chunks, so in-article negatives and a corpus softmax see only the
        subset. Never cuts an article.

        Example:

            small = splits.train.subset_articles(5000, seed=0)      # ~5k training chunks, whole articles

        Args:
            max_chunks: the most bank chunks to keep (>= 1).
            seed: the draw's seed.

        Returns:
            A :class:`SequenceSet` (this one when it already fits).

        Raises:
            DataError: no article ids (a sequence file without them) or ``max_chunks`` < 1.
        """
        if int(max_chunks) < 1:
            raise DataError(f"train_chunks must be >= 1, got {max_chunks!r}")
        if self.bank_article_ids is None or self.article_ids is None:
            raise DataError(f"{self.source}: a subset by article needs article ids (this data has none)")
        if len(self.bank) <= max_chunks:
            return self
        articles, sizes = np.unique(self.bank_article_ids, return_counts=True)
        order = np.random.default_rng(seed).permutation(len(articles))
        kept = order[np.cumsum(sizes[order]) <= max_chunks]
        chosen = articles[kept] if len(kept) else articles[order[:1]]
        bank_keep = np.isin(self.bank_article_ids, chosen)
        new_row = np.cumsum(bank_keep) - 1  # old bank row -> new bank row (valid where kept)
        seq_keep = np.isin(self.article_ids, chosen)
        return dataclasses.replace(
            self,
            bank=take_rows(self.bank, bank_keep),
            context_rows=new_row[self.context_rows[seq_keep]],
            target_rows=new_row[self.target_rows[seq_keep]],
            article_ids=self.article_ids[seq_keep],
            bank_article_ids=self.bank_article_ids[bank_keep],
            corpus_rows=None if self.corpus_rows is None else self.corpus_rows[bank_keep],
            bank_texts=None if self.bank_texts is None else take_rows(self.bank_texts, bank_keep),
            bank_positions=None if self.bank_positions is None else self.bank_positions[bank_keep],
        )

    def as_dataset(
        self,
        batch_size: int | None = None,
        hard_negatives: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        **kwargs,
    ):
        """Batches for ``model.fit``: a :class:`p7keras.data.P7Dataset` (a ``keras.utils.PyDataset``).

        Args:
            batch_size: B (default ``DEFAULTS.batch_size``).
            hard_negatives: M in-article hard negatives per sample (default ``DEFAULTS.hard_negatives``).
            shuffle: reshuffle the sequences every epoch.
            seed: seed of the shuffling and of the negatives.
            **kwargs: passed to :class:`p7keras.data.P7Dataset` (``drop_remainder``, ``workers`` ...).

        Returns:
            A :class:`p7keras.data.P7Dataset`.
        """
        from p7keras.data.pipeline import P7Dataset

        return P7Dataset(self, batch_size, hard_negatives, shuffle=shuffle, seed=seed, **kwargs)

    def as_tf_dataset(
        self,
        batch_size: int | None = None,
        hard_negatives: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        **kwargs,
    ):
        """The same batches as :meth:`as_dataset`, as a ``tf.data.Dataset`` (new negatives each pass).

        Returns:
            A ``tf.data.Dataset`` of batch dicts.
        """
        from p7keras.data.pipeline import make_tf_dataset

        return make_tf_dataset(self, batch_size, hard_negatives, shuffle=shuffle, seed=seed, **kwargs)


@dataclasses.dataclass(frozen=True, eq=False)
class DataSplits:
    """Train, validation and out-of-distribution sequence sets of one dataset.

    ``ood`` is ``None`` when train and validation came from separate files.
    """

    train: SequenceSet
    val: SequenceSet
    ood: SequenceSet | None = None

    def items(self) -> list[tuple[str, SequenceSet]]:
        """``[(name, SequenceSet), ...]`` for the splits that exist."""
        pairs = [("train", self.train), ("val", self.val), ("ood", self.ood)]
        return [(name, seqs) for name, seqs in pairs if seqs is not None]


Source = str | os.PathLike | ChunkCorpus | SequenceFile


def _as_data(source: Source) -> ChunkCorpus | SequenceFile:
    """Load ``source`` unless it is already loaded."""
    return source if isinstance(source, (ChunkCorpus, SequenceFile)) else load(source)


def resolve_context_length(data: ChunkCorpus | SequenceFile, context_length: int | None) -> int:
    """The K to use: given K, else the file's K (sequence file) or ``DEFAULTS.context_length``.

    Args:
        data: the loaded data.
        context_length: requested K or ``None``.

    Returns:
        K.

    Raises:
        DataError: K < 2, or K longer than a sequence file's contexts.
    """
    if context_length is None:
        return data.context_length if isinstance(data, SequenceFile) else DEFAULTS.context_length
    k = check_context_length(context_length, data.source)
    if isinstance(data, SequenceFile) and k > data.context_length:
        raise DataError(
            f"{data.source}: context length K = {k} is longer than the file's contexts "
            f"(K = {data.context_length}); use K <= {data.context_length}"
        )
    return k


def _from_corpus(corpus: ChunkCorpus, k: int, split: str, seed: int, fractions) -> SequenceSet:
    """Windows of the articles of ``split``; the bank is every chunk of those articles."""
    if corpus.vectors.ndim != 2 or np.shape(corpus.article_ids) != (corpus.vectors.shape[0],):
        raise DataError(
            f"{corpus.source}: vectors {np.shape(corpus.vectors)} and article_ids "
            f"{np.shape(corpus.article_ids)} do not describe (N, D) chunks with one article id each"
        )
    check_contiguous(corpus.article_ids, corpus.source)  # in-memory corpora are not checked on load
    require_windows(corpus.article_ids, k, corpus.source)
    if split == ALL:
        rows = np.arange(corpus.num_chunks)
        bank, texts = corpus.vectors, corpus.texts  # no copies of the whole corpus
    else:
        rows = np.flatnonzero(split_mask(corpus.article_ids, split, seed, fractions))
        bank, texts = take_rows(corpus.vectors, rows), None if corpus.texts is None else take_rows(corpus.texts, rows)
    ids = corpus.article_ids[rows]
    context_rows, target_rows = window_rows(ids, k)
    starts, _ = article_runs(corpus.article_ids)
    return SequenceSet(
        bank, context_rows, target_rows, ids[target_rows], ids, rows, corpus.source, split, corpus.non_unit,
        bank_texts=texts,
        bank_positions=np.asarray(corpus.positions, dtype=np.int64)[rows],
        article_names=dict(zip(np.asarray(corpus.article_ids)[starts].tolist(),
                               np.asarray(corpus.article_names, dtype=str).tolist())),
    )


def _distinct_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``vectors`` (exact equality), in order of first appearance.

    Returns:
        ``(first_index_of_each_distinct_row, distinct_index_of_each_row)``.
    """
    flat = np.ascontiguousarray(vectors, dtype=np.float32) + np.float32(0.0)  # -0.0 == 0.0
    keys = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse.reshape(-1)]


def _from_sequence_file(data: SequenceFile, k: int, split: str, seed: int, fractions) -> SequenceSet:
    """Rows of ``split`` (by article when the file has ids, else by row); bank = distinct vectors."""
    has_ids = data.article_ids is not None
    groups = data.article_ids if has_ids else np.arange(data.num_sequences)
    mask = split_mask(groups, split, seed, fractions)
    contexts = data.contexts[mask][:, -k:]
    n, d = contexts.shape[0], data.dim
    # Each sequence's K context vectors then its target, so bank rows follow reading order.
    stacked = np.concatenate([contexts, data.targets[mask][:, None]], axis=1).reshape(-1, d)
    first, rows = _distinct_rows(stacked)
    rows = rows.reshape(n, k + 1)
    seq_ids = data.article_ids[mask] if has_ids else None
    bank_ids = None
    if has_ids:
        bank_ids = np.repeat(seq_ids, k + 1)[first]
        # Group each article's bank rows together (hard negatives are drawn from a row range).
        order = np.argsort(bank_ids, kind="stable")
        remap = np.empty_like(order)
        remap[order] = np.arange(order.size)
        first, bank_ids, rows = first[order], bank_ids[order], remap[rows]
    bank = stacked[first]
    return SequenceSet(
        bank, rows[:, :k], rows[:, k], seq_ids, bank_ids, None, data.source, split, data.non_unit
    )


def load_sequences(
    source: Source,
    context_length: int | None = None,
    split: str = ALL,
    seed: int = 0,
    fractions=SPLIT_FRACTIONS,
) -> SequenceSet:
    """Load one split of a chunk corpus or sequence file as a :class:`SequenceSet`.

    Example:
        ``val = load_sequences("corpus.npz", context_length=5, split="val", seed=0)``

    Args:
        source: an ``.npz`` path, a :class:`ChunkCorpus` or a :class:`SequenceFile`.
        context_length: K (corpus: default ``DEFAULTS.context_length``; sequence file: default the
            file's K, a smaller K keeps the newest K chunks of each context).
        split: ``train``, ``val``, ``ood`` or ``all``; by article (rows for sequence files without ids).
        seed: the split seed.
        fractions: shares of train, val and ood (default 0.8 / 0.1 / 0.1).

    Returns:
        A :class:`SequenceSet`.

    Raises:
        FileNotFoundError, DataError (bad file, K too long, empty split).
    """
    split = check_split(split)
    data = _as_data(source)
    k = resolve_context_length(data, context_length)
    build = _from_corpus if isinstance(data, ChunkCorpus) else _from_sequence_file
    sequences = build(data, k, split, seed, fractions)
    if len(sequences) == 0:
        raise DataError(
            f"{data.source}: split '{split}' (seed {seed}) has no sequences of K = {k}: too few or too "
            "short articles; use more data, other fractions, or pass separate train/val files"
        )
    return sequences


def load_splits(
    source: Source,
    context_length: int | None = None,
    seed: int = 0,
    fractions=SPLIT_FRACTIONS,
    val: Source | None = None,
    train_chunks: int | None = None,
) -> DataSplits:
    """Train / val / ood sequence sets of one dataset (split by article), or of separate files.

    Example:
        ``splits = load_splits("corpus.npz", context_length=5, seed=0)``
        ``model.fit(splits.train.as_dataset(), validation_data=splits.val.as_dataset(shuffle=False))``

    Args:
        source: an ``.npz`` path, a :class:`ChunkCorpus` or a :class:`SequenceFile`.
        context_length: K (see :func:`load_sequences`).
        seed: the split seed.
        fractions: shares of train, val and ood.
        val: a separate validation file; then all of ``source`` is train, all of ``val`` is val and
            ``ood`` is ``None``.
        train_chunks: keep a seeded subset of whole training articles with at most this many chunks
            (:meth:`SequenceSet.subset_articles`); val and ood are unchanged.

    Returns:
        A :class:`DataSplits`.

    Raises:
        FileNotFoundError, DataError (also: D or K differing between the two files).
    """
    data = _as_data(source)
    k = resolve_context_length(data, context_length)
    if val is None:
        train, validation, ood = [load_sequences(data, k, name, seed, fractions) for name in SPLITS]
    else:
        val_data = _as_data(val)
        check_same_dim(data, val_data)
        train = dataclasses.replace(load_sequences(data, k, ALL), split="train")
        validation, ood = dataclasses.replace(load_sequences(val_data, k, ALL), split="val"), None
    if train_chunks is not None:
        train = train.subset_articles(train_chunks, seed)
    return DataSplits(train, validation, ood)
