"""Shared test fixtures. The backend comes from KERAS_BACKEND (tensorflow, jax or torch)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Every test trains in float32 whatever the machine: `--precision auto` is mixed_bfloat16 for TensorFlow on a
# CPU with bfloat16 units, which CI machines may have (p7keras.training.default_precision; its own tests
# unset this). Child processes (the command-line tests) inherit it.
os.environ["P7KERAS_PRECISION"] = "float32"
# jit_compile="auto" is Keras' choice in tests (a tf.function graph on a TensorFlow CPU): p7keras adds XLA there for
# the transformer and flat rankers (p7keras.jit_compile), which compiles every small test model for seconds (the
# TensorFlow suite took 1,539 s so, about 850 s without). tests/training/test_jit_compile.py unsets it.
os.environ["P7KERAS_CPU_XLA"] = "off"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.helpers import rotation_batches  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session()


@pytest.fixture
def backend() -> str:
    return keras.backend.backend()


@pytest.fixture
def learnable_data():
    """A small data set with a real forward signal: (train dict, val dict)."""
    return rotation_batches(n=384, seed=0), rotation_batches(n=128, seed=1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
