"""Threefry-2x32 without a loop on a CPU: JAX's dropout masks at a quarter of the cost.

Every random draw of Keras' JAX backend (``keras.random.dropout`` and the rest) is JAX's Threefry-2x32 hash, and JAX
lowers that hash on a CPU as a loop of five iterations (its 20 rounds rolled up, to compile faster). In the
ranker's training step the encoder's dropout layers draw twelve masks, and each loop iteration is a sequence
of small XLA operations that copy the whole state: on the ``p7keras bench`` model the masks took 8.7-13.4 ms of
a step, 2.6-3.8 ms unrolled (``docs/dropout_masks.py``, README "JAX's dropout masks").
:func:`use_unrolled_threefry` registers the unrolled hash (JAX's default lowering, used on GPUs and TPUs, is
unrolled too) as the CPU lowering. The bits are the same (Threefry-2x32 with 20 rounds, :func:`threefry2x32`
here): seeds, masks and trained weights do not change, only the time. The registration is for the process, so
it also applies to other JAX code there.

Example:

    from p7keras.models.steps.threefry import threefry2x32, use_unrolled_threefry
    use_unrolled_threefry()     # p7keras does this when it is imported on the JAX backend
    threefry2x32(np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0))   # (0x6b200159, 0x99ba4efe)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

# Random123's Threefry-2x32 constants: the rotations of the rounds (alternating groups of four) and the key
# schedule's parity word.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_ROUND_GROUPS = 5  # 5 groups of 4 rounds: Threefry-2x32-20, JAX's hash


def _rotate_left(x, bits: int):
    return (x << np.uint32(bits)) | (x >> np.uint32(32 - bits))


def threefry2x32(key1, key2, count1, count2):
    """The Threefry-2x32-20 hash of the counter words ``(count1, count2)`` under the key ``(key1, key2)``.

    The 20 rounds are written out, so a compiled function has no loop. Arguments broadcast against each other.

    Example:

        threefry2x32(np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0))   # (0x6b200159, 0x99ba4efe)

    Args:
        key1, key2: the key's two ``uint32`` words.
        count1, count2: the counter's two ``uint32`` words (arrays of one shape, or broadcastable).

    Returns:
        The two ``uint32`` output words, each of the broadcast shape.
    """
    words = [jnp.asarray(w, jnp.uint32) for w in (key1, key2, count1, count2)]
    shape = jnp.broadcast_shapes(*(w.shape for w in words))
    key1, key2, x1, x2 = (jnp.broadcast_to(w, shape) for w in words)
    schedule = (key1, key2, key1 ^ key2 ^ _PARITY)
    x1 = x1 + schedule[0]
    x2 = x2 + schedule[1]
    for group in range(_ROUND_GROUPS):
        for rotation in _ROTATIONS[group % 2]:
            x1 = x1 + x2
            x2 = _rotate_left(x2, rotation) ^ x1
        x1 = x1 + schedule[(group + 1) % 3]
        x2 = x2 + schedule[(group + 2) % 3] + np.uint32(group + 1)
    return x1, x2


def use_unrolled_threefry() -> None:
    """Lowers JAX's Threefry-2x32 primitive with :func:`threefry2x32` on CPUs (other platforms: unchanged).

    Idempotent; the same bits as JAX's own CPU lowering, without its loop.

    Example:

        use_unrolled_threefry()
        jax.random.bernoulli(jax.random.key(0), 0.9, (64, 5, 512))   # no XLA while loop on a CPU

    Returns:
        None.
    """
    from jax.extend.random import threefry2x32_p  # noqa: PLC0415 (JAX's own primitive)
    from jax.interpreters import mlir  # noqa: PLC0415

    mlir.register_lowering(threefry2x32_p, mlir.lower_fun(threefry2x32, multiple_results=True), platform="cpu")
