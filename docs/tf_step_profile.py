"""Profile TensorFlow's graph training step of p7keras (``jit_compile`` off) op type by op type: the bench model
beside the plain-PyTorch reference, or the real-text preset's model on the default data.

Why (issue 23): on a 2-core AVX2 CPU TensorFlow's graph step trained at 1.18-1.26x the reference in float32 and the
real-text preset's graph epochs took 50-87 s against 3 s under XLA. ``docs/torch_step_profile.py`` does this for
PyTorch; this script, for the graph TensorFlow runs where Keras would choose it (a ``tf.distribute`` strategy, a
mixed policy, ``--jit-compile off``):

* bench mode: each round times ``model.fit`` over the bench's random batches (the best of two epochs, as
  ``p7keras bench``) and the reference in its own process (``python -m p7keras.bench.reference_torch``, 2 threads),
  alternating, and prints what 1.5x the reference leaves beside the matrix products;
* ``--preset real-text``: the preset's model (a flat ranker with a queue of 4096 negatives) on the default data,
  with the run's own batches;
* then one epoch of ``--steps`` batches runs under ``tf.profiler``; its trace (``*.xplane.pb``) gives every
  TensorFlow op's self time, summed by op type, and the wall time during which at least one matrix product runs.

``--xla`` profiles the XLA step instead (``jit_compile`` on: TensorFlow's ``auto`` on a CPU for the bench model).
XLA runs the step as one TensorFlow op; with ``--xla_cpu_enable_xprof_traceme`` its CPU code marks each of its own
ops (fusions, products) in the trace, and the step's HLO dump (``--xla_dump_to``) names the TensorFlow op each came
from, so the times are summed by that TensorFlow op type as in graph mode (ops XLA made itself, such as the
halves of a split reduction, count as ``(XLA)``).

The script takes TensorFlow's CPU memory from its pool as the ``p7keras`` commands do
(``p7keras.console.pool_tensorflow_cpu_memory``; ``TF_CPU_ALLOCATOR_USE_BFC=false`` to profile without it) and
prints which. It found the preset's slow graph step: one ``BatchMatMulV2`` of 2.9 s a step (the in-context test of
the queue's rows, an einsum TensorFlow ran as B batched products; now one 2-D product, p7keras/losses.py); in XLA
mode, that without the pool the step's temporaries were page-faulted afresh every step (the gradients' squares for
the clipping norm took 7.3 ms a step of the bench model, 3.4 ms with the pool). Run from the repository root (it
sets ``KERAS_BACKEND=tensorflow`` itself):

    python docs/tf_step_profile.py                                  # the bench sizes (D 768, d_model 512, 4 layers)
    python docs/tf_step_profile.py --xla --steps 8                  # the same under XLA
    python docs/tf_step_profile.py --preset real-text --steps 10    # the preset's model on the default data
    python docs/tf_step_profile.py --dim 32 --d-model 32 --steps 3  # a quick try
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
from p7keras.console import TF_CPU_POOL, pool_tensorflow_cpu_memory  # noqa: E402 (standard library only)

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pool_tensorflow_cpu_memory()  # as every p7keras command, before TensorFlow's first tensor

# TensorFlow's matrix-product kernels (graph ops; oneDNN's rewrites start with _Mkl).
PRODUCTS = {"MatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
            "_MklMatMul", "_MklFusedMatMul", "_MklBatchMatMulV2", "_MklEinsum"}
TARGET = 1.5  # issue 23: training at 1.5x the prototype


def parse(argv=None) -> argparse.Namespace:
    from p7keras.bench.config import add_size_flags  # noqa: PLC0415 (after KERAS_BACKEND is set)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_flags(parser)  # --dim, --d-model, --num-layers, --batch-size: the bench configuration's
    parser.add_argument("--steps", type=int, default=20, help="batches per epoch (timed and profiled)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of p7keras / reference timing (bench mode)")
    parser.add_argument("--preset", choices=("real-text",), help="profile this preset's model on the default data")
    parser.add_argument("--xla", action="store_true", help="profile the XLA step (jit_compile on) by XLA's own ops")
    return parser.parse_args(argv)


def hlo_op_types(dump_dir: str) -> dict[str, str]:
    """The TensorFlow op type of every instruction of the training step's optimized HLO (XLA's dump), by name.

    An instruction XLA made itself (no ``op_type`` in its metadata) maps to ``"(XLA)"``.
    """
    paths = glob.glob(os.path.join(dump_dir, "*one_step_on_data*cpu_after_optimizations.txt"))
    if not paths:
        raise SystemExit(f"no HLO dump of the training step in {dump_dir}")
    types = {}
    with open(max(paths, key=os.path.getmtime)) as f:
        for line in f:
            name = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = ", line)
            if name:
                kind = re.search(r'op_type="([^"]+)"', line)
                types[name.group(1)] = kind.group(1) if kind else "(XLA)"
    return types


def op_times(xplane_path: str, hlo_types: dict[str, str] | None = None,
             ) -> tuple[collections.Counter, collections.Counter, float]:
    """Self time (ps) and count of every op type on TensorFlow's executor threads, and the wall time (ps) during
    which at least one matrix product (``PRODUCTS``) runs.

    An op's trace event is named ``"scope/name:Type"``; an event nested in another (a function call's body) is
    subtracted from its parent's self time. With ``hlo_types`` (:func:`hlo_op_types`), the events are XLA's own
    ops instead, named by their HLO instruction, on every thread, counted under the TensorFlow op type they came
    from.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: PLC0415

    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as f:
        space.ParseFromString(f.read())
    self_time, counts, products = collections.Counter(), collections.Counter(), []
    for plane in space.planes:
        for line in plane.lines:
            if hlo_types is None and not line.name.startswith("tf_Compute"):
                continue
            events = sorted(((e.offset_ps, e.duration_ps, plane.event_metadata[e.metadata_id].name)
                             for e in line.events), key=lambda e: (e[0], -e[1]))
            stack: list[tuple[int, int, str]] = []
            for start, duration, name in events:
                if hlo_types is not None:  # XLA's ops: an HLO instruction's name
                    if name not in hlo_types:
                        continue
                    kind = hlo_types[name]
                elif ":" not in name or "::" in name:  # an op is "scope/name:Type"; "A::B" are the runtime's scopes
                    continue
                else:
                    kind = name.rsplit(":", 1)[1]
                while stack and stack[-1][0] + stack[-1][1] <= start:
                    stack.pop()
                if stack:
                    self_time[stack[-1][2]] -= duration
                self_time[kind] += duration
                counts[kind] += 1
                stack.append((start, duration, kind))
                if kind in PRODUCTS:
                    products.append((line.timestamp_ns * 1000 + start, duration))
    covered, end = 0, None
    for start, duration in sorted(products):
        if end is None or start > end:
            covered, end = covered + duration, start + duration
        elif start + duration > end:
            covered, end = covered + start + duration - end, start + duration
    return self_time, counts, covered


def bench_model(args, config):
    """The bench model, after ``args.rounds`` rounds timing it and the reference; ``(model, fit inputs, fit
    keyword arguments, median ms/step, median reference ms/step)``."""
    from p7keras.bench.train import build_model, measure_reference, measure_train, random_batches, training_input  # noqa: PLC0415,E501

    model, keras_ms, reference_ms = build_model(config), [], []
    for index in range(args.rounds):
        for side in (("keras", "reference") if index % 2 == 0 else ("reference", "keras")):
            if side == "keras":
                keras_ms.append(1e3 * config.batch_size / measure_train(model, config)["train_seq_per_s"])
            else:
                reference_ms.append(1e3 * config.batch_size / measure_reference(config)["train_seq_per_s"])
        print(f"round {index + 1}: p7keras {keras_ms[-1]:.1f} ms/step, reference {reference_ms[-1]:.1f} ms/step "
              f"({reference_ms[-1] / keras_ms[-1]:.2f}x)")
    inputs, batching = training_input(random_batches(config), config.batch_size)
    return model, inputs, batching, statistics.median(keras_ms), statistics.median(reference_ms)


def preset_model(args):
    """The preset's model and training batches on the default data, after one warm-up epoch; ``(model, fit inputs,
    fit keyword arguments, ms/step)``."""
    from p7keras.training import TrainConfig  # noqa: PLC0415
    from p7keras.training.presets import preset_settings  # noqa: PLC0415
    from p7keras.training.train import build_model, fit_batches, load_data  # noqa: PLC0415

    config = TrainConfig(**{**preset_settings(args.preset, {}), "jit_compile": "on" if args.xla else "off"})
    splits = load_data(config)
    model = build_model(config, splits.train.dim)
    train, _ = fit_batches(config, splits, model)
    batching = {"steps_per_epoch": min(args.steps, len(train))}
    model.fit(train, epochs=1, verbose=0, **batching)
    start = time.perf_counter()
    model.fit(train, epochs=1, verbose=0, **batching)
    return model, train, batching, (time.perf_counter() - start) / batching["steps_per_epoch"] * 1e3


def main(argv=None) -> int:
    args = parse(argv)
    dump_dir = tempfile.mkdtemp(prefix="tf_step_hlo_") if args.xla else None
    if args.xla:  # before TensorFlow compiles anything: XLA reads its flags once
        os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), "--xla_cpu_enable_xprof_traceme=true",
                                            f"--xla_dump_to={dump_dir}", "--xla_dump_hlo_as_text",
                                            "--xla_dump_hlo_module_re=.*one_step_on_data.*"]).strip()
    import tensorflow as tf  # noqa: PLC0415

    from p7keras.bench.config import BenchConfig  # noqa: PLC0415

    mode = "XLA (jit_compile on)" if args.xla else "graph (jit_compile off)"
    pooled = os.environ[TF_CPU_POOL].strip().lower() in ("true", "1")  # as TensorFlow reads a boolean variable
    memory = f"TensorFlow's CPU memory: {'its pool' if pooled else 'its default allocator'}"
    if args.preset:
        print(f"tensorflow {tf.__version__}, CPU, --preset {args.preset} on the default data, float32, {mode}, "
              f"{args.steps} steps; {memory}")
        model, inputs, batching, step = preset_model(args)
        print(f"p7keras: {step:.1f} ms/step")
        steps = batching["steps_per_epoch"]
    else:
        config = BenchConfig(dim=args.dim, d_model=args.d_model, num_layers=args.num_layers,
                             batch_size=args.batch_size, train_steps=args.steps, jit_compile=args.xla)
        print(f"tensorflow {tf.__version__}, CPU, D {args.dim}, d_model {args.d_model}, {args.num_layers} layers, "
              f"batch {args.batch_size}, float32, {mode}, {args.steps} steps an epoch; {memory}")
        model, inputs, batching, step, reference = bench_model(args, config)
        steps = args.steps
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(inputs, epochs=1, verbose=0, **batching)
        tf.profiler.experimental.stop()
        hlo_types = hlo_op_types(dump_dir) if args.xla else None
        self_time, counts, covered = op_times(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], hlo_types)
    if dump_dir:
        shutil.rmtree(dump_dir, ignore_errors=True)
    per_step = 1e9 * steps  # ps -> ms per step
    total = sum(self_time.values()) / per_step
    products = sum(v for k, v in self_time.items() if k in PRODUCTS) / per_step
    print(f"profiled: ops' self time {total:.1f} ms/step, matrix products {products:.1f} ms "
          f"({100 * products / total:.1f}%); a product running during {covered / per_step:.1f} ms of each step")
    print("    most time per step: " + ", ".join(f"{k} {v / per_step:.1f} ms ({counts[k] / steps:.0f})"
                                                for k, v in self_time.most_common(10)))
    if not args.preset:
        budget = reference / TARGET
        print(f"{TARGET}x the reference ({reference:.1f} ms/step, median) is a step of at most {budget:.1f} ms: "
              f"{budget - products:.1f} ms left beside the products for the rest, which takes {step - products:.1f} "
              f"of the step's {step:.1f} ms now (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
