"""Models: learning, λ, positions, gate, teacher warm-up, compile defaults and input errors."""

import re

import numpy as np
import pytest
import keras
from keras import ops

import p7keras
from tests.helpers import D, K, rotation_batches, unit
from tests.reference import mixed_gate_batch, reference_combined

SMALL = dict(context_length=K, d_model=32, num_heads=4, num_layers=2, ff_dim=64, dropout=0.0)


def transformer(**kwargs):
    return p7keras.TransformerP7Ranker(**{**SMALL, **kwargs})


def lstm(**kwargs):
    small = {k: v for k, v in SMALL.items() if k not in ("num_heads", "ff_dim")}
    return p7keras.LSTMP7Ranker(**{**small, "num_layers": 1, **kwargs})


def flat(**kwargs):
    small = {k: v for k, v in SMALL.items() if k not in ("num_heads", "ff_dim", "num_layers")}
    return p7keras.FlatP7Ranker(**{**small, **kwargs})


def fit(model, data, epochs=6, **kwargs):
    model.compile(optimizer=keras.optimizers.AdamW(3e-3, global_clipnorm=1.0))
    train, val = data
    return model.fit(train, validation_data=val, batch_size=32, epochs=epochs, verbose=0, **kwargs).history


@pytest.mark.parametrize("make", [transformer, lstm, flat], ids=["transformer", "lstm", "flat"])
def test_predictions_are_unit_vectors(make):
    model = make(input_dim=D)
    out = model.predict(rotation_batches(n=10)["context"], verbose=0)
    assert out.shape == (10, D)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "make", [transformer, lstm, flat, lambda: transformer(anchor_mode="attention")],
    ids=["transformer", "lstm", "flat", "attention"],
)
def test_short_fit_lowers_loss_and_raises_margin(make, learnable_data):
    history = fit(make(), learnable_data)
    assert history["val_loss"][-1] < history["val_loss"][0] - 0.2
    assert history["val_margin"][-1] > history["val_margin"][0] + 0.05
    assert history["val_margin"][-1] > 0.1
    assert set(p7keras.models.METRIC_NAMES) <= set(history)
    assert {f"val_{name}" for name in p7keras.models.METRIC_NAMES} <= set(history)


def test_learnable_lambda_moves_and_stays_in_bounds(learnable_data):
    model = transformer(anchor_lambda=0.89, anchor_lambda_min=0.6, anchor_lambda_max=0.9)
    start = model.anchor_lambda if model.built else 0.89
    history = fit(model, learnable_data, epochs=4)
    assert abs(model.anchor_lambda - start) > 1e-3
    assert all(0.6 <= v <= 0.9 for v in history["anchor_lambda"])
    assert 0.6 <= model.anchor_lambda <= 0.9
    assert model.anchor_lambda == pytest.approx(history["val_anchor_lambda"][-1], abs=1e-5)


def test_fixed_lambda_does_not_move(learnable_data):
    model = transformer(anchor_lambda=0.7, anchor_learnable=False)
    history = fit(model, learnable_data, epochs=2)
    assert model.anchor_lambda == pytest.approx(0.7, abs=1e-6)
    assert history["anchor_lambda"] == pytest.approx([0.7, 0.7], abs=1e-6)


def test_positional_embedding_is_non_zero_and_trains(learnable_data):
    model = transformer(input_dim=D)
    before = ops.convert_to_numpy(model.positions.embeddings).copy()
    assert np.abs(before).min() > 0 or np.count_nonzero(before) > 0.99 * before.size
    fit(model, learnable_data, epochs=1)
    after = ops.convert_to_numpy(model.positions.embeddings)
    assert np.abs(after - before).max() > 1e-4


@pytest.mark.parametrize("make", [transformer, lstm], ids=["transformer", "lstm"])
def test_residual_head_starts_at_the_anchored_last_chunk_and_learns(make, learnable_data):
    model = make(input_dim=D, head="residual")
    contexts = learnable_data[1]["context"][:16]
    lam = model.anchor_lambda
    direct = unit(lam * contexts[:, -1] + (1 - lam) * unit(contexts.mean(axis=1)))
    np.testing.assert_allclose(model.predict(contexts, verbose=0), direct, atol=1e-6)
    fit(model, learnable_data, epochs=2)
    assert np.abs(model.predict(contexts, verbose=0) - direct).max() > 1e-2


@pytest.mark.parametrize("mode, gate_mode", [("prev", "last-vs-first"), ("none", "next-vs-prev"),
                                             ("all", "last-vs-first")])
def test_loss_terms_match_the_spec_formula(mode, gate_mode):
    """The model's loss terms equal the spec's formula written out in numpy (tests/reference.py), with the spec's
    numbers as literals and gate weights that are not all 1; context_negatives and gate_mode reach the loss."""
    batch = mixed_gate_batch(n=8, seed=3)
    model = transformer(input_dim=D, context_negatives=mode, gate_mode=gate_mode)
    query = model.predict(batch["context"], verbose=0)
    want = reference_combined(query, batch, 1.0, mode, gate_mode=gate_mode, temperature=0.07, margin=0.07,
                              w_rank=1.0, w_margin=0.5, w_teacher=0.2, floor_threshold=0.20, gate_threshold=0.03,
                              gate_weak_weight=0.25)
    got = model.loss_terms(batch)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    assert 0.25 < want["gate_weight_mean"] < 1.0 and want["teacher_violations"] > 0


def queue_of(model):
    return ops.convert_to_numpy(model.queue_vectors), int(ops.convert_to_numpy(model.queue_count))


def test_negative_queue_fills_in_order_wraps_and_serves_as_negatives():
    model = transformer(input_dim=D, negative_queue=5)
    data = rotation_batches(n=14, seed=4)
    batches = [{name: ops.convert_to_tensor(v[rows]) for name, v in data.items()}
               for rows in (slice(0, 3), slice(3, 7), slice(7, 14))]
    t = data["target"]
    model.update_negative_queue(batches[0])
    queue, count = queue_of(model)
    np.testing.assert_allclose(queue[:3], t[:3], atol=1e-6)
    assert count == 3 and not queue[3:].any()
    # Only the filled rows are negatives: the loss equals the loss with those rows as extra negatives.
    probe = rotation_batches(n=6, seed=5)
    query = model.predict(probe["context"], verbose=0)
    want = [float(ops.convert_to_numpy(p7keras.losses.p7_combined_loss(
        query, probe["context"], probe["target"], probe["hard_negatives"], extra_negatives=extra)["loss_rank"]))
        for extra in (t[:3], None)]
    got = model.loss_terms(probe)["loss_rank"]
    assert got == pytest.approx(want[0], rel=1e-5) and got > want[1]
    model.update_negative_queue(batches[1])  # wraps: slots 3, 4, 0, 1
    np.testing.assert_allclose(queue_of(model)[0], t[[5, 6, 2, 3, 4]], atol=1e-6)
    model.update_negative_queue(batches[2])  # larger than the queue: its last 5 targets stay
    queue, count = queue_of(model)
    np.testing.assert_allclose(queue, t[[10, 11, 12, 13, 9]], atol=1e-6)
    assert count == 14


def test_negative_queue_is_filled_by_fit_and_not_by_evaluation(learnable_data):
    train, val = learnable_data
    model = transformer(negative_queue=16)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3, global_clipnorm=1.0))
    history = model.fit(train, validation_data=val, batch_size=32, epochs=2, shuffle=False, verbose=0).history
    assert history["loss"][1] < history["loss"][0]
    queue, count = queue_of(model)
    assert count == 2 * len(train["target"])  # training batches only
    np.testing.assert_allclose(queue, train["target"][-16:], atol=1e-5)
    model.evaluate(val, batch_size=32, verbose=0)
    assert queue_of(model)[1] == count


def training_bank(train):
    """The distinct chunk vectors of a training set (what ``splits.train.bank`` holds)."""
    return np.unique(np.concatenate([train["context"].reshape(-1, D), train["target"]]), axis=0)


def test_corpus_negatives_give_the_loss_with_the_bank_as_extra_negatives():
    batch = rotation_batches(n=8, seed=3)
    bank = training_bank(rotation_batches(n=20, seed=4))
    model = transformer(input_dim=D, negatives="corpus", negative_queue=0)
    query = model.predict(batch["context"], verbose=0)  # predict needs no bank
    without = model.loss_terms(batch)["loss_rank"]  # nor does evaluation: the bank is left out
    model.set_negative_bank(bank)
    want = p7keras.losses.p7_combined_loss(query, batch["context"], batch["target"], batch["hard_negatives"],
                                           extra_negatives=bank)["loss_rank"]
    got = model.loss_terms(batch)["loss_rank"]
    assert got == pytest.approx(float(ops.convert_to_numpy(want)), rel=1e-5)
    assert got > without
    # a sample's own target and context chunks in the bank are false negatives: masked, the loss does not change
    one = {key: value[:1] for key, value in batch.items()}
    model.set_negative_bank(bank)
    alone = model.loss_terms(one)["loss_rank"]
    model.set_negative_bank(np.concatenate([bank, one["target"], one["context"][0]]))
    assert model.loss_terms(one)["loss_rank"] == pytest.approx(alone, rel=1e-5)


def test_corpus_negatives_fit_lowers_the_loss_and_evaluates_with_and_without_the_bank(learnable_data):
    train, val = learnable_data
    model = transformer(negatives="corpus", negative_queue=8)  # bank and queue together
    model.set_negative_bank(training_bank(train))
    history = fit(model, learnable_data, epochs=3)
    assert history["loss"][-1] < history["loss"][0] - 0.2
    with_bank = model.evaluate(val, batch_size=32, verbose=0, return_dict=True)["loss"]
    model.set_negative_bank(None)
    without = model.evaluate(val, batch_size=32, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(without) and with_bank > without


def test_corpus_negatives_without_a_bank_or_with_too_large_a_bank_are_refused(learnable_data):
    model = transformer(negatives="corpus")
    model.compile()
    with pytest.raises(ValueError, match=r"negatives='corpus' but no negative bank: call model.set_negative_bank"):
        model.fit(*[learnable_data[0][key] for key in ("context", "target")], verbose=0)
    bank = training_bank(learnable_data[0])
    too_large = rf"the negative bank of {len(bank)} chunks x D={D} needs {len(bank) * D * 4} bytes .* --negative-queue"
    with pytest.raises(ValueError, match=too_large):
        model.set_negative_bank(bank, max_bytes=len(bank) * D * 4 - 1)
    assert model.negative_bank is None
    with pytest.raises(ValueError, match="set_negative_bank needs negatives='corpus'"):
        transformer().set_negative_bank(bank)
    with pytest.raises(ValueError, match="the negative bank has D=8 but the model was built for D=16"):
        transformer(input_dim=D, negatives="corpus").set_negative_bank(bank[:, :8])


def test_teacher_term_only_during_warmup(learnable_data):
    model = transformer(warmup_epochs=2, floor_threshold=0.99)  # every sample violates the floor
    history = fit(model, learnable_data, epochs=3)
    assert history["loss_teacher"][0] > 0 and history["loss_teacher"][1] > 0
    assert history["loss_teacher"][2] == 0.0
    assert history["teacher_violations"][2] > 0  # still counted, just not applied
    assert float(ops.convert_to_numpy(model.teacher_active)) == 0.0


def test_gate_weight_follows_the_data():
    model = transformer(input_dim=D)
    forward = rotation_batches(n=32, seed=2)
    backward = {**forward, "target": forward["context"][:, 0]}  # next == oldest: Δ < 0
    assert model.loss_terms(forward)["gate_weight_mean"] == pytest.approx(1.0)
    assert model.loss_terms(backward)["gate_weight_mean"] == pytest.approx(0.25)


def test_fit_with_contexts_and_targets_arrays(learnable_data):
    train, _ = learnable_data
    model = transformer()
    model.compile()
    history = model.fit(train["context"], train["target"], batch_size=64, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_compile_defaults_to_clipped_adamw():
    model = transformer(input_dim=D)
    model.compile()
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.AdamW)
    assert float(ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(5e-4)
    assert opt.weight_decay == pytest.approx(1e-4) and opt.global_clipnorm == 1.0
    with pytest.raises(ValueError, match="own their loss"):
        model.compile(loss="mse")


def test_bad_inputs_raise_clear_errors():
    model = transformer(input_dim=D)
    model.compile()
    good = rotation_batches(n=8)
    with pytest.raises(ValueError, match=r"embedding width D=8 but the model was built for D=16"):
        model.predict(np.zeros((2, K, 8), "float32"))
    with pytest.raises(ValueError, match=r"context length K=3 but the model was built for K=4"):
        model.fit({**good, "context": good["context"][:, :3]}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"'target' has shape \(8, 15\)"):
        model.fit({**good, "target": good["target"][:, :15]}, epochs=1, verbose=0)
    bad = {k: v.copy() for k, v in good.items()}
    bad["context"][3, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"'context' holds 1 NaN/inf values \(first in row 3\)"):
        model.fit(bad, epochs=1, verbose=0)
    with pytest.raises(KeyError, match="'context'"):
        model.fit({"contexts": good["context"], "target": good["target"]}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="no target"):
        model.fit(good["context"], epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(context_length=1), "context_length"),
        (dict(anchor_lambda=0.95), "anchor_lambda must be in [0.6, 0.9], got 0.95"),
        (dict(w_margin=-1.0), "w_margin"),
        (dict(temperature=0.0), "temperature"),
        (dict(gate_mode="both"), "gate_mode"),
        (dict(dropout=1.0), "dropout"),
        (dict(num_heads=5), "divisible"),
    ],
)
def test_impossible_hyperparameters_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        transformer(**kwargs)
