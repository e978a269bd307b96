"""Layers: anchor λ bounds and modes, positional embedding, encoder block."""

import numpy as np
import pytest
import keras
from keras import ops

from p7keras.layers import EncoderBlock, PositionalEmbedding, SemanticAnchor
from tests.helpers import unit


def lam(layer):
    return float(ops.convert_to_numpy(layer.anchor_lambda))


def test_anchor_starts_at_value_and_moves_bounds_inside():
    assert lam(SemanticAnchor(anchor_lambda=0.8)) == pytest.approx(0.8, abs=1e-6)
    assert lam(SemanticAnchor(anchor_lambda=0.6)) == pytest.approx(0.601, abs=1e-6)
    assert lam(SemanticAnchor(anchor_lambda=0.9)) == pytest.approx(0.899, abs=1e-6)
    with pytest.raises(ValueError, match=r"anchor_lambda must be in \[0.6, 0.9\], got 0.95"):
        SemanticAnchor(anchor_lambda=0.95)
    with pytest.raises(ValueError, match=r"\[anchor_lambda_min, anchor_lambda_max\] must be 0 <= min < max <= 1"):
        SemanticAnchor(anchor_lambda=0.5, anchor_lambda_min=0.7, anchor_lambda_max=0.4)
    with pytest.raises(ValueError, match="anchor_mode must be one of"):
        SemanticAnchor(anchor_mode="median")


def test_anchor_learnable_flag_controls_trainability():
    assert len(SemanticAnchor(anchor_learnable=True).trainable_weights) == 1
    fixed = SemanticAnchor(anchor_learnable=False, anchor_lambda=0.7)
    assert fixed.trainable_weights == [] and lam(fixed) == pytest.approx(0.7, abs=1e-6)


def test_anchor_mean_mode_blends_with_centroid():
    rng = np.random.default_rng(0)
    q, c = unit(rng.standard_normal((3, 8))), unit(rng.standard_normal((3, 4, 8)))
    out = ops.convert_to_numpy(SemanticAnchor(anchor_lambda=0.8)(q, c))
    want = unit(0.8 * q + 0.2 * unit(c.mean(axis=1)))
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_anchor_attention_mode_is_unit_and_uses_encoded_positions():
    rng = np.random.default_rng(0)
    q, c = unit(rng.standard_normal((3, 8))), unit(rng.standard_normal((3, 4, 8)))
    encoded = rng.standard_normal((3, 4, 6)).astype("float32")
    layer = SemanticAnchor(anchor_mode="attention")
    out = ops.convert_to_numpy(layer(q, c, encoded))
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    out2 = ops.convert_to_numpy(layer(q, c, encoded * 3.0))
    assert not np.allclose(out, out2)  # the scores of the encoded positions matter
    with pytest.raises(ValueError, match="encoded positions"):
        SemanticAnchor(anchor_mode="attention")(q, c)


def test_positional_embedding_is_non_zero_and_trainable():
    layer = PositionalEmbedding(sequence_length=5)
    x = np.zeros((2, 5, 16), "float32")
    y = ops.convert_to_numpy(layer(x))
    assert np.abs(y).max() > 0 and not np.allclose(y[:, 0], y[:, 1])
    assert layer.trainable_weights == [layer.embeddings]
    with pytest.raises(ValueError, match="length 6"):
        layer(np.zeros((2, 6, 16), "float32"))


def test_encoder_block_last_only_equals_full_block_last_position():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 16)).astype("float32")
    full = EncoderBlock(16, 4, 32)
    last = EncoderBlock(16, 4, 32, last_only=True)
    full.build(x.shape)
    last.build(x.shape)
    last.set_weights(full.get_weights())
    y_full = ops.convert_to_numpy(full(x))
    y_last = ops.convert_to_numpy(last(x))
    assert y_full.shape == (3, 5, 16) and y_last.shape == (3, 1, 16)
    np.testing.assert_allclose(y_last[:, 0], y_full[:, -1], atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        EncoderBlock(10, 4, 32)


@pytest.mark.parametrize(
    "layer",
    [
        SemanticAnchor(anchor_mode="attention", anchor_lambda=0.7, anchor_learnable=False),
        PositionalEmbedding(7),
        EncoderBlock(16, 2, 8, dropout=0.2, last_only=True),
    ],
    ids=["anchor", "positions", "encoder"],
)
def test_layer_config_round_trip(layer):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
