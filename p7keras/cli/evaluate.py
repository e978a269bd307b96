"""``p7keras evaluate``: directional test, retrieval against DIRECT and MEAN, the ship gate, latency.

argparse only; the work is done by :mod:`p7keras.evaluation`.

Example:

    $ p7keras evaluate saved_models/p7_20250101-120000 --html report.html   # the run's own data, ood split
    $ p7keras evaluate saved_models/p7_20250101-120000 --data corpus.npz --split ood --html report.html
    $ p7keras evaluate --data rustdocs_minilm384.npz --split all --context 5      # baselines only
    $ p7keras evaluate run_a/best.keras run_b/export --data corpus.npz --json comparison.json
"""

from __future__ import annotations

import argparse
import os
import sys

from p7keras.config import DEFAULTS, QUANTIZE_MODES
from p7keras.console import CLIError
from p7keras.io import add_overwrite_argument
from p7keras.training.config import add_backend_argument

DEFAULT_SPLIT = "all"
SPLIT_CHOICES = ("all", "train", "val", "ood")
MODEL_HELP = ("run directory (best.keras, else final.keras, else export/), .keras file, or exported SavedModel "
              "directory")


def add_quantize_argument(parser: argparse.ArgumentParser) -> None:
    """``--quantize {int8, bfloat16}``: predict with a reduced-precision copy of each Keras model."""
    parser.add_argument("--quantize", choices=QUANTIZE_MODES, default=None,
                        help="predict with a reduced-precision copy of each .keras model: int8 (Keras quantize: "
                        "int8 kernels, a quarter of the weight bytes) or bfloat16 (half); a SavedModel is "
                        "predicted as exported (p7keras export --quantize writes a quantized one)")


def check_quantize(args: argparse.Namespace) -> None:
    """Refuses ``--quantize`` on a MODEL it cannot apply to (a SavedModel), before Keras loads; says on stderr
    when the mode computes slower than float32 on this machine (bfloat16 on a CPU without bfloat16 units)."""
    from p7keras.evaluation.predictors import check_quantizable  # noqa: PLC0415 (numpy only)
    from p7keras.training.default_precision import quantize_note  # noqa: PLC0415 (standard library only)

    if args.quantize is not None:
        for model in args.models:
            check_quantizable(model, args.quantize)
        if note := quantize_note(args.quantize):
            print(note, file=sys.stderr)


def add_data_arguments(parser: argparse.ArgumentParser, split_help: str) -> None:
    """Adds ``--data``, ``--split`` and ``--seed``, which :func:`resolve_data` defaults from a run directory.

    Args:
        parser: the command's parser.
        split_help: what the split is for, in the command's words.
    """
    parser.add_argument("--data", default=None,
                        help="chunk corpus or sequence file (.npz); default: the data of the first MODEL that "
                        "is a run directory (its config.json; the synthetic corpus included)")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default=None,
                        help=f"{split_help}, by article as in training (default: ood for a run's own data, "
                        f"else {DEFAULT_SPLIT})")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"split seed, as in training (default: the run's, else {DEFAULTS.seed})")


def resolve_data(args: argparse.Namespace) -> None:
    """Fills ``--data``, ``--split`` and ``--seed`` left out from the first MODEL that is a run directory.

    Raises:
        CLIError: no ``--data`` and no run directory to take it from.
    """
    from p7keras.training.run_dir import evaluation_defaults  # noqa: PLC0415

    if args.data is None:
        for model in args.models:
            defaults = evaluation_defaults(model)
            if defaults is not None:
                args.data = defaults["data"]
                args.split = args.split or defaults["split"]
                args.seed = defaults["seed"] if args.seed is None else args.seed
                print(f"data from {model}/config.json: {defaults['described']}, split {args.split}, "
                      f"seed {args.seed}")
                break
        else:
            raise CLIError("--data is required: no MODEL is a run directory whose config.json names its data")
    args.split = args.split or DEFAULT_SPLIT
    args.seed = DEFAULTS.seed if args.seed is None else args.seed


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the JSON and HTML reports; exit 1 on a failed gate with --require-pass.

    Flags, output paths, MODEL paths (:func:`p7keras.evaluation.predictors.check_model_path`) and the data
    (loaded, numpy only) are checked before Keras starts.
    """
    from p7keras.console import import_keras_quietly  # noqa: PLC0415
    from p7keras.data import load  # noqa: PLC0415 (numpy only)
    from p7keras.evaluation.predictors import check_model_path  # noqa: PLC0415 (numpy only)
    from p7keras.io import check_writable, write_json  # noqa: PLC0415

    if args.per_sequence and not args.json:
        raise CLIError("--per-sequence writes into the JSON report: give --json OUT too")
    if args.resamples < 1:
        raise CLIError(f"--resamples must be >= 1, got {args.resamples}")
    check_writable(args.json, args.html, overwrite=args.overwrite)  # before the evaluation, not after it
    resolve_data(args)
    for model in args.models:
        check_model_path(model)
    check_quantize(args)
    data = args.data if not isinstance(args.data, (str, os.PathLike)) else load(args.data)
    import_keras_quietly()  # the console has set KERAS_BACKEND from --backend already
    from p7keras.evaluation import evaluate, format_table, write_html  # noqa: PLC0415 (keep --help fast)

    result = evaluate(
        args.models or None,
        data,
        split=args.split,
        context_length=args.context,
        max_samples=args.max_samples,
        seed=args.seed,
        batch_size=args.batch_size,
        latency_calls=args.latency_calls,
        strict_gate=not args.allow_small,
        resamples=args.resamples,
        per_sequence=args.per_sequence,
        diagnostics=args.diagnostics,
        quantize=args.quantize,
    )
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    if args.html:
        write_html(result, args.html)
        print(f"wrote {args.html}")
    if args.require_pass and not all(m["ship_gate"]["passed"] for m in result["models"].values()):
        return 1
    return 0


def register(subparsers) -> None:
    """Add the ``evaluate`` subcommand to the ``p7keras`` parser."""
    from p7keras.evaluation.predictors import DEFAULT_BATCH_SIZE, LATENCY_CALLS  # noqa: PLC0415 (numpy only)
    from p7keras.evaluation.uncertainty import DEFAULT_RESAMPLES  # noqa: PLC0415 (numpy only)

    parser = subparsers.add_parser(
        "evaluate",
        help="directional test, retrieval R@1/5/10 and MRR@10 vs DIRECT and MEAN, ship gate, latency",
        description="Evaluates models (or, with no MODEL, the baselines alone) on one split of a chunk "
        "corpus or sequence file. Several models give one comparison.",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help=MODEL_HELP)
    add_data_arguments(parser, "split to evaluate")
    parser.add_argument("--context", type=int, default=None,
                        help=f"context length K (default: the models' K, else {DEFAULTS.context_length} "
                        "or the sequence file's K)")
    parser.add_argument("--max-samples", type=int, default=None, metavar="N",
                        help="evaluate a seeded random subset of N sequences (the bank stays the whole split)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help=f"prediction batch size (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--latency-calls", type=int, default=LATENCY_CALLS,
                        help=f"timed single-sequence predictions per model (default {LATENCY_CALLS})")
    parser.add_argument("--allow-small", action="store_true",
                        help=f"allow fewer than {DEFAULTS.ship_gate_min_sequences} sequences; the ship gate "
                        "is then UNDECIDED")
    parser.add_argument("--require-pass", action="store_true",
                        help="exit with code 1 unless every model passes the ship gate")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, metavar="N",
                        help="bootstrap resamples of the articles for every gain's 95%% interval (default "
                        f"{DEFAULT_RESAMPLES}; seeded with --seed)")
    parser.add_argument("--per-sequence", action="store_true",
                        help="the JSON also holds every sequence's ranks under each protocol and its cosines, "
                        "for every model and baseline")
    parser.add_argument("--no-diagnostics", dest="diagnostics", action="store_false",
                        help="skip the diagnostic battery (offset sweep, order ablations, rollout, within-article "
                        "retrieval, coherence bins; about K + 10 more prediction and ranking passes per model)")
    add_quantize_argument(parser)
    add_backend_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="write the result as JSON")
    parser.add_argument("--html", metavar="OUT", help="write a self-contained HTML report")
    add_overwrite_argument(parser, "the --json and --html files")
    parser.set_defaults(func=run, uses_keras=False)  # run imports Keras once flags, models and data are checked
