"""Time the dropout masks of one JAX training step of the bench model: JAX's CPU lowering of Threefry against
p7keras' unrolled one (:mod:`p7keras.models.steps.threefry`); or, ``--backend tensorflow``, TensorFlow's under XLA.

The bench model's step draws twelve masks (for each of the three full encoder blocks one over the attention
weights, (B, heads, K, K), and two over the residual branches, (B, K, d_model); the last block's over its last
position). This script times those draws alone, in one jitted function, ``--calls`` times, under each lowering
in its own child process (the lowering is chosen when a function compiles and p7keras' stays for the process),
alternating for ``--rounds`` rounds. Both draw the same bits (checked here).

    python docs/dropout_masks.py --rounds 3

``--whole-step`` times the bench model's whole training step (``p7keras.bench.train.measure_train``, sequences/s)
under each lowering instead, each in its own child process: in the ``jax`` one JAX's own CPU lowering is registered
again after p7keras' (a private JAX name, ``_threefry2x32_cpu_lowering_rule``), and each child reports whether its
compiled masks hold a while loop (``--dim``, ``--d-model``, ``--num-layers``, ``--batch-size`` for other sizes):

    python docs/dropout_masks.py --whole-step --rounds 3

``--backend tensorflow`` times the same masks inside one XLA-compiled TensorFlow function: Keras' dropout layers
(TensorFlow's Philox generator) against :func:`p7keras.layers.dropout.dropout` (Threefry, what p7keras' layers
draw under XLA on a CPU), alternating in this process. The two generators draw other bits, so it prints the
fraction of entries each kept instead of a checksum:

    python docs/dropout_masks.py --backend tensorflow --rounds 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from child_process import run_child  # docs/child_process.py (this script's folder)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # p7keras from this checkout

LOWERINGS = ("jax", "unrolled")


def mask_shapes(batch: int = 64, context: int = 5, d_model: int = 512, heads: int = 8, layers: int = 4):
    """The shapes of the masks one training step of the transformer ranker draws."""
    full = [(batch, heads, context, context), (batch, context, d_model), (batch, context, d_model)]
    last = [(batch, heads, 1, context), (batch, 1, d_model), (batch, 1, d_model)]
    return full * (layers - 1) + last


def time_masks(lowering: str, calls: int) -> dict:
    """Milliseconds per call of the jitted draw of every mask, and a checksum of the masks."""
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    if lowering == "unrolled":
        from p7keras.models.steps.threefry import use_unrolled_threefry  # noqa: PLC0415
        use_unrolled_threefry()

    shapes = mask_shapes()

    @jax.jit
    def draw(key):
        keys = jax.random.split(key, len(shapes))
        return [jax.random.bernoulli(k, 0.9, shape) for k, shape in zip(keys, shapes)]

    key = jax.random.key(0)
    checksum = int(sum(int(np.asarray(m).sum()) for m in draw(key)))
    start = time.perf_counter()
    for i in range(calls):
        masks = draw(jax.random.fold_in(key, i))
    jax.block_until_ready(masks)
    loop = "while" in draw.lower(key).compile().as_text()
    return {"lowering": lowering, "ms": (time.perf_counter() - start) / calls * 1e3, "checksum": checksum,
            "while_loop": loop}


def time_step(lowering: str, sizes: dict) -> dict:
    """Training sequences/s of the bench model (``sizes`` replaced) under ``lowering``, and whether the compiled
    masks hold a while loop."""
    import os  # noqa: PLC0415

    os.environ["KERAS_BACKEND"] = "jax"  # this child process trains on JAX whatever its parent's backend
    import jax  # noqa: PLC0415
    import keras  # noqa: PLC0415

    import p7keras.models.steps.jax  # noqa: F401, PLC0415 (registers p7keras' unrolled lowering)
    from p7keras.bench.config import BenchConfig  # noqa: PLC0415
    from p7keras.bench.train import build_model, measure_train  # noqa: PLC0415

    if lowering == "jax":  # JAX's own CPU lowering again, after p7keras' registration
        from jax._src.random import threefry2x32  # noqa: PLC0415
        from jax.interpreters import mlir  # noqa: PLC0415

        mlir.register_lowering(threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_cpu_lowering_rule,
                               platform="cpu")
    draw = jax.jit(lambda key: jax.random.bernoulli(key, 0.9, (64, 5, 512)))
    loop = "while" in draw.lower(jax.random.key(0)).compile().as_text()
    config = BenchConfig(precision="float32", **sizes)
    seq_per_s = measure_train(build_model(config), config)["train_seq_per_s"]
    return {"lowering": lowering, "seq_per_s": seq_per_s, "while_loop": loop, "backend": keras.backend.backend()}


def tensorflow_rounds(rounds: int, calls: int) -> int:
    """Keras' TensorFlow dropout (Philox) and p7keras' (Threefry) under XLA, alternating; prints a line a round."""
    import os  # noqa: PLC0415

    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from p7keras.layers.dropout import dropout  # noqa: PLC0415

    inputs = [tf.ones(shape) for shape in mask_shapes()]
    layers = [keras.layers.Dropout(0.1, seed=i) for i in range(len(inputs))]
    draws = {"philox (Keras)": lambda: [layer(x, training=True) for layer, x in zip(layers, inputs)],
             "threefry (p7keras)": lambda: [dropout(layer, x, training=True) for layer, x in zip(layers, inputs)]}
    compiled = {name: tf.function(draw, jit_compile=True) for name, draw in draws.items()}
    for round_ in range(1, rounds + 1):
        figures = []
        for name, draw in compiled.items():
            masks = draw()  # compiled in round 1, not timed
            start = time.perf_counter()
            for _ in range(calls):
                masks = draw()
            ms = (time.perf_counter() - start) / calls * 1e3
            kept = sum(float(np.count_nonzero(m)) for m in masks) / sum(int(np.prod(m.shape)) for m in masks)
            figures.append(f"{name} {ms:.2f} ms (kept {kept:.3f})")
        print(f"round {round_}: " + ", ".join(figures))
    return 0


def main(argv=None) -> int:
    from p7keras.bench.config import SIZE_FLAGS, add_size_flags  # noqa: PLC0415 (numpy only)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--backend", choices=("jax", "tensorflow"), default="jax")
    parser.add_argument("--whole-step", action="store_true", help="time the whole training step (JAX)")
    add_size_flags(parser)  # the bench configuration's sizes, for --whole-step
    parser.add_argument("--child", choices=LOWERINGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.backend == "tensorflow":
        return tensorflow_rounds(args.rounds, args.calls)
    if args.whole_step:
        sizes = {name: getattr(args, name) for name in SIZE_FLAGS}
        if args.child:
            print(json.dumps(time_step(args.child, sizes)))
            return 0
        flags = [f for name, value in sizes.items() for f in (f"--{name.replace('_', '-')}", str(value))]
        for round_ in range(1, args.rounds + 1):
            figures = []
            for lowering in LOWERINGS:
                result = run_child(__file__, lowering, "--whole-step", *flags)
                if result["backend"] != "jax":
                    raise RuntimeError(f"the {lowering} child trained on {result['backend']}, not JAX")
                loop = "a while loop" if result["while_loop"] else "no loop"
                figures.append(f"{lowering} {result['seq_per_s']:.1f} seq/s ({loop})")
            print(f"round {round_}: " + ", ".join(figures))
        return 0
    if args.child:
        print(json.dumps(time_masks(args.child, args.calls)))
        return 0
    checksums = set()
    for round_ in range(1, args.rounds + 1):
        figures = []
        for lowering in LOWERINGS:
            result = run_child(__file__, lowering, "--calls", str(args.calls))
            checksums.add(result["checksum"])
            loop = "a while loop" if result["while_loop"] else "no loop"
            figures.append(f"{lowering} {result['ms']:.2f} ms ({loop})")
        print(f"round {round_}: " + ", ".join(figures))
    print("same masks under both lowerings" if len(checksums) == 1 else f"MASKS DIFFER: {sorted(checksums)}")
    return 0 if len(checksums) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
