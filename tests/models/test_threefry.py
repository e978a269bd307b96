"""JAX's Threefry-2x32 lowered without a loop on a CPU (p7keras.models.steps.threefry): the same bits as JAX's
own lowering, no XLA while loop, and p7keras on the JAX backend uses it for Keras' dropout."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from p7keras.models.steps.threefry import threefry2x32

ROOT = Path(__file__).resolve().parents[2]

# Random123's known answers for Threefry-2x32-20 (key words, counter words -> output words).
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.one_backend
@pytest.mark.parametrize(("key", "count", "expected"), KNOWN_ANSWERS)
def test_known_answers(key, count, expected):
    import jax  # noqa: PLC0415

    words = [np.uint32(w) for w in (*key, *count)]
    for hash_ in (threefry2x32, jax.jit(threefry2x32)):
        assert [int(w) for w in hash_(*words)] == list(expected)


@pytest.mark.one_backend
def test_broadcasts_scalar_keys_over_counters():
    counts = np.arange(6, dtype=np.uint32).reshape(2, 3)
    x1, x2 = threefry2x32(np.uint32(1), np.uint32(2), counts, counts + np.uint32(6))
    assert x1.shape == x2.shape == (2, 3)
    one = threefry2x32(np.uint32(1), np.uint32(2), np.uint32(4), np.uint32(10))
    assert (int(x1[1, 1]), int(x2[1, 1])) == (int(one[0]), int(one[1]))
    assert len({int(v) for v in np.asarray(x1).ravel()}) == 6  # distinct counters, distinct words


# JAX's own CPU lowering first (a rolled loop), then ours, in one fresh process: the same bits, no loop.
_SAME_BITS = """
import jax, numpy as np
key = jax.random.key(20261204)

def draw():  # jitted anew: each compiles with the lowering registered at the time
    draws = {
        "bits": jax.jit(lambda k: jax.random.bits(k, (64, 5, 512))),
        "bernoulli": jax.jit(lambda k: jax.random.bernoulli(k, 0.9, (64, 8, 5, 5))),
        "uniform": jax.jit(lambda k: jax.random.uniform(jax.random.split(k)[1], (7, 3))),
    }
    loops = ["while" in f.lower(key).compile().as_text() for f in draws.values()]
    return {name: np.asarray(f(key)) for name, f in draws.items()}, loops

before, loops_before = draw()
from p7keras.models.steps.threefry import use_unrolled_threefry
use_unrolled_threefry()
use_unrolled_threefry()  # idempotent
after, loops_after = draw()
print(loops_before, loops_after, all(np.array_equal(before[n], after[n]) for n in before))
"""


@pytest.mark.one_backend
def test_same_bits_as_jax_without_the_loop():
    done = subprocess.run([sys.executable, "-c", _SAME_BITS], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "[True, True, True] [False, False, False] True"


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the lowering is JAX's")
def test_p7keras_on_jax_draws_dropout_masks_without_a_loop():
    import jax  # noqa: PLC0415

    import p7keras.models.steps  # noqa: F401, PLC0415 (p7keras' JAX step registers the lowering; so does any model)

    seed = keras.random.SeedGenerator(3)
    dropout = jax.jit(lambda x: keras.random.dropout(x, 0.1, seed=seed.next()))
    x = np.ones((64, 5, 512), "float32")
    assert "while" not in dropout.lower(x).compile().as_text()
    kept = float(np.mean(np.asarray(dropout(x)) > 0))
    assert 0.88 < kept < 0.92
