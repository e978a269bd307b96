"""Time the bench model's optimizer update, and its training step, with Keras' ``optimizer.apply`` and fused.

The training step of TensorFlow and PyTorch hands Keras' Adam/AdamW update to the backend's fused kernel
(``p7keras/models/steps/fused_adam.py``); JAX compiles the update into its step. This script times, on the
backend of ``KERAS_BACKEND``, the update of the bench model's weights (default transformer, D 768, d_model
512, 4 layers: 13.7M weights) with random gradients, the two ways alternating, ``--rounds`` times, and prints
the median milliseconds of each (on TensorFlow both as ``tf.function``s, as the step runs them; on JAX Keras'
``stateless_apply`` under ``jax.jit``, the step's way, and no fused path). ``--what step`` times whole training
steps instead (``train_on_batch`` of batch 64 on random unit data) of two equal bench models, one of them with the
fused path turned off, alternating. Run from the repository root:

    KERAS_BACKEND=torch python docs/optimizer_update.py
    KERAS_BACKEND=torch python docs/optimizer_update.py --what step --rounds 6
    KERAS_BACKEND=tensorflow python docs/optimizer_update.py --dim 32 --d-model 32 --calls 3   # a quick try
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--what", choices=("update", "step"), default="update")
    parser.add_argument("--calls", type=int, default=10, help="updates (or steps) timed per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def updates(model) -> dict:
    """``{name: update()}``: the ways this backend can take one update of ``model``'s trainable weights."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    variables, optimizer = model.trainable_variables, model.optimizer
    optimizer.build(variables)
    rng = np.random.default_rng(0)
    grads = [keras.ops.convert_to_tensor(1e-3 * rng.standard_normal(v.shape).astype("float32")) for v in variables]
    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # noqa: PLC0415

        apply = jax.jit(optimizer.stateless_apply)
        state = {"opt": [v.value for v in optimizer.variables], "vars": [v.value for v in variables]}

        def keras_apply():
            state["vars"], state["opt"] = apply(state["opt"], grads, state["vars"])
            jax.block_until_ready(state["vars"])

        return {"Keras optimizer.apply (jit)": keras_apply}
    if backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        from p7keras.models.steps.tensorflow import apply_fused_adam  # noqa: PLC0415

        return {"Keras optimizer.apply": tf.function(lambda: optimizer.apply(grads, variables)),
                "fused (ResourceApplyAdam)": tf.function(lambda: apply_fused_adam(optimizer, grads, variables))}
    from p7keras.models.steps.torch import apply_fused_adam  # noqa: PLC0415

    return {"Keras optimizer.apply": lambda: optimizer.apply(grads, variables),
            "fused (torch fused AdamW)": lambda: apply_fused_adam(optimizer, grads, variables)}


def steps(config, calls: int) -> dict:
    """``{name: step()}``: ``calls`` training steps of a bench model, with Keras' update and with the fused one."""
    import keras  # noqa: PLC0415

    from p7keras.bench.train import build_model, random_batches  # noqa: PLC0415

    module = importlib.import_module(f"p7keras.models.steps.{keras.backend.backend()}")
    fused = getattr(module, "apply_fused_adam", None)
    if fused is None:
        raise SystemExit(f"{keras.backend.backend()} has no fused update (XLA compiles it into the step)")
    data = random_batches(config)
    batches = [{key: value[i * 64:(i + 1) * 64] for key, value in data.items()} for i in range(calls)]

    def way(use_fused: bool):
        model = build_model(config)

        def run():  # TensorFlow traces the step at the first call; PyTorch looks the function up every step
            module.apply_fused_adam = fused if use_fused else (lambda *args: False)
            try:
                for batch in batches:
                    model.train_on_batch(batch)
            finally:
                module.apply_fused_adam = fused
        return run

    return {"steps, Keras optimizer.apply": way(False), "steps, fused": way(True)}


def main(argv=None) -> int:
    args = parse(argv)
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from p7keras.bench.config import BenchConfig  # noqa: PLC0415
    from p7keras.bench.train import build_model  # noqa: PLC0415

    config = BenchConfig(dim=args.dim, d_model=args.d_model, num_layers=args.num_layers, batch_size=64,
                         train_steps=args.calls)
    model = build_model(config)
    weights = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    ways = updates(model) if args.what == "update" else steps(config, args.calls)
    for update in ways.values():
        update()  # warm-up (traces the tf.functions, compiles the jit)
    times = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, update in ways.items():
            start = time.perf_counter()
            for _ in range(args.calls if args.what == "update" else 1):  # a step way runs its calls itself
                update()
            times[name].append((time.perf_counter() - start) / args.calls * 1e3)
    what = "one update" if args.what == "update" else "one training step (batch 64)"
    print(f"{keras.backend.backend()}: {what} of {weights:,} weights (D {args.dim}, d_model {args.d_model}, "
          f"{args.num_layers} layers), {args.calls} calls x {args.rounds} rounds alternating")
    for name, ms in times.items():
        print(f"  {name}: median {statistics.median(ms):.1f} ms (rounds: {', '.join(f'{m:.1f}' for m in ms)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
