"""``--jit-compile`` (issue 12): what each backend compiles, and PyTorch's fixed-shape training batches."""

import keras
import pytest

from p7keras.config import TORCH_COMPILE_MIN_STEPS
from p7keras.data import load_splits, make_synthetic_corpus
from p7keras.training import TrainConfig
from p7keras.training.train import build_model, fit_batches, jit_compile_setting

BACKEND = keras.backend.backend()
SMALL = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "context_length": 4, "batch_size": 32}


def test_the_setting_per_backend():
    assert jit_compile_setting(TrainConfig(jit_compile="on")) is True
    assert jit_compile_setting(TrainConfig(jit_compile="off")) is False
    batches = TORCH_COMPILE_MIN_STEPS // 10
    long_run, short_run = TrainConfig(epochs=10), TrainConfig(epochs=9)
    sequences = batches * long_run.batch_size + 5  # the ragged batch does not count
    if BACKEND == "torch":
        assert jit_compile_setting(long_run, sequences) is True
        assert jit_compile_setting(short_run, sequences) is False
        assert jit_compile_setting(long_run) is False  # unknown size: eager
    else:
        assert jit_compile_setting(long_run, sequences) == "auto"
    with pytest.raises(ValueError, match=r"jit_compile must be one of \('auto', 'on', 'off'\), got 'yes'"):
        TrainConfig(jit_compile="yes").check()


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
