"""Models to evaluate, as predictor objects: run directories, ``.keras`` files, SavedModels, objects.

A MODEL argument may be:

* a **run directory** (what ``p7keras train`` writes): its ``best.keras`` (preferred), else its
  ``final.keras``, else its exported SavedModel ``export/``;
* a **``.keras`` file** (loaded with ``keras.saving.load_model``; p7keras's classes are registered);
* an **exported SavedModel directory** (``saved_model.pb``), loaded *without* p7keras's Python classes
  through ``tf.saved_model.load`` and called through its ``serving_default`` signature (``context`` ->
  ``prediction`` in p7keras' exports), else its ``serve`` endpoint; one sequence through its ``serve_one``
  signature when it has one (p7keras' exports: ``(1, K, D)``, XLA-compiled in float32); a SavedModel holding
  int8 variables (``p7keras export --quantize int8``) runs its batches under XLA, padded to power-of-two buckets;
* an **ONNX file** (``.onnx``, ``p7keras export --out model.onnx``), run by ONNX Runtime (the ``onnx`` extra);
* in Python, also a ``keras.Model`` or a plain callable ``contexts (B, K, D) -> (B, D)``.

Every one becomes a :class:`Predictor` with a name, its K and D when known, a batch prediction and a
single-sequence prediction (for latency). A Keras model predicts through the backend's compiled call
(:class:`p7keras.models.inference.CompiledPredict`), not ``model.predict``.

Example:

>>> import numpy as np
>>> last = load_predictor(lambda contexts: contexts[:, -1], name="last")
>>> last.predict(np.eye(3, dtype=np.float32)[None, :2]).tolist()
[[0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from p7keras.config import ONNX_SUFFIX, SERVE_ENDPOINT, SERVE_ONE_ENDPOINT

RUN_FILES = ("best.keras", "final.keras")  # preferred first
EXPORT_FOLDER = "export"
SAVED_MODEL_FILE = "saved_model.pb"
KERAS_SUFFIX = ".keras"
SERVING_SIGNATURE = "serving_default"
DEFAULT_BATCH_SIZE = 1024  # rows per compiled call (p7keras.models.inference.CHUNK_SIZE)
LATENCY_CALLS = 50
LATENCY_WARMUP_CALLS = 5


def call_latency_ms(fn, x, calls: int, warmup: int = LATENCY_WARMUP_CALLS) -> dict[str, float]:
    """Median and 95th percentile wall time of ``fn(x)`` in milliseconds, after ``warmup`` untimed calls.

    Example:

    >>> sorted(call_latency_ms(abs, -1, calls=3))
    ['p50', 'p95']

    Args:
        fn: the function to time.
        x: its argument.
        calls: timed calls (>= 1).
        warmup: untimed calls first.

    Returns:
        ``{"p50", "p95"}`` in milliseconds.
    """
    if calls < 1:
        raise ValueError(f"latency calls must be >= 1, got {calls}")
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}


@dataclasses.dataclass
class Predictor:
    """One model to evaluate, or to predict with: ``Predictor.from_model(model).predict(contexts)``.

    Example:

        predictor = p7keras.Predictor.from_model(model)   # compiled for the backend, once
        predictor.predict(contexts)                       # == model.predict(contexts), (B, D) float32

    Attributes:
        name: the name in reports.
        kind: ``"keras"``, ``"saved_model"``, ``"onnx"`` or ``"callable"``.
        source: the file or folder it came from (or ``"memory"``).
        context_length: K the model was built for, or ``None`` when unknown.
        input_dim: D the model was built for, or ``None`` when unknown.
        batch_fn: ``(B, K, D) float32 -> (B, D)`` for many sequences at once.
        single_fn: the same for one sequence ``(1, K, D)`` (timed for latency).
        owner: the loaded model object (a restored SavedModel's functions need it alive).
    """

    name: str
    kind: str
    source: str
    context_length: int | None
    input_dim: int | None
    batch_fn: Callable[[np.ndarray], np.ndarray]
    single_fn: Callable[[np.ndarray], np.ndarray]
    owner: object = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_model(cls, model, name: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                   quantize: str | None = None, compile_single: bool = False) -> Predictor:
        """The compiled predictor of a ``keras.Model`` (TensorFlow ``tf.function``, JAX ``jax.jit``,
        PyTorch ``torch.export`` under ``torch.inference_mode``; see ``p7keras.models.inference``).

        Example:

            predictor = p7keras.Predictor.from_model(model)
            predictor.predict(contexts[:1])   # one sequence, without Keras predict overhead

        Args:
            model: a ``keras.Model`` mapping contexts ``(B, K, D)`` to predictions ``(B, D)``.
            name: the report name (default: the model's name).
            batch_size: rows per compiled call; larger inputs are split.
            quantize: predict with a reduced-precision copy, ``"int8"`` or ``"bfloat16"``
                (:func:`p7keras.models.precision.reduced_precision`; ``model`` itself is unchanged).
            compile_single: predict one sequence through a call compiled for it, on the first one-sequence
                call, for lower latency: ``torch.compile`` on PyTorch, XLA on TensorFlow (float32 models);
                ignored by JAX (:class:`p7keras.models.inference.CompiledPredict`).

        Returns:
            A :class:`Predictor` of kind ``"keras"``.
        """
        return _keras_predictor(model, name, "memory", batch_size, quantize, compile_single)

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        """Predictions for ``contexts (B, K, D)``, checked: ``(B, D)`` float32, finite, non-zero rows.

        Args:
            contexts: ``(B, K, D)`` array-like, cast to float32.

        Returns:
            ``(B, D)`` float32 numpy array, as ``model.predict`` returns.

        Raises:
            ValueError: wrong output shape, NaN/inf or zero predictions (naming the model).
        """
        out = np.asarray(self.batch_fn(np.ascontiguousarray(contexts, dtype=np.float32)))
        expected = (contexts.shape[0], contexts.shape[2])
        if out.shape != expected:
            raise ValueError(
                f"model {self.name} ({self.source}) returned predictions of shape {out.shape} for "
                f"contexts of shape {contexts.shape}; expected {expected}"
            )
        out = out.astype(np.float32, copy=False)
        for problem, bad in (
            ("NaN or inf values", ~np.isfinite(out).all(axis=1)),
            ("zero vectors", ~(out != 0).any(axis=1)),
        ):
            if bad.any():
                raise ValueError(
                    f"model {self.name} ({self.source}): {int(bad.sum())} predictions are {problem} "
                    f"(first at sequence {int(np.argmax(bad))})"
                )
        return out

    def latency_ms(self, context: np.ndarray, calls: int) -> dict[str, float]:
        """Wall time of single-sequence predictions, after a short warm-up.

        Args:
            context: one context ``(1, K, D)``.
            calls: timed calls.

        Returns:
            ``{"p50", "p95"}`` in milliseconds.
        """
        return call_latency_ms(self.single_fn, np.ascontiguousarray(context, dtype=np.float32), calls)


# ------------------------------------------------------------------------------------ keras models
def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def _keras_shape(model) -> tuple[int | None, int | None]:
    """(K, D) of a keras model: p7keras attributes, else its ``(None, K, D)`` input shape."""
    if hasattr(model, "context_length"):
        return _int_or_none(model.context_length), _int_or_none(getattr(model, "input_dim", None))
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError, TypeError):
        return None, None
    if len(shape) != 3:
        raise ValueError(
            f"model {model.name} takes inputs of shape {shape}; a P7 model takes contexts (None, K, D)"
        )
    return _int_or_none(shape[1]), _int_or_none(shape[2])


def _keras_predictor(model, name: str | None, source: str, batch_size: int, quantize: str | None = None,
                     compile_single: bool = False) -> Predictor:
    from p7keras.models.inference import CompiledPredict  # keras only for keras models

    k, d = _keras_shape(model)
    if quantize is not None:
        from p7keras.models.precision import reduced_precision  # noqa: PLC0415

        model, name = reduced_precision(model, quantize), f"{name or model.name}@{quantize}"
    compiled = CompiledPredict(model, chunk_size=batch_size, compile_single=compile_single)
    return Predictor(
        name=name or model.name,
        kind="keras",
        source=source,
        context_length=k,
        input_dim=d,
        batch_fn=compiled,
        single_fn=compiled,
        owner=model,
    )


def check_model_path(path: str | os.PathLike) -> None:
    """Refuses a MODEL path that cannot be loaded, as far as that is known without Keras.

    The path must be a run directory, a ``.keras`` file or a SavedModel folder
    (:func:`resolve_model_path`); a ``.keras`` file must be a zip archive whose ``config.json`` is JSON.
    Whatever else is wrong with it, Keras finds when it loads the model.

    Example:

        check_model_path("notes.txt")   # ValueError: notes.txt: not a model: expected a .keras file, ...

    Raises:
        FileNotFoundError: no such path.
        ValueError: not a model, not a zip archive, or a ``config.json`` that is not JSON (the line the
            loader would give).
    """
    import json  # noqa: PLC0415

    kind, where = resolve_model_path(path)
    if kind == "onnx":
        _check_onnx_file(where)
        return
    if kind != "keras":
        return
    if not zipfile.is_zipfile(where):  # Keras would say "File not found" of a file that is there
        raise ValueError(f"{where}: not a .keras model archive (not a zip file)")
    try:
        with zipfile.ZipFile(where) as archive:
            json.loads(archive.read("config.json"))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:  # as the loader reports it
        raise ValueError(f"{where}: cannot load as a Keras model ({type(exc).__name__}: {exc})") from exc


def _load_keras_file(path: str, name: str, batch_size: int, quantize: str | None = None,
                     compile_single: bool = False) -> Predictor:
    check_model_path(path)
    import keras  # noqa: PLC0415 (keras only when a model is loaded)

    import p7keras.models  # noqa: F401, PLC0415 (registers the p7keras classes for deserialization)

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # keras raises many types for a bad file; report one
        raise ValueError(f"{path}: cannot load as a Keras model ({type(exc).__name__}: {exc})") from exc
    return _keras_predictor(model, name, path, batch_size, quantize, compile_single)


# --------------------------------------------------------------------------------- SavedModels
def _in_chunks(call, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``call`` on ``batch_size`` rows of ``x`` at a time, the parts concatenated (SavedModels, ONNX files)."""
    return np.concatenate([call(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def _serving_function(loaded, folder: str):
    """``(call, input_spec)`` of a loaded SavedModel: its ``serving_default`` signature, else ``serve``.

    p7keras' exports name the signature's input ``context`` and its output ``prediction``; any single
    input and single output are accepted (older exports: ``inputs`` -> ``output_0``).
    """
    signatures = dict(getattr(loaded, "signatures", {}) or {})
    if SERVING_SIGNATURE in signatures:
        signature = signatures[SERVING_SIGNATURE]
        inputs = signature.structured_input_signature[1]
        outputs = signature.structured_outputs
        for what, found, expected in (("takes inputs", inputs, "the contexts (None, K, D)"),
                                      ("returns", outputs, "the predictions (None, D)")):
            if len(found) != 1:
                raise ValueError(
                    f"{folder}: signature '{SERVING_SIGNATURE}' {what} {sorted(found)}; expected exactly one, "
                    f"{expected}"
                )
        (key, spec), = inputs.items()
        (output,) = outputs

        def call(x):
            return signature(**{key: x})[output]

        return call, spec
    serve = getattr(loaded, SERVE_ENDPOINT, None)
    specs = getattr(serve, "input_signature", None) if callable(serve) else None
    if specs is not None and len(specs) == 1:
        return (lambda x: serve(x)), specs[0]
    raise ValueError(
        f"{folder}: the SavedModel has no serving function: expected a '{SERVE_ENDPOINT}' endpoint or a "
        f"'{SERVING_SIGNATURE}' signature taking contexts (None, K, D); found signatures {sorted(signatures)}"
    )


def _load_saved_model(folder: str, name: str, batch_size: int) -> Predictor:
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only for SavedModels)

    try:
        loaded = tf.saved_model.load(folder)
    except Exception as exc:  # TensorFlow raises many types for a bad folder; report one
        raise ValueError(f"{folder}: cannot load as a SavedModel ({type(exc).__name__}: {exc})") from exc
    call, spec = _serving_function(loaded, folder)
    shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else ()
    if len(shape) != 3:
        raise ValueError(
            f"{folder}: the serving function takes inputs of shape {shape}; expected contexts (None, K, D)"
        )

    one = _one_sequence_function(loaded, shape) or call
    int8 = any(variable.dtype == tf.int8 for variable in getattr(loaded, "variables", ()))

    def single(x: np.ndarray) -> np.ndarray:
        return one(tf.constant(x)).numpy()

    if int8:  # TensorFlow's graph multiplies Keras' int8 matrices ~25x slower than XLA (README)
        from p7keras.models.inference import padded_to_bucket  # noqa: PLC0415

        xla = tf.function(call, jit_compile=True, reduce_retracing=True)  # XLA compiles once per bucket

        def batch(part: np.ndarray) -> np.ndarray:
            return xla(tf.constant(padded_to_bucket(part, batch_size))).numpy()[: len(part)]
    else:
        def batch(part: np.ndarray) -> np.ndarray:
            return call(tf.constant(part)).numpy()

    def run(x: np.ndarray) -> np.ndarray:
        if len(x) == 1:
            return single(x)
        return _in_chunks(batch, x, batch_size)

    run.mode = "serving_default+xla" if int8 else "serving_default"  # how batches run (tests, reports)

    return Predictor(
        name=name,
        kind="saved_model",
        source=folder,
        context_length=_int_or_none(shape[1]),
        input_dim=_int_or_none(shape[2]),
        batch_fn=run,
        single_fn=single,
        owner=loaded,
    )


def _one_sequence_function(loaded, shape: tuple):
    """The SavedModel's ``serve_one`` signature (p7keras' exports: one sequence, XLA-compiled in float32) as a
    function of the contexts, when it takes ``(1, K, D)`` for the serving function's K and D; else ``None``."""
    signature = dict(getattr(loaded, "signatures", {}) or {}).get(SERVE_ONE_ENDPOINT)
    if signature is None:
        return None
    inputs, outputs = signature.structured_input_signature[1], signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    (key, spec), = inputs.items()
    (output,) = outputs
    if spec.shape.rank != 3 or tuple(spec.shape.as_list()) != (1, *shape[1:]):
        return None
    return lambda x: signature(**{key: x})[output]


# ---------------------------------------------------------------------------------- ONNX files
def _check_onnx_file(path: str) -> None:
    """Refuses a ``.onnx`` file that is not an ONNX model (parsed with ``onnx``, before Keras loads)."""
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("onnx") is None:  # ONNX Runtime says so when the file is loaded
        return
    import onnx  # noqa: PLC0415

    try:
        onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf's and onnx's own types; report one line
        raise ValueError(f"{path}: cannot load as an ONNX model ({type(exc).__name__}: {exc})") from exc


def _load_onnx(path: str, name: str, batch_size: int) -> Predictor:
    """An ONNX file run by ONNX Runtime (CPU): its one input ``(None, K, D)`` float32, its one output."""
    try:
        import onnxruntime  # noqa: PLC0415 (only for ONNX files)
    except ImportError as exc:
        raise ValueError(f"{path}: an ONNX model needs onnxruntime: pip install \"p7keras[onnx]\"") from exc
    try:
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for a bad file; report one
        raise ValueError(f"{path}: cannot load as an ONNX model ({type(exc).__name__}: {exc})") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = tuple(inputs[0].shape) if len(inputs) == 1 else ()
    if len(inputs) != 1 or len(outputs) != 1 or len(shape) != 3:
        raise ValueError(
            f"{path}: the ONNX model takes {[(i.name, i.shape) for i in inputs]} and returns "
            f"{[o.name for o in outputs]}; expected one input, contexts (None, K, D), and one output"
        )
    feed = inputs[0].name

    def call(x: np.ndarray) -> np.ndarray:
        return session.run(None, {feed: x})[0]

    return Predictor(
        name=name,
        kind="onnx",
        source=path,
        context_length=shape[1] if isinstance(shape[1], int) else None,
        input_dim=shape[2] if isinstance(shape[2], int) else None,
        batch_fn=lambda x: _in_chunks(call, x, batch_size),
        single_fn=call,
        owner=session,
    )


# ------------------------------------------------------------------------------------- paths
def resolve_model_path(path: str | os.PathLike) -> tuple[str, str]:
    """What a MODEL path points to.

    Example:
        ``resolve_model_path("saved_models/p7_20250101-120000")`` ->
        ``("keras", "saved_models/p7_20250101-120000/best.keras")``

    Args:
        path: a run directory, a ``.keras`` file, an ``.onnx`` file or a SavedModel directory.

    Returns:
        ``(kind, file_or_folder)`` with kind ``"keras"``, ``"onnx"`` or ``"saved_model"``.

    Raises:
        FileNotFoundError: no such path.
        ValueError: a path that is none of the three.
    """
    where = Path(path)
    if not where.exists():
        raise FileNotFoundError(f"{where}: no such model file or folder")
    if where.is_file():
        if where.suffix not in (KERAS_SUFFIX, ONNX_SUFFIX):
            raise ValueError(
                f"{where}: not a model: expected a {KERAS_SUFFIX} or {ONNX_SUFFIX} file, a run directory or an "
                "exported SavedModel directory"
            )
        return ("onnx" if where.suffix == ONNX_SUFFIX else "keras"), str(where)
    for run_file in RUN_FILES:
        if (where / run_file).is_file():
            return "keras", str(where / run_file)
    for folder in (where, where / EXPORT_FOLDER):
        if (folder / SAVED_MODEL_FILE).is_file():
            return "saved_model", str(folder)
    raise ValueError(
        f"{where}: a folder without {' or '.join(RUN_FILES)} (a run directory) or {SAVED_MODEL_FILE} "
        "(an exported SavedModel)"
    )


def _name_of_path(path: Path) -> str:
    """Report name: the run folder for its files and export, else the file or folder name."""
    path = Path(os.path.abspath(path))
    if path.name in RUN_FILES or path.name == EXPORT_FOLDER:
        return f"{path.parent.name}/{Path(path.name).stem}"
    return path.stem if path.suffix in (KERAS_SUFFIX, ONNX_SUFFIX) else path.name


def load_predictor(model, name: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                   quantize: str | None = None, compile_single: bool = False) -> Predictor:
    """Turn a path, a ``keras.Model`` or a callable into a :class:`Predictor`.

    Args:
        model: a path (run directory, ``.keras`` file, ``.onnx`` file, SavedModel directory), a ``keras.Model``, or a
            callable ``contexts (B, K, D) -> predictions (B, D)``.
        name: the report name (default: derived from the path, the model name or the function name).
        batch_size: prediction batch size.
        quantize: predict with a reduced-precision copy of a Keras model, ``"int8"`` or ``"bfloat16"``
            (the name gets ``@int8``/``@bfloat16``); a SavedModel, an ONNX file or a callable cannot be
            quantized here.
        compile_single: a Keras model predicts one sequence through a call compiled for it (``torch.compile``
            on PyTorch, XLA on TensorFlow; on the first one-sequence call) for lower latency
            (:meth:`Predictor.from_model`).

    Returns:
        A :class:`Predictor`.

    Raises:
        FileNotFoundError, ValueError: unreadable or unusable models, or one that cannot be quantized.
    """
    if quantize is not None:
        check_quantizable(model, quantize)
    if isinstance(model, Predictor):
        return dataclasses.replace(model, name=name or model.name)
    if isinstance(model, (str, os.PathLike)):
        kind, target = resolve_model_path(model)
        if kind == "keras":
            return _load_keras_file(target, name or _name_of_path(Path(model)), batch_size, quantize, compile_single)
        if kind == "onnx":
            return _load_onnx(target, name or _name_of_path(Path(model)), batch_size)
        return _load_saved_model(target, name or _name_of_path(Path(model)), batch_size)
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return _keras_predictor(model, name, "memory", batch_size, quantize, compile_single)
    if callable(model):
        return Predictor(
            name=name or getattr(model, "__name__", type(model).__name__),
            kind="callable",
            source="memory",
            context_length=_int_or_none(getattr(model, "context_length", None)),
            input_dim=_int_or_none(getattr(model, "input_dim", None)),
            batch_fn=model,
            single_fn=model,
        )
    raise ValueError(
        f"cannot evaluate a {type(model).__name__}: pass a path, a keras.Model or a callable "
        "contexts (B, K, D) -> (B, D)"
    )


def check_quantizable(model, quantize: str) -> None:
    """Refuses a ``quantize`` setting that cannot apply to ``model`` (without Keras for paths).

    Raises:
        ValueError: an unknown mode, or a SavedModel, a :class:`Predictor` or a callable (only Keras models,
            ``.keras`` files and run directories are quantized when loaded).
    """
    from p7keras.config import quantize_problems, raise_problems  # noqa: PLC0415

    raise_problems(quantize_problems(quantize))
    if isinstance(model, (str, os.PathLike)):
        kind, target = resolve_model_path(model)
        if kind != "keras":
            what = "an ONNX model" if kind == "onnx" else "a SavedModel"
            raise ValueError(f"{target}: {what} is predicted as it was exported; --quantize {quantize} applies "
                             f"to a .keras model or a run directory (export a quantized copy with "
                             f"p7keras export MODEL --out OUT --quantize {quantize})")
        return
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(model, keras.Model):
        raise ValueError(f"cannot quantize a {type(model).__name__}: --quantize applies to Keras models")


def load_predictors(model_or_path, batch_size: int = DEFAULT_BATCH_SIZE,
                    quantize: str | None = None) -> list[Predictor]:
    """Predictors for ``None`` (none: baselines only), one model, a list of them or a ``{name: model}``.

    Names are made unique by appending ``#2``, ``#3``, ...

    Args:
        model_or_path: see :func:`load_predictor`; also ``None``, a list/tuple or a dict.
        batch_size: prediction batch size.
        quantize: see :func:`load_predictor` (every model).

    Returns:
        A list of :class:`Predictor`.
    """
    if model_or_path is None:
        return []
    if isinstance(model_or_path, dict):
        items = list(model_or_path.items())
    elif isinstance(model_or_path, (list, tuple)):
        items = [(None, model) for model in model_or_path]
    else:
        items = [(None, model_or_path)]
    predictors, seen = [], {}
    for name, model in items:
        predictor = load_predictor(model, name, batch_size, quantize)
        count = seen[predictor.name] = seen.get(predictor.name, 0) + 1
        if count > 1:
            predictor = dataclasses.replace(predictor, name=f"{predictor.name}#{count}")
        predictors.append(predictor)
    return predictors
