"""``p7keras bench``: training, prediction, retrieval and input-pipeline figures from one command.

Argument parsing imports no Keras: the sizes are checked (:class:`p7keras.bench.config.BenchConfig`)
before the benchmark parts are imported.

Example:

    $ p7keras bench --json bench.json                      # train + predict, the bench configuration
    $ p7keras bench --what retrieval --dim 384             # the spec's retrieval scale probe
    $ p7keras bench --what all --backend jax --json all.json
    $ p7keras bench --what train --compare-prototype --rounds 3   # side by side with the PyTorch reference
"""

from __future__ import annotations

import argparse
import json

from p7keras.bench.config import (
    ALL,
    DEFAULT_PARTS,
    MODEL_TYPES,
    PARTS,
    BenchConfig,
    resolve_parts,
)
from p7keras.cli.main import add_backend_argument
from p7keras.config import JIT_COMPILE_CHOICES, JIT_COMPILE_SETTINGS, QUANTIZE_MODES, TRAIN_PRECISIONS
from p7keras.io import add_overwrite_argument, atomic_path, check_writable

_DEFAULTS = BenchConfig()


def register(subparsers) -> None:
    """Add the ``bench`` subcommand to ``subparsers``.

    Args:
        subparsers: what ``argparse.ArgumentParser.add_subparsers`` returned.
    """
    parser = subparsers.add_parser(
        "bench",
        help="measure training, prediction, retrieval and input-pipeline throughput",
        description="Measures on random unit data and prints the configuration and the figures: training "
        "sequences/s, single-sequence predict latency (p50, p95) and batch sequences/s (compiled, as a SavedModel "
        "and, with --onnx, in ONNX Runtime), retrieval queries/s, pipeline batches/s.",
    )
    parser.add_argument(
        "--what", action="append", choices=(*PARTS, ALL), default=None,
        help=f"what to measure, repeatable (default: {' and '.join(DEFAULT_PARTS)})",
    )
    parser.add_argument("--dim", type=int, default=_DEFAULTS.dim,
                        help=f"embedding width D, every part (default {_DEFAULTS.dim})")
    parser.add_argument("--context", type=int, default=_DEFAULTS.context_length,
                        help=f"K, every part (default {_DEFAULTS.context_length})")
    model = parser.add_argument_group("train, predict")
    model.add_argument("--model-type", choices=MODEL_TYPES, default=_DEFAULTS.model_type)
    model.add_argument("--d-model", type=int, default=_DEFAULTS.d_model)
    model.add_argument("--num-layers", type=int, default=_DEFAULTS.num_layers)
    model.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size, help="B (train, pipeline)")
    model.add_argument("--steps", type=int, default=_DEFAULTS.train_steps, help="batches per timed epoch")
    model.add_argument("--predict-calls", type=int, default=_DEFAULTS.predict_calls, help="latency samples")
    model.add_argument("--predict-batch", type=int, default=_DEFAULTS.predict_batch,
                       help=f"B of the batch prediction throughput (default {_DEFAULTS.predict_batch})")
    model.add_argument("--no-saved-model", dest="saved_model", action="store_false",
                       help="do not export and time the SavedModel in the predict part")
    model.add_argument("--onnx", action="store_true",
                       help="predict part: also write the model as ONNX (int8 with --quantize int8) and time it in "
                       "ONNX Runtime (needs p7keras[onnx])")
    model.add_argument("--compile-single", action="store_true",
                       help="predict part: predict one sequence through a call compiled for it (PyTorch: "
                       "torch.compile, seconds to tens of seconds on the first call; TensorFlow: XLA, float32 "
                       "models) for lower latency")
    model.add_argument("--jit-compile", choices=JIT_COMPILE_CHOICES, default="auto")
    model.add_argument("--precision", choices=TRAIN_PRECISIONS, default=_DEFAULTS.precision,
                       help="the model's Keras dtype policy (train, predict; default float32); auto: the one "
                       "`p7keras train` chooses on this machine and backend")
    model.add_argument("--quantize", choices=QUANTIZE_MODES, default=None,
                       help="predict (and the SavedModel) with a reduced-precision copy: int8 or bfloat16; the "
                       "report adds the predictions' smallest cosine to the float32 model's")
    model.add_argument("--steps-per-execution", type=int, default=_DEFAULTS.steps_per_execution, metavar="N",
                       help="train steps per compiled call (TensorFlow, JAX; default 1, as p7keras train)")
    model.add_argument("--compare-prototype", action="store_true",
                       help="train: alternate with the plain-PyTorch reference of the prototype's step "
                       "(python -m p7keras.bench.reference_torch) and print each round's ratio")
    model.add_argument("--rounds", type=int, default=2,
                       help="rounds of --compare-prototype (default 2)")
    model.add_argument("--prototype-threads", type=int, default=_DEFAULTS.prototype_threads,
                       help=f"torch threads of the reference (default {_DEFAULTS.prototype_threads})")
    sizes = parser.add_argument_group("retrieval, pipeline")
    sizes.add_argument("--retrieval-queries", type=int, default=_DEFAULTS.retrieval_queries, metavar="N")
    sizes.add_argument("--retrieval-bank", type=int, default=_DEFAULTS.retrieval_bank, metavar="V")
    sizes.add_argument("--pipeline-articles", type=int, default=_DEFAULTS.pipeline_articles, metavar="N",
                       help=f"synthetic articles the pipeline batches (default {_DEFAULTS.pipeline_articles})")
    add_backend_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="also write the figures and the configuration to this JSON file")
    add_overwrite_argument(parser, "the --json file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure what ``args.what`` names, print the report and write ``--json``.

    Args:
        args: the parsed flags of ``p7keras bench``.

    Returns:
        The exit code, 0.
    """
    from p7keras.training.default_precision import (  # noqa: PLC0415 (standard library only)
        precision_line, quantize_note, resolve_precision)

    precision, why = resolve_precision(args.precision)  # auto: as `p7keras train` resolves it here
    config = BenchConfig(
        model_type=args.model_type,
        dim=args.dim,
        context_length=args.context,
        d_model=args.d_model,
        num_layers=args.num_layers,
        batch_size=args.batch_size,
        train_steps=args.steps,
        predict_calls=args.predict_calls,
        predict_batch=args.predict_batch,
        predict_saved_model=args.saved_model,
        predict_onnx=args.onnx,
        predict_compile_single=args.compile_single,
        jit_compile=JIT_COMPILE_SETTINGS[args.jit_compile],
        steps_per_execution=args.steps_per_execution,
        retrieval_queries=args.retrieval_queries,
        retrieval_bank=args.retrieval_bank,
        pipeline_articles=args.pipeline_articles,
        prototype_rounds=args.rounds if args.compare_prototype else 0,
        prototype_threads=args.prototype_threads,
        precision=precision,
        quantize=args.quantize,
    )  # checked here, before Keras is imported
    if args.compare_prototype and args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    if args.compare_prototype and "train" not in resolve_parts(args.what):
        raise ValueError("--compare-prototype compares training: measure it with --what train (or all)")
    check_writable(args.json, overwrite=args.overwrite)  # before the measurements, not after them
    from p7keras.bench import format_report, run as run_bench  # noqa: PLC0415 (imports keras; keep --help fast)

    if why != "as asked":  # auto's choice, or a caveat of this machine
        print(precision_line(precision, why))
    if note := quantize_note(args.quantize):
        print(note)
    result = run_bench(args.what, config)
    print(format_report(result))
    if args.json:
        with atomic_path(args.json) as tmp:
            with open(tmp, "w") as f:
                json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return 0
