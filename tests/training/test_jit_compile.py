"""``--jit-compile`` (issue 12): what each backend compiles, and PyTorch's fixed-shape training batches."""

import keras
import pytest

from p7keras.data import load_splits, make_synthetic_corpus
from p7keras.training import TrainConfig
from p7keras.training.train import build_model, fit_batches, jit_compile_setting

BACKEND = keras.backend.backend()
SMALL = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "context_length": 4, "batch_size": 32}


def test_the_setting_per_backend():
    assert jit_compile_setting(TrainConfig(jit_compile="on")) is True
    assert jit_compile_setting(TrainConfig(jit_compile="off")) is False
    assert jit_compile_setting(TrainConfig(epochs=1000)) == "auto"  # Keras' choice, however long the run
    model = build_model(TrainConfig(**SMALL), 16)
    # auto: eager on PyTorch (its compiled step was measured no faster) and on TensorFlow without a GPU; JAX jit
    assert model.jit_compile is (BACKEND == "jax" or (BACKEND == "tensorflow" and _tf_gpu()))
    with pytest.raises(ValueError, match=r"jit_compile must be one of \('auto', 'on', 'off'\), got 'yes'"):
        TrainConfig(jit_compile="yes").check()


def _tf_gpu() -> bool:
    import tensorflow as tf  # noqa: PLC0415
    return bool(tf.config.list_physical_devices("GPU"))


def test_compiled_pytorch_drops_the_ragged_batch_and_validates_eagerly():
    splits = load_splits(make_synthetic_corpus(num_articles=30, chunks_per_article=13, dim=16), context_length=4)
    assert len(splits.train) % 32 and len(splits.val) % 32  # both end with a smaller batch
    config = TrainConfig(**SMALL, jit_compile="on")
    model = build_model(config, 16)
    train, val = fit_batches(config, splits, model)
    compiled_torch = BACKEND == "torch"
    assert len(train) == (len(splits.train) // 32 if compiled_torch else -(-len(splits.train) // 32))
    assert len(val) == -(-len(splits.val) // 32)  # validation keeps every sequence
    assert model.jit_compile is True
    if compiled_torch:
        model.make_test_function()
        assert model.jit_compile is True and not hasattr(model.test_function, "_torchdynamo_orig_callable")
        model.make_train_function()
        assert hasattr(model.train_function, "_torchdynamo_orig_callable")  # torch.compile'd
    eager = TrainConfig(**SMALL, jit_compile="off")
    train, _ = fit_batches(eager, splits, build_model(eager, 16))
    assert len(train) == -(-len(splits.train) // 32)
