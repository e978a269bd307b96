"""ONNX export of a ranker for ONNX Runtime, optionally int8: the fastest single-sequence prediction on a CPU.

On this project's 2-core AVX2 CPU, none of Keras' three backends predicts one sequence of the bench model in
under 2.5 ms, in float32 or with Keras' int8 (their int8 matrix products alone cost more; README, Benchmarks).
ONNX Runtime's kernels (MLAS) do: the same model exported here predicted one sequence in 2.4-3.3 ms in
float32 and 1.6-2.5 ms in int8 (p50, README "Precision"). So ``p7keras export MODEL --out model.onnx [--quantize int8]`` writes it, and
every command that reads a MODEL (``evaluate``, ``predict``, ``Predictor``) predicts a ``.onnx`` file with
ONNX Runtime.

* The graph is Keras' own ONNX export (``keras.Model.export(format="onnx")``) under TensorFlow, which maps
  ``context`` ``(None, K, D)`` float32 to the predictions ``(None, D)``. JAX and PyTorch models are exported
  the same way by a ``KERAS_BACKEND=tensorflow`` child process from their ``.keras`` file (the backends agree
  to 1e-5), as their SavedModels are.
* ``quantize="int8"`` is ONNX Runtime's dynamic quantization (``onnxruntime.quantization.quantize_dynamic``):
  int8 weights per output channel, activations quantized per call; ``reduce_range`` keeps the products
  within the 16-bit accumulators of AVX2 CPUs without VNNI (without it the predictions' smallest cosine to
  float32 fell to 0.89 on the bench model). The attention layers' products stay float32
  (:func:`_attention_products`): with them the smallest cosine on the bench data is 0.9991.

Before the file replaces anything it is read back: ONNX Runtime runs it on 64 random contexts against the model
(smallest cosine >= 0.99999 in float32, >= 0.99 in int8). TensorFlow's ``Erfc`` (the exact GELU of the flat
ranker), which tf2onnx writes as a node ONNX does not have, is rewritten as ``1 - Erf``.

Needs the ``onnx`` extra (``pip install "p7keras[onnx]"``: onnx, onnxruntime, tf2onnx).

Example:

    write_onnx(model, "served/model.onnx", quantize="int8")
    p7keras.evaluation.load_predictor("served/model.onnx").predict(contexts)   # (B, D), ONNX Runtime
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np

from p7keras.config import ONNX_SUFFIX, onnx_problems
READ_BACK_CONTEXTS = 64
READ_BACK_COSINE = {None: 0.99999, "int8": 0.99}  # the written file against the model, before it replaces anything
ATTENTION_SCOPE = "/attention"  # the encoder blocks' attention layer (p7keras.layers.encoder) in the node names
_CHILD_EXPORT = ("import sys; from p7keras.models.onnx_export import export_onnx; "
                 "export_onnx(sys.argv[1], sys.argv[2], sys.argv[3] or None)")


def write_onnx(model, path: str | os.PathLike, quantize: str | None = None) -> str:
    """Writes a built ranker as an ONNX file (``context`` ``(None, K, D)`` -> ``(None, D)``), atomically.

    Example:

        write_onnx(model, "served/model.onnx")                     # float32
        write_onnx(model, "served/model-int8.onnx", quantize="int8")

    Args:
        model: a built ranker on any backend (``context_length`` and ``input_dim`` set).
        path: the ``.onnx`` file; replaced only once the new one is complete.
        quantize: ``"int8"`` for ONNX Runtime's dynamic int8 quantization (None: float32).

    Returns:
        ``path`` as a string.

    Raises:
        ValueError: a missing package or a mode ONNX cannot hold (:func:`onnx_problems`).
        RuntimeError: a file that does not predict as the model (it replaces nothing), or an export child process
            (JAX, PyTorch) that fails (its last output line is included).
    """
    import keras  # noqa: PLC0415

    problems = onnx_problems(quantize)
    if problems:
        raise ValueError("; ".join(problems))
    path = os.fspath(path)
    with tempfile.TemporaryDirectory() as folder:
        if keras.backend.backend() == "tensorflow":
            _export(model, path, quantize, folder)
            return path
        saved = os.path.join(folder, "model.keras")
        model.save(saved)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", _CHILD_EXPORT, saved, path, quantize or ""], env=env,
                              capture_output=True, text=True)
        if done.returncode:  # one line: the child's last, where Python names the exception
            last = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"ONNX export to {path} failed in its TensorFlow process: {last}")
    return path


def export_onnx(keras_path: str | os.PathLike, path: str | os.PathLike, quantize: str | None = None) -> str:
    """Writes a saved ``.keras`` ranker as an ONNX file (what the JAX and PyTorch exports' child process runs).

    Example:

        export_onnx("saved_models/run/best.keras", "served/model.onnx", quantize="int8")

    Args:
        keras_path: the ``.keras`` file.
        path: the ``.onnx`` file.
        quantize: as :func:`write_onnx`.

    Returns:
        ``path`` as a string.
    """
    from p7keras.models.saving import load_model  # noqa: PLC0415

    return write_onnx(load_model(os.fspath(keras_path), compile=False), path, quantize)


def _attention_products(path: str) -> list[str]:
    """The attention layers' matrix products in the graph at ``path``: they stay float32 under int8.

    Their per-call activation quantization (one scale per tensor in ONNX Runtime, where Keras' int8 takes one per
    row) moves the attention logits most: on the bench model the predictions' smallest cosine to float32 was
    0.9986 with them in int8 and 0.9991 without, for about 0.1 ms (p50 1.51 -> 1.61 ms).
    """
    import onnx  # noqa: PLC0415

    return [node.name for node in onnx.load(path, load_external_data=False).graph.node
            if node.op_type == "MatMul" and ATTENTION_SCOPE in node.name]


def _replace_erfc(path: str) -> None:
    """Rewrites every ``Erfc(x)`` node of the graph at ``path`` as ``1 - Erf(x)``, in place.

    tf2onnx writes TensorFlow's ``Erfc`` (exact GELU: the flat ranker's ``context_mix``) as an ``Erfc`` node, which
    is not an ONNX operator: ONNX Runtime refuses the whole file. ``Erf`` is one (opset 9).
    """
    import onnx  # noqa: PLC0415
    from onnx import helper, numpy_helper  # noqa: PLC0415

    model = onnx.load(path)
    graph = model.graph
    if not any(node.op_type == "Erfc" for node in graph.node):
        return
    one = "p7keras_erfc_one"
    graph.initializer.append(numpy_helper.from_array(np.ones((), np.float32), one))
    nodes = []
    for node in graph.node:
        if node.op_type != "Erfc":
            nodes.append(node)
            continue
        erf = f"{node.output[0]}_erf"
        nodes.append(helper.make_node("Erf", [node.input[0]], [erf], name=f"{node.name}_erf"))
        nodes.append(helper.make_node("Sub", [one, erf], [node.output[0]], name=node.name))
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, path)


def _check_read_back(model, written: str, path: str, minimum: float) -> None:
    """Runs the written file in ONNX Runtime on 64 random unit contexts against the model itself.

    Raises:
        RuntimeError: the file does not load, or its predictions' smallest cosine to the model's is below
            ``minimum`` (``path`` is then left as it was).
    """
    import onnxruntime  # noqa: PLC0415

    rng = np.random.default_rng(0)
    contexts = rng.standard_normal((READ_BACK_CONTEXTS, model.context_length, model.input_dim)).astype(np.float32)
    contexts /= np.linalg.norm(contexts, axis=-1, keepdims=True)
    try:
        session = onnxruntime.InferenceSession(written, providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: contexts})[0]
    except Exception as exc:  # onnxruntime raises its own types; report one line
        raise RuntimeError(f"{path}: the exported ONNX file does not run in ONNX Runtime "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
    want = np.asarray(model.predict(contexts, verbose=0), np.float32)
    cosine = float(np.min(np.sum(got * want, axis=-1) / np.maximum(
        np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1), 1e-12)))
    if not cosine >= minimum:
        raise RuntimeError(f"{path}: the exported ONNX file's predictions differ from the model's (smallest cosine "
                           f"{cosine:.6f} on {READ_BACK_CONTEXTS} random contexts, expected >= {minimum})")


def _export(model, path: str, quantize: str | None, folder: str) -> None:
    """Keras' ONNX export (TensorFlow) into ``folder``, quantized there, then moved onto ``path``."""
    from p7keras.io import atomic_path  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415 (the export's backend)

    from p7keras.config import CONTEXT_KEY  # noqa: PLC0415

    float32 = os.path.join(folder, "float32" + ONNX_SUFFIX)
    spec = tf.TensorSpec((None, model.context_length, model.input_dim), tf.float32, name=CONTEXT_KEY)
    with warnings.catch_warnings():  # tf2onnx's own numpy FutureWarning, not the user's business
        warnings.simplefilter("ignore", FutureWarning)
        model.export(float32, format="onnx", verbose=False, input_signature=[spec])
    _replace_erfc(float32)
    with atomic_path(path) as tmp:
        if quantize == "int8":
            from onnxruntime.quantization import quantize_dynamic  # noqa: PLC0415

            logging.disable(logging.WARNING)  # its advice to pre-process (shape inference) on the root logger
            try:
                quantize_dynamic(float32, tmp, per_channel=True, reduce_range=True,
                                 nodes_to_exclude=_attention_products(float32))
            finally:
                logging.disable(logging.NOTSET)
        else:
            shutil.copyfile(float32, tmp)  # the temporary folder may be on another file system
        _check_read_back(model, tmp, path, minimum=READ_BACK_COSINE[quantize])
