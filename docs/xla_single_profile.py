"""Profile one single-sequence prediction under XLA by XLA's own ops: TensorFlow's ``compile_single`` call or JAX's.

Why (issue 23): the target is one sequence predicted in 2.5 ms or less. On a 2-core AMX Xeon TensorFlow's
one-sequence call compiled by XLA (``CompiledPredict(model, compile_single=True)``) took 3.2-5.3 ms and JAX's
2.2-2.6 ms. This script shows where such a call spends its time: it times ``--calls`` calls of the path
``p7keras.Predictor`` runs (p50), then profiles ``--profiled`` more with ``--xla_cpu_enable_xprof_traceme`` (XLA's
CPU code marks each of its own ops in the trace) and joins the trace to the compiled module's HLO dump
(``--xla_dump_to``). It prints the XLA op time per call, the part spent in matrix products (a ``dot``, or a fusion
whose computation holds one, as XLA's YNNPACK fusions do) and the slowest instructions. The op times are read with
``docs/tf_step_profile.op_times``. Tracing slows the calls a little: compare the p50 with ``p7keras bench``.

    KERAS_BACKEND=tensorflow python docs/xla_single_profile.py      # or jax
    KERAS_BACKEND=tensorflow python docs/xla_single_profile.py --dim 32 --d-model 32   # a quick try
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import numpy as np  # noqa: E402

BACKENDS = ("tensorflow", "jax")  # the backends whose compiled call is one XLA executable
PRODUCT = "MatMul"  # one of tf_step_profile.PRODUCTS: op_times measures the wall time such ops cover


def parse(argv=None) -> argparse.Namespace:
    from p7keras.bench.config import add_size_flags  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_flags(parser)  # --dim, --d-model, --num-layers (--batch-size is not used)
    parser.add_argument("--calls", type=int, default=300, help="timed calls (p50)")
    parser.add_argument("--profiled", type=int, default=200, help="calls profiled")
    parser.add_argument("--top", type=int, default=12, help="slowest instructions printed")
    return parser.parse_args(argv)


def hlo_instructions(path: str) -> dict[str, tuple[str, str, bool]]:
    """``{name: (opcode, shape, holds a product)}`` for every instruction of an optimized HLO dump.

    An instruction holds a product when it is a ``dot`` or a fusion whose called computation has a ``dot``.
    """
    computations, current, lines = {}, None, []
    with open(path) as f:
        lines = f.readlines()
    for line in lines:  # which computations contain a dot
        head = re.match(r"(?:ENTRY )?%([\w.\-]+) .*\{\s*$", line)
        if head:
            current = head.group(1)
            computations[current] = False
        elif current is not None and re.search(r" dot\(", line):
            computations[current] = True
    found = {}
    for line in lines:
        m = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = (\S+) ([\w\-]+)\(", line)
        if m:
            name, shape, opcode = m.groups()
            calls = re.search(r"calls=%([\w.\-]+)", line)
            product = opcode == "dot" or (opcode == "fusion" and calls is not None and
                                          computations.get(calls.group(1), False))
            found[name] = (opcode, shape, product)
    return found


def main(argv=None) -> int:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend not in BACKENDS:
        print(f"KERAS_BACKEND={backend}: this script profiles XLA's one-sequence call, on {' or '.join(BACKENDS)}")
        return 2
    dump_dir, trace_dir = tempfile.mkdtemp(prefix="xla_single_hlo_"), tempfile.mkdtemp(prefix="xla_single_trace_")
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), "--xla_cpu_enable_xprof_traceme=true",
                                        f"--xla_dump_to={dump_dir}"]).strip()  # before the backend compiles
    args = parse(argv)
    from p7keras.console import pool_tensorflow_cpu_memory  # noqa: PLC0415

    pool_tensorflow_cpu_memory()  # as every p7keras command
    import keras  # noqa: PLC0415, F401 (the backend, before tf_step_profile sets KERAS_BACKEND)

    from p7keras.bench.config import BenchConfig  # noqa: PLC0415
    from p7keras.bench.train import build_model  # noqa: PLC0415
    from p7keras.evaluation.predictors import call_latency_ms  # noqa: PLC0415
    from p7keras.models.inference import CompiledPredict  # noqa: PLC0415

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tf_step_profile import op_times  # noqa: PLC0415

    config = BenchConfig(dim=args.dim, d_model=args.d_model, num_layers=args.num_layers)
    model = build_model(config)
    predict = CompiledPredict(model, compile_single=True)
    one = np.random.default_rng(0).standard_normal((1, config.context_length, config.dim)).astype(np.float32)
    one /= np.linalg.norm(one, axis=-1, keepdims=True)
    predict(one)
    print(f"{backend}: one sequence, D {config.dim}, d_model {config.d_model}, {config.num_layers} layers, "
          f"{predict.mode}; p50 {call_latency_ms(predict, one, args.calls)['p50']:.2f} ms ({args.calls} calls, traced)")
    if backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        start, stop = (lambda: tf.profiler.experimental.start(trace_dir)), tf.profiler.experimental.stop
    else:
        import jax  # noqa: PLC0415

        start, stop = (lambda: jax.profiler.start_trace(trace_dir)), jax.profiler.stop_trace
    start()
    began = time.perf_counter()
    for _ in range(args.profiled):
        predict(one)
    profiled_ms = (time.perf_counter() - began) * 1e3 / args.profiled
    stop()
    dumps = glob.glob(os.path.join(dump_dir, "*cpu_after_optimizations.txt"))
    traces = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    if not dumps or not traces:
        print(f"no HLO dump in {dump_dir} or no trace in {trace_dir}")
        return 1
    instructions = hlo_instructions(max(dumps, key=os.path.getsize))  # the model's module is the largest
    self_time, counts, _ = op_times(traces[0], {name: name for name in instructions})
    per_call = {name: ps / 1e9 / args.profiled for name, ps in self_time.items()}  # ms
    products = sum(ms for name, ms in per_call.items() if instructions[name][2])
    # the wall time during which at least one product runs: every product counted as a TensorFlow MatMul
    _, _, covered = op_times(traces[0], {name: PRODUCT if kind[2] else name for name, kind in instructions.items()})
    print(f"XLA op time {sum(per_call.values()):.2f} ms a call (summed over threads), of which matrix products "
          f"{products:.2f} ms ({sum(1 for n in per_call if instructions[n][2])} instructions); "
          f"at least one product runs during {covered / 1e9 / args.profiled:.2f} ms of each call "
          f"({profiled_ms:.2f} ms a profiled call)")
    for name, ms in sorted(per_call.items(), key=lambda item: -item[1])[: args.top]:
        opcode, shape, product = instructions[name]
        print(f"{ms:8.3f} ms  {counts[name] / args.profiled:4.1f}/call  {name} ({opcode}, {shape})"
              f"{'  product' if product else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
