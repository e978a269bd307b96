"""``p7keras export``: a trained model as a SavedModel, ``.keras`` or ONNX file, optionally in reduced precision.

argparse and path checks only (before Keras loads); the work is :func:`p7keras.models.precision.reduced_precision`,
the model's own ``export`` / ``save`` and :func:`p7keras.models.onnx_export.write_onnx`.

Example:

    $ p7keras export saved_models/p7_20260101-120000 --out served/int8 --quantize int8      # a SavedModel folder
    $ p7keras export run/best.keras --out run/best-bf16.keras --quantize bfloat16           # a .keras file
    $ p7keras export run/best.keras --out run/best-int8.onnx --quantize int8                # ONNX Runtime's int8
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import uuid

from p7keras.cli.evaluate import MODEL_HELP
from p7keras.config import ONNX_SUFFIX, QUANTIZE_MODES
from p7keras.console import CLIError
from p7keras.io import add_overwrite_argument, check_writable, refuse_existing
from p7keras.training.config import add_backend_argument

KERAS_SUFFIX = ".keras"


def _check(args: argparse.Namespace) -> str:
    """The ``.keras`` file to export, after every check that needs no Keras (exit 2 on each)."""
    from p7keras.evaluation.predictors import check_model_path, resolve_model_path  # noqa: PLC0415 (numpy only)

    kind, source = resolve_model_path(args.model)
    if kind != "keras":
        raise CLIError(f"{source}: a SavedModel cannot be exported again; give the run directory or its .keras file")
    check_model_path(args.model)
    if args.out.endswith(ONNX_SUFFIX):
        from p7keras.config import onnx_problems  # noqa: PLC0415

        problems = onnx_problems(args.quantize)
        if problems:
            raise CLIError(f"{args.out}: {problems[0]}")
    if args.out.endswith((KERAS_SUFFIX, ONNX_SUFFIX)):
        check_writable(args.out, overwrite=args.overwrite)
    else:
        if os.path.isfile(args.out):
            raise CLIError(f"{args.out}: is a file; a SavedModel is a folder (or give a name ending in .keras or "
                           ".onnx)")
        refuse_existing(args.out, args.overwrite)
        check_writable(os.path.join(args.out, "saved_model.pb"), overwrite=True)  # its parent can be written
        with contextlib.suppress(OSError):
            os.rmdir(args.out)  # the probe's folder, if check_writable made it: the export writes it whole
    return source


def _write_folder(model, out: str) -> None:
    """The SavedModel written beside ``out``, then moved onto it (an existing one replaced only once complete)."""
    parent = os.path.dirname(os.path.abspath(out))
    tmp = os.path.join(parent, f".{os.path.basename(out)}.{uuid.uuid4().hex}.tmp")
    old = tmp + ".old"
    try:
        model.export(tmp)
        if os.path.lexists(out):
            os.replace(out, old)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    """Checks the paths, loads the model, writes its reduced-precision copy; prints what was written."""
    source = _check(args)
    from p7keras.console import import_keras_quietly  # noqa: PLC0415

    import_keras_quietly()
    import numpy as np  # noqa: PLC0415
    from keras import ops  # noqa: PLC0415

    from p7keras.io import save_model  # noqa: PLC0415
    from p7keras.models.precision import reduced_precision  # noqa: PLC0415
    from p7keras.models.saving import load_model  # noqa: PLC0415

    try:
        model = load_model(source, compile=False)
    except Exception as exc:  # keras raises many types for a bad file; report one
        raise ValueError(f"{source}: cannot load as a Keras model ({type(exc).__name__}: {exc})") from exc
    if args.out.endswith(ONNX_SUFFIX):  # ONNX Runtime quantizes the float32 graph itself
        from p7keras.evaluation.predictors import load_predictor  # noqa: PLC0415
        from p7keras.models.onnx_export import write_onnx  # noqa: PLC0415

        write_onnx(model, args.out, quantize=args.quantize)
        exported = load_predictor(args.out).predict  # the file read back: what evaluate and predict will run
    else:
        exported = model if args.quantize is None else reduced_precision(model, args.quantize)
        if args.out.endswith(KERAS_SUFFIX):
            save_model(exported, args.out, optimizer=False)
        else:
            _write_folder(exported, args.out)
    sizes = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(args.out) for f in files) \
        if os.path.isdir(args.out) else os.path.getsize(args.out)
    check = np.random.default_rng(0).standard_normal((8, model.context_length, model.input_dim)).astype("float32")
    check /= np.linalg.norm(check, axis=-1, keepdims=True)
    cosine = float(np.min(np.sum(ops.convert_to_numpy(exported(check)) * ops.convert_to_numpy(model(check)), axis=-1)))
    what = args.quantize or "float32"
    print(f"wrote {args.out} ({what}, {sizes / 2**20:.1f} MiB; predictions' cosine to the float32 model on 8 random "
          f"contexts: min {cosine:.5f})")
    return 0


def register(subparsers) -> None:
    """Add the ``export`` subcommand to the ``p7keras`` parser."""
    parser = subparsers.add_parser(
        "export",
        help="write a trained model as a SavedModel, .keras or .onnx file, optionally quantized (int8, bfloat16)",
        description="Writes MODEL as a TensorFlow SavedModel folder (signature serving_default: context (None, K, "
        "D) -> prediction (None, D); serve_one: the same for one sequence (1, K, D), XLA-compiled in float32), "
        "as a .keras file when --out ends in .keras, or as an ONNX file for ONNX Runtime when it ends in .onnx. "
        "--quantize int8 stores the Dense kernels in int8 (Keras quantize; for .onnx ONNX Runtime's dynamic "
        "quantization), bfloat16 all weights in bfloat16 (not .onnx); the inputs, "
        "the final normalisation and the anchor stay float32. p7keras evaluate and predict load each of them.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP.replace(", or exported SavedModel directory", ""))
    parser.add_argument("--out", required=True,
                        help="the SavedModel folder, or a file name ending in .keras, or in .onnx (ONNX Runtime; "
                        "needs p7keras[onnx])")
    parser.add_argument("--quantize", choices=QUANTIZE_MODES, default=None,
                        help="int8 or bfloat16 weights (default: as trained, float32)")
    add_backend_argument(parser)
    add_overwrite_argument(parser, "the --out folder or file")
    parser.set_defaults(func=run, uses_keras=False)  # run imports Keras once the paths are checked
