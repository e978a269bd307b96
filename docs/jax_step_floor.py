"""The fastest a JAX training step can be with JAX's own kernels: its matrix products and its optimizer update,
each timed alone, beside the whole step and the plain-PyTorch reference, measured in the same run.

Every ``dot_general`` of the bench model's training step (forward, both gradients, the loss's logits) is read
from the step's jaxpr; all of them, each on operands of its own, run in one ``jax.jit`` program, timed
(``--calls`` calls, the median): a floor under the step, since no step built from these products runs faster.
Each distinct product is also timed alone, for the costliest ones and their rates. The Adam/AdamW update of the step (Keras' ``stateless_apply``, compiled alone, its
buffers donated as the step donates them) is a second, separate floor. Their sum, against the whole step
(``model.fit``, :func:`p7keras.bench.train.measure_train`) and the reference
(:func:`p7keras.bench.train.measure_reference`), alternating for ``--rounds`` rounds, says how far the step can
go on this CPU: the largest ratio to the reference the floor allows. Under ``--precision mixed_bfloat16`` the
products are bfloat16 as p7keras lowers them (``p7keras.models.steps.bf16_dots``).

    KERAS_BACKEND=jax python docs/jax_step_floor.py --rounds 2
    KERAS_BACKEND=jax python docs/jax_step_floor.py --precision mixed_bfloat16
    KERAS_BACKEND=jax python docs/jax_step_floor.py --dim 32 --d-model 32 --calls 3 --rounds 1   # a quick try
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse(argv=None) -> argparse.Namespace:
    from p7keras.bench.config import add_size_flags  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_flags(parser)
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32")
    parser.add_argument("--calls", type=int, default=20, help="calls timed per product and for the update")
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args(argv)


def _jaxprs(params):
    """The jaxprs among an equation's parameters (a ``pjit``'s, a ``custom_vjp``'s, a list of branches)."""
    from jax.extend import core  # noqa: PLC0415

    for value in params.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, core.Jaxpr):
                yield item


def step_products(jaxpr) -> collections.Counter:
    """``{(lhs shape, rhs shape, dtype, dimension numbers, result dtype): count}`` of every ``dot_general``."""
    found = collections.Counter()
    for equation in jaxpr.eqns:
        if equation.primitive.name == "dot_general":
            lhs, rhs = (var.aval for var in equation.invars)
            preferred = equation.params.get("preferred_element_type")
            found[(lhs.shape, rhs.shape, str(lhs.dtype), equation.params["dimension_numbers"],
                   str(preferred) if preferred is not None else None)] += 1
        for inner in _jaxprs(equation.params):
            found.update(step_products(inner))
    return found


def _median_ms(fn, args, calls: int) -> float:
    import jax  # noqa: PLC0415

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def compile_products(products: collections.Counter) -> tuple[list[tuple], tuple]:
    """Each distinct product compiled alone, and all the step's products in one program, on operands of their own.

    Returns:
        ``([(alone, (lhs, rhs), key, count, FLOP), ...], (every_product, operands))``: built once, timed each round.
    """
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(0)
    keys, operands, alone = [], [], []
    for key, count in products.items():
        lhs_shape, rhs_shape, dtype, dims, preferred = key
        pairs = [tuple(jnp.asarray(rng.standard_normal(shape), dtype) for shape in (lhs_shape, rhs_shape))
                 for _ in range(count)]  # distinct operands: nothing for XLA to share between copies
        keys += [key] * count
        operands += pairs
        product = jax.jit(lambda a, b, dims=dims, preferred=preferred: jax.lax.dot_general(
            a, b, dims, preferred_element_type=preferred))
        free = [size for axis, size in enumerate(rhs_shape) if axis not in dims[0][1] and axis not in dims[1][1]]
        alone.append((product, pairs[0], key, count, 2 * float(np.prod(lhs_shape)) * float(np.prod(free))))

    def every_product(pairs):
        return [jax.lax.dot_general(a, b, key[3], preferred_element_type=key[4]) for key, (a, b) in zip(keys, pairs)]

    return alone, (jax.jit(every_product), operands)


def time_products(compiled: tuple[list[tuple], tuple], calls: int) -> tuple[float, list[tuple]]:
    """Milliseconds of all the step's products in one compiled program, and of each distinct product alone
    (``(ms x count, count, lhs shape, rhs shape, contracted axes, FLOP x count, GFLOP/s)``, slowest first).

    The total is one program, so it pays one call's overhead (a product alone pays it each time).

    Args:
        compiled: what :func:`compile_products` returns.
        calls: calls timed (the median is taken).
    """
    alone, (every_product, operands) = compiled
    rows = []
    for product, pair, (lhs_shape, rhs_shape, _, dims, _), count, flops in alone:
        ms = _median_ms(product, pair, calls)
        rows.append((ms * count, count, lhs_shape, rhs_shape, dims[0], flops * count, flops / ms / 1e6))
    rows.sort(reverse=True)
    return _median_ms(every_product, (operands,), calls), rows


def time_update(model, calls: int) -> float:
    """Milliseconds of one optimizer update of the model's weights, compiled alone, buffers donated in order."""
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    optimizer = model.optimizer
    rng = np.random.default_rng(1)
    grads = [jax.numpy.asarray(1e-3 * rng.standard_normal(v.shape), v.dtype) for v in model.trainable_variables]
    # Copies: the update donates (consumes) its inputs, and the model keeps training on its own arrays.
    state = tuple([jax.numpy.array(v.value, copy=True) for v in variables]
                  for variables in (model.trainable_variables, optimizer.variables))
    # stateless_apply returns (weights, optimizer state): take them in that order, so each donated input
    # lines up with the output it becomes (misaligned, XLA copies and the update looks three times slower).
    update = jax.jit(lambda weights, slots, g: optimizer.stateless_apply(slots, g, weights), donate_argnums=(0, 1))
    times = []
    for _ in range(calls + 1):
        start = time.perf_counter()
        state = jax.block_until_ready(update(*state, grads))
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1e3


def main(argv=None) -> int:
    args = parse(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax  # noqa: PLC0415
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "jax":
        print(f"error: this script measures JAX's step; KERAS_BACKEND is {keras.backend.backend()!r}")
        return 2
    from p7keras.bench.config import BenchConfig  # noqa: PLC0415
    from p7keras.bench.train import build_model, measure_reference, measure_train, random_batches  # noqa: PLC0415

    config = BenchConfig(dim=args.dim, d_model=args.d_model,
                         num_layers=args.num_layers, batch_size=args.batch_size, precision=args.precision)
    model = build_model(config)
    step = measure_train(model, config)["train_seq_per_s"]  # builds the model and its optimizer
    batch = {name: array[: config.batch_size] for name, array in random_batches(config).items()}
    state = (*([v.value for v in vs] for vs in (model.trainable_variables, model.non_trainable_variables,
                                                 model.optimizer.variables, model.metrics_variables)),)
    products = step_products(jax.make_jaxpr(model.train_step)(state, batch).jaxpr)
    compiled = compile_products(products)
    b = config.batch_size
    print(f"JAX {jax.__version__}, {args.precision}; bench model D {config.dim}, d_model {config.d_model}, "
          f"{config.num_layers} layers, batch {b}: {sum(products.values())} products "
          f"({len(products)} distinct) in the step")
    for round_ in range(1, args.rounds + 1):
        if round_ > 1:
            step = measure_train(model, config)["train_seq_per_s"]
        reference = measure_reference(config)["train_seq_per_s"]
        products_ms, rows = time_products(compiled, args.calls)
        update_ms = time_update(model, args.calls)
        floor_ms = products_ms + update_ms
        print(f"round {round_}: step {1e3 * b / step:.1f} ms ({step:.1f} seq/s), reference "
              f"{1e3 * b / reference:.1f} ms ({reference:.1f} seq/s): ratio {step / reference:.2f}x")
        flops = sum(row[5] for row in rows)
        best = max(row[6] for row in rows)
        ideal_ms = flops / best / 1e6 + update_ms
        print(f"  products alone {products_ms:.1f} ms + update alone {update_ms:.1f} ms = floor {floor_ms:.1f} ms "
              f"({1e3 * b / floor_ms:.1f} seq/s): at most {1e3 * b / floor_ms / reference:.2f}x the reference; "
              f"2x needs a step of {1e3 * b / (2 * reference):.1f} ms")
        print(f"  every product ({flops / 1e9:.1f} GFLOP) at the fastest rate measured among them ({best:.0f} GFLOP/s) "
              f"+ the update: {ideal_ms:.1f} ms, at most {1e3 * b / ideal_ms / reference:.2f}x the reference")
        for total, count, lhs, rhs, contracting, _, gflops in rows[:5]:
            print(f"    {total:6.1f} ms: {count} x {lhs} . {rhs} contracting {contracting[0]} . {contracting[1]} "
                  f"at {gflops:.0f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
