"""Sequence sets: the training subset by whole articles (data-scaling studies)."""

import numpy as np
import pytest

from p7keras.data import DataError, load_splits, make_synthetic_corpus


@pytest.fixture(scope="module")
def corpus():
    return make_synthetic_corpus(num_articles=40, chunks_per_article=10, dim=8, seed=2)


def test_subset_keeps_whole_articles_under_the_limit_and_leaves_val_and_ood(corpus):
    full = load_splits(corpus, context_length=3, seed=1)
    small = load_splits(corpus, context_length=3, seed=1, train_chunks=95)
    assert len(small.train.bank) == 90  # nine whole articles of 10 chunks fit in 95
    assert np.array_equal(small.val.target_rows, full.val.target_rows)
    assert np.array_equal(small.ood.bank, full.ood.bank)
    train = small.train
    kept = set(np.unique(train.article_ids))
    assert set(np.unique(train.bank_article_ids)) == kept and len(kept) == 9
    assert len(train) == 9 * (10 - 3)  # every window of every kept article
    # rows were remapped: each sequence's context and target are consecutive chunks of its article
    assert np.all(train.bank_article_ids[train.context_rows] == train.article_ids[:, None])
    assert np.all(train.bank_article_ids[train.target_rows] == train.article_ids)
    assert np.all(train.context_rows[:, -1] + 1 == train.target_rows)
    originals = full.train.bank[np.isin(full.train.bank_article_ids, list(kept))]
    assert np.array_equal(train.bank, originals)


def test_subset_is_seeded_and_never_empty(corpus):
    a = load_splits(corpus, 3, seed=1, train_chunks=30).train
    b = load_splits(corpus, 3, seed=1, train_chunks=30).train
    assert np.array_equal(a.bank, b.bank)
    assert len(load_splits(corpus, 3, seed=1, train_chunks=1).train.bank) == 10  # one whole article
    assert load_splits(corpus, 3, seed=1, train_chunks=10**6).train.bank.shape == (320, 8)
    with pytest.raises(DataError, match="train_chunks must be >= 1, got 0"):
        load_splits(corpus, 3, seed=1, train_chunks=0)
