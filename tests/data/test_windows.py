"""Windows of K inside articles, deterministic splits by article, sequence sets and their bank."""

import numpy as np
import pytest

from p7keras.data import ChunkCorpus, DataError, SequenceFile, load_sequences, load_splits
from p7keras.data.splits import split_counts, split_mask
from p7keras.data.windows import window_rows

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_all_windows_inside_each_article(k):
    lengths = [4, 9, 1, 12, 8]
    ids = np.repeat(np.arange(len(lengths)), lengths)
    context_rows, target_rows = window_rows(ids, k)
    assert len(target_rows) == sum(max(0, n - k) for n in lengths)
    assert context_rows.shape == (len(target_rows), k) and context_rows.dtype == np.int64
    np.testing.assert_array_equal(np.diff(context_rows, axis=1), 1)  # consecutive, oldest first
    np.testing.assert_array_equal(target_rows, context_rows[:, -1] + 1)  # stride 1, next chunk
    assert np.all(ids[context_rows] == ids[target_rows][:, None])  # never across articles
    assert np.all(np.diff(context_rows[:, 0]) >= 1)


def test_window_rows_rejects_short_context():
    with pytest.raises(DataError, match="K must be an integer >= 2"):
        window_rows(np.zeros(5), 1)


def test_split_counts_and_determinism():
    assert split_counts(230) == [184, 23, 23]
    assert split_counts(3) == [1, 1, 1]
    assert split_counts(7, (0.5, 0.25, 0.25)) == [3, 2, 2]  # 1.75 rounds to 2 twice; train keeps the rest
    assert split_counts(10, (1.0, 0.0, 0.0)) == [10, 0, 0]
    with pytest.raises(DataError, match="summing to 1"):
        split_counts(10, (0.5, 0.5, 0.5))
    groups = np.repeat(np.arange(50), 3)
    masks = {s: split_mask(groups, s, seed=4) for s in ("train", "val", "ood")}
    np.testing.assert_array_equal(sum(masks.values()), 1)  # every row in exactly one split
    assert [int(masks[s].sum()) for s in ("train", "val", "ood")] == [120, 15, 15]  # 40/5/5 articles of 3 rows
    assert all(len(set(masks["val"][groups == g])) == 1 for g in range(50))  # an article is never split
    np.testing.assert_array_equal(masks["val"], split_mask(groups, "val", seed=4))
    assert not np.array_equal(masks["val"], split_mask(groups, "val", seed=5))
    with pytest.raises(DataError, match="split must be one of"):
        split_mask(groups, "test")


def test_splits_by_article_are_disjoint_and_complete(small_corpus):
    splits = load_splits(small_corpus, context_length=3, seed=1)
    articles = {name: set(np.unique(seqs.bank_article_ids)) for name, seqs in splits.items()}
    assert [len(a) for a in articles.values()] == [16, 2, 2]
    pairs = [("train", "val"), ("train", "ood"), ("val", "ood")]
    assert all(not articles[a] & articles[b] for a, b in pairs)
    assert sum(len(s) for _, s in splits.items()) == len(load_sequences(small_corpus, 3))
    again = load_splits(small_corpus, context_length=3, seed=1)
    np.testing.assert_array_equal(again.val.corpus_rows, splits.val.corpus_rows)


def test_sequence_set_arrays_and_bank_rows(small_corpus):
    seqs = load_sequences(small_corpus, context_length=5, split="val", seed=0)
    assert seqs.bank.shape == (24, 16) and len(seqs) == 14  # 2 articles x 12 chunks, 7 windows each
    np.testing.assert_array_equal(seqs.contexts, seqs.bank[seqs.context_rows])
    np.testing.assert_array_equal(seqs.previous, seqs.contexts[:, -1])
    # bank rows map back to the corpus: the target is the chunk after the last context chunk
    corpus_target = seqs.corpus_rows[seqs.target_rows]
    np.testing.assert_array_equal(corpus_target, seqs.corpus_rows[seqs.context_rows[:, -1]] + 1)
    np.testing.assert_array_equal(seqs.targets, small_corpus.vectors[corpus_target])
    np.testing.assert_array_equal(seqs.article_ids, small_corpus.article_ids[corpus_target])
    assert seqs.split == "val" and seqs.context_length == 5 and seqs.num_articles == 2


def test_all_split_shares_the_corpus_vectors(small_corpus):
    seqs = load_sequences(small_corpus, context_length=4)
    assert seqs.bank is small_corpus.vectors  # no copy of the vectors
    assert len(seqs) == 20 * (12 - 4)


def test_short_articles_stay_in_the_bank():
    vectors = np.eye(10, dtype=np.float32)
    corpus = ChunkCorpus(vectors, np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2]))
    seqs = load_sequences(corpus, context_length=3)
    assert len(seqs) == 2 and len(seqs.bank) == 10


def _sequence_file(with_ids: bool) -> SequenceFile:
    """Overlapping windows of 6 articles x 8 chunks, stored as an upstream sequence file."""
    rng = np.random.default_rng(3)
    chunks = rng.standard_normal((48, 6)).astype(np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    ids = np.repeat(np.arange(6), 8)
    context_rows, target_rows = window_rows(ids, 3)
    return SequenceFile(chunks[context_rows], chunks[target_rows], ids[target_rows] if with_ids else None)


def test_sequence_file_bank_is_distinct_vectors():
    data = _sequence_file(with_ids=True)
    seqs = load_sequences(data)
    assert len(seqs.bank) == 48  # every chunk appears in some window; duplicates merged
    np.testing.assert_array_equal(seqs.contexts, data.contexts)
    np.testing.assert_array_equal(seqs.targets, data.targets)
    assert np.all(np.diff(seqs.bank_article_ids) >= 0)  # each article's rows contiguous
    assert seqs.corpus_rows is None


def test_sequence_file_splits_by_article_or_by_row():
    with_ids = load_splits(_sequence_file(with_ids=True), seed=0)
    assert [s.num_articles for _, s in with_ids.items()] == [4, 1, 1]
    without = load_splits(_sequence_file(with_ids=False), seed=0)
    assert [len(s) for _, s in without.items()] == [24, 3, 3]  # 30 rows, split by row
    assert without.train.article_ids is None and not without.train.has_article_ids


def test_sequence_file_context_length():
    data = _sequence_file(with_ids=True)
    seqs = load_sequences(data, context_length=2)
    np.testing.assert_array_equal(seqs.contexts, data.contexts[:, -2:])  # the newest K chunks
    with pytest.raises(DataError, match="K = 4 is longer than the file's contexts"):
        load_sequences(data, context_length=4)


def test_separate_train_and_val_files(small_corpus):
    other = ChunkCorpus(small_corpus.vectors[:36], small_corpus.article_ids[:36], source="val-file")
    splits = load_splits(small_corpus, context_length=5, val=other)
    assert splits.ood is None and [name for name, _ in splits.items()] == ["train", "val"]
    assert len(splits.train) == 20 * 7 and len(splits.val) == 3 * 7
    assert splits.val.source == "val-file"


def test_empty_split_is_an_error():
    corpus = ChunkCorpus(np.eye(8, dtype=np.float32), np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    with pytest.raises(DataError, match="split 'val' .* has no sequences"):
        load_splits(corpus, context_length=2)


def test_in_memory_corpus_is_checked():
    with pytest.raises(DataError, match="not contiguous: article 0 comes back at row 3"):
        load_sequences(ChunkCorpus(np.eye(5, dtype=np.float32), np.array([0, 0, 1, 0, 0])), context_length=2)
    with pytest.raises(DataError, match="do not describe"):
        load_sequences(ChunkCorpus(np.eye(5, dtype=np.float32), np.array([0, 0, 1])), context_length=2)
