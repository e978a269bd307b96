"""The input pipeline: batch contract, hard negatives, per-epoch re-sampling, model.fit on the backend."""

import logging

import keras
import numpy as np
import pytest

from p7keras.config import CONTEXT_KEY, HARD_NEGATIVES_KEY, TARGET_KEY
from p7keras.data import SequenceFile, load_sequences, load_splits, make_dataset, make_tf_dataset


@pytest.fixture
def sequences(small_corpus):
    return load_sequences(small_corpus, context_length=5)


def test_batch_contract(sequences):
    batches = sequences.as_dataset(batch_size=32, hard_negatives=3, seed=0)
    assert len(batches) == int(np.ceil(len(sequences) / 32))
    batch = batches[0]
    assert set(batch) == {CONTEXT_KEY, TARGET_KEY, HARD_NEGATIVES_KEY}
    assert batch[CONTEXT_KEY].shape == (32, 5, 16) and batch[CONTEXT_KEY].dtype == np.float32
    assert batch[TARGET_KEY].shape == (32, 16) and batch[TARGET_KEY].dtype == np.float32
    assert batch[HARD_NEGATIVES_KEY].shape == (32, 3, 16)
    np.testing.assert_allclose(np.linalg.norm(batch[CONTEXT_KEY], axis=-1), 1.0, atol=1e-5)
    last = batches[len(batches) - 1]
    assert last[TARGET_KEY].shape[0] == len(sequences) - 32 * (len(batches) - 1)
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_batches_are_the_sequences(sequences):
    batches = make_dataset(sequences, batch_size=16, hard_negatives=2, seed=3)
    rows = batches.epoch_rows()
    batch = batches[1]
    np.testing.assert_array_equal(batch[CONTEXT_KEY], sequences.bank[rows[CONTEXT_KEY][16:32]])
    # every (context, target) pair of a batch is a real window: the target follows the context
    order = rows[TARGET_KEY]
    assert sorted(order.tolist()) == sorted(sequences.target_rows.tolist())  # a permutation
    np.testing.assert_array_equal(rows[CONTEXT_KEY][:, -1] + 1, rows[TARGET_KEY])


def test_no_hard_negatives_key_when_m_is_zero(sequences):
    batch = sequences.as_dataset(batch_size=8, hard_negatives=0)[0]
    assert set(batch) == {CONTEXT_KEY, TARGET_KEY}


def test_hard_negatives_are_in_article_and_never_the_target(sequences):
    batches = sequences.as_dataset(batch_size=64, hard_negatives=4, seed=1)
    for _ in range(3):
        rows = batches.epoch_rows()
        negatives, targets = rows[HARD_NEGATIVES_KEY], rows[TARGET_KEY]
        assert np.all(negatives != targets[:, None])
        ids = sequences.bank_article_ids
        assert np.all(ids[negatives] == ids[targets][:, None])
        assert all(len(set(row)) == 4 for row in negatives.tolist())  # distinct (articles have 12 chunks)
        for index in range(len(batches)):  # and as vectors: a negative never equals its target
            batch = batches[index]
            same = np.all(batch[HARD_NEGATIVES_KEY] == batch[TARGET_KEY][:, None], axis=-1)
            assert not same.any()
        batches.on_epoch_end()


def test_new_order_and_negatives_every_epoch_deterministic_per_seed(sequences):
    first = sequences.as_dataset(batch_size=16, hard_negatives=2, seed=7)
    second = sequences.as_dataset(batch_size=16, hard_negatives=2, seed=7)
    epoch0 = {k: v.copy() for k, v in first.epoch_rows().items()}
    first.on_epoch_end()
    epoch1 = first.epoch_rows()
    assert first.epoch == 1
    assert not np.array_equal(epoch0[TARGET_KEY], epoch1[TARGET_KEY])  # reshuffled
    by_target0 = dict(zip(epoch0[TARGET_KEY].tolist(), epoch0[HARD_NEGATIVES_KEY].tolist()))
    by_target1 = dict(zip(epoch1[TARGET_KEY].tolist(), epoch1[HARD_NEGATIVES_KEY].tolist()))
    changed = sum(by_target0[t] != by_target1[t] for t in by_target0)
    assert changed > 0.8 * len(by_target0)  # negatives re-sampled
    np.testing.assert_array_equal(second.epoch_rows()[HARD_NEGATIVES_KEY], epoch0[HARD_NEGATIVES_KEY])
    second.set_epoch(1)
    np.testing.assert_array_equal(second.epoch_rows()[TARGET_KEY], epoch1[TARGET_KEY])
    other = sequences.as_dataset(batch_size=16, hard_negatives=2, seed=8)
    assert not np.array_equal(other.epoch_rows()[TARGET_KEY], epoch0[TARGET_KEY])


def test_no_shuffle_keeps_reading_order(sequences):
    batches = sequences.as_dataset(batch_size=16, shuffle=False)
    np.testing.assert_array_equal(batches.epoch_rows()[TARGET_KEY], sequences.target_rows)


def test_drop_remainder_and_bad_arguments(sequences):
    assert len(sequences.as_dataset(batch_size=50, drop_remainder=True)) == len(sequences) // 50
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        sequences.as_dataset(batch_size=0)
    with pytest.raises(ValueError, match="hard_negatives must be an integer >= 0"):
        sequences.as_dataset(hard_negatives=-1)
    with pytest.raises(ValueError, match="make no batch"):
        sequences.as_dataset(batch_size=10_000, drop_remainder=True)


def test_without_article_ids_negatives_are_random_chunks_logged_once(caplog):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
    seqs = load_sequences(SequenceFile(vectors[:, :3], vectors[:, 3], None, source="upstream.npz"))
    with caplog.at_level(logging.WARNING, logger="p7keras.data.pipeline"):
        batches = seqs.as_dataset(batch_size=8, hard_negatives=2)
        batches.on_epoch_end()
        batches[0]
    messages = [r.getMessage() for r in caplog.records if "no article ids" in r.getMessage()]
    assert len(messages) == 1 and "upstream.npz" in messages[0]
    rows = batches.epoch_rows()
    assert np.all(rows[HARD_NEGATIVES_KEY] != rows[TARGET_KEY][:, None])
    assert len(np.unique(rows[HARD_NEGATIVES_KEY])) > 40  # drawn from the whole bank


def test_tf_dataset_gives_the_contract_and_new_negatives_each_pass(sequences):
    dataset = make_tf_dataset(sequences, batch_size=32, hard_negatives=2, seed=0)
    first = [batch for batch in dataset.as_numpy_iterator()]
    second = [batch for batch in dataset.as_numpy_iterator()]
    assert sum(b[TARGET_KEY].shape[0] for b in first) == len(sequences)
    assert first[0][HARD_NEGATIVES_KEY].shape == (32, 2, 16)
    assert first[0][CONTEXT_KEY].dtype == np.float32
    assert not np.array_equal(first[0][TARGET_KEY], second[0][TARGET_KEY])
    reference = sequences.as_dataset(batch_size=32, hard_negatives=2, seed=0)[0]
    np.testing.assert_array_equal(first[0][HARD_NEGATIVES_KEY], reference[HARD_NEGATIVES_KEY])


class DictRanker(keras.Model):
    """A trivial model that consumes the batch dict: a linear map of the last context vector, trained
    with InfoNCE against the target, the hard negatives and the previous chunk."""

    def __init__(self, dim):
        super().__init__()
        self.project = keras.layers.Dense(dim)

    def call(self, inputs):
        query = self.project(inputs[CONTEXT_KEY][:, -1])
        return query / keras.ops.sqrt(keras.ops.sum(query * query, axis=-1, keepdims=True) + 1e-9)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        ops = keras.ops
        positive = ops.sum(y_pred * x[TARGET_KEY], axis=-1)
        negatives = ops.concatenate([x[HARD_NEGATIVES_KEY], x[CONTEXT_KEY][:, -1:]], axis=1)
        scores = ops.einsum("bd,bnd->bn", y_pred, negatives)
        logits = ops.concatenate([positive[:, None], scores], axis=1) / 0.07
        return ops.mean(ops.logsumexp(logits, axis=1) - positive / 0.07)


@pytest.mark.parametrize("builder", ["pydataset", "tf.data"])
def test_model_fit_consumes_the_batches(small_corpus, builder):
    keras.utils.set_random_seed(0)
    splits = load_splits(small_corpus, context_length=5, seed=0)
    if builder == "pydataset":
        train = splits.train.as_dataset(batch_size=32, hard_negatives=2, seed=0)
        val = splits.val.as_dataset(batch_size=32, hard_negatives=2, shuffle=False)
    else:
        train = splits.train.as_tf_dataset(batch_size=32, hard_negatives=2, seed=0)
        val = splits.val.as_tf_dataset(batch_size=32, hard_negatives=2, shuffle=False)
    model = DictRanker(16)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(train, validation_data=val, epochs=3, verbose=0, shuffle=builder == "pydataset")
    losses = history.history["loss"]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert "val_loss" in history.history
    if builder == "pydataset":
        assert train.epoch >= 3  # Keras called on_epoch_end after every epoch: negatives re-sampled

