"""Time the bench step's largest matrix product under JAX on a CPU: float32, bfloat16 as JAX lowers it, and
bfloat16 as p7keras lowers it (:mod:`p7keras.models.steps.bf16_dots`).

A dense layer's step has three products: the forward one, ``x W`` (320 x 512)(512 x 2048) at the bench sizes,
the input gradient ``g W^T`` (the weight contracted on its last axis) and the weight gradient ``x^T g`` (the
input contracted on its first axis). Each is timed here alone, jitted, ``--calls`` times, under each lowering in
its own child process (a lowering is chosen when a function compiles, and p7keras' stays for the process),
alternating for ``--rounds`` rounds. The two bfloat16 lowerings' results are checked to agree within one
bfloat16 rounding.

    python docs/bf16_products.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from child_process import run_child  # docs/child_process.py (this script's folder)

MODES = ("float32", "bfloat16-jax", "bfloat16-p7keras")
# name -> (lhs shape, rhs shape, dimension numbers): M, K, N = 320, 512, 2048 (batch 64 x K 5; d_model; ff_dim)
PRODUCTS = {
    "forward x W": ((320, 512), (512, 2048), (((1,), (0,)), ((), ()))),
    "input gradient g W^T": ((320, 2048), (512, 2048), (((1,), (1,)), ((), ()))),
    "weight gradient x^T g": ((320, 512), (320, 2048), (((0,), (0,)), ((), ()))),
}
FLOPS = 2 * 320 * 512 * 2048


def time_products(mode: str, calls: int) -> dict:
    """GFLOP/s of each product under ``mode``, and each result (as nested lists, for the comparison)."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    if mode == "bfloat16-p7keras":
        from p7keras.models.steps.bf16_dots import use_float32_accumulating_bf16_dots  # noqa: PLC0415
        use_float32_accumulating_bf16_dots()
    dtype = jnp.float32 if mode == "float32" else jnp.bfloat16
    rng = np.random.default_rng(0)
    out = {"mode": mode, "gflops": {}, "corner": {}}
    for name, (lhs_shape, rhs_shape, dims) in PRODUCTS.items():
        lhs = jnp.asarray(rng.uniform(0.5, 1.5, lhs_shape), dtype)
        rhs = jnp.asarray(rng.uniform(0.5, 1.5, rhs_shape), dtype)
        product = jax.jit(lambda a, b, dims=dims: jax.lax.dot_general(a, b, dims))
        result = product(lhs, rhs).block_until_ready()
        start = time.perf_counter()
        for _ in range(calls):
            result = product(lhs, rhs)
        result.block_until_ready()
        out["gflops"][name] = FLOPS / ((time.perf_counter() - start) / calls) / 1e9
        out["corner"][name] = np.asarray(result[:8, :8], np.float32).tolist()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(time_products(args.child, args.calls)))
        return 0
    import numpy as np  # noqa: PLC0415

    agree = True
    for round_ in range(1, args.rounds + 1):
        results = {mode: run_child(__file__, mode, "--calls", str(args.calls)) for mode in MODES}
        for name in PRODUCTS:
            figures = ", ".join(f"{mode} {results[mode]['gflops'][name]:.0f}" for mode in MODES)
            print(f"round {round_}: {name}: {figures} GFLOP/s")
            jax_bf16, ours = (np.asarray(results[m]["corner"][name]) for m in MODES[1:])
            agree &= bool(np.all(np.abs(ours - jax_bf16) <= 2.0**-7 * np.abs(jax_bf16)))
    print("the bfloat16 lowerings agree within one rounding" if agree else "THE BFLOAT16 LOWERINGS DIFFER")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
