"""Saving, loading and SavedModel export of the P7 rankers, on any backend.

* :func:`load_model`: a ``.keras`` file, with p7keras' classes registered (importing this room registers them).
* :func:`write_saved_model`: a ranker's serving SavedModel (what ``P7Ranker.export()`` writes).
* :func:`export_saved_model`: the same from a saved ``.keras`` file.

A ranker's SavedModel serves the signature ``serving_default`` (and the endpoint ``serve``): input ``context``
``(None, K, D)`` float32 -> output ``prediction`` ``(None, D)``; and the signature and endpoint ``serve_one``, the
same for one sequence ``(1, K, D)``, which TensorFlow compiles with XLA when the model computes in float32 (one
sequence in 4.8-5.9 ms against 6.8-8.1 through ``serving_default`` on a 2-core AMX Xeon, ``p7keras bench``, README;
a mixed-precision model's one-sequence call was slower under XLA there, so it runs as a graph).
``p7keras.load_predictor`` predicts one sequence through ``serve_one`` when the SavedModel has it. TensorFlow and
JAX write it in-process (Keras' ``ExportArchive``). PyTorch cannot write a SavedModel, so there the model's
``.keras`` file is exported by a ``KERAS_BACKEND=tensorflow`` child process (the backends agree to 1e-5, see
``tests/test_parity.py``).

Example:

    model = p7keras.load_model("saved_models/run/best.keras")
    export_saved_model("saved_models/run/final.keras", "saved_models/run/export")
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import keras

from p7keras.config import CONTEXT_KEY, PREDICTION_KEY, SERVE_ENDPOINT, SERVE_ONE_ENDPOINT

# What the PyTorch export's TensorFlow child process runs, with the .keras path and the folder as arguments.
_CHILD_EXPORT = "import sys; from p7keras.models.saving import export_saved_model; export_saved_model(*sys.argv[1:])"


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """Loads a ``.keras`` file written by p7keras (or any Keras model), with p7keras' classes registered.

    Example:

        model = p7keras.load_model("saved_models/p7_20260101-120000/best.keras")
        predictions = model.predict(contexts)

    Args:
        path: the ``.keras`` file.
        compile: restore the compiled state (optimizer, loss settings) too.

    Returns:
        The model, loaded with Keras' ``safe_mode`` (no arbitrary code is run).
    """
    return keras.saving.load_model(path, compile=compile, safe_mode=True)


def write_saved_model(model: keras.Model, filepath: str | os.PathLike, verbose: bool = False) -> None:
    """Writes a built ranker's serving SavedModel: ``context`` ``(None, K, D)`` -> ``{"prediction": (None, D)}``,
    and ``serve_one`` for one sequence (module docstring).

    Example:

        write_saved_model(model, "run/export")
        tf.saved_model.load("run/export").signatures["serving_default"](context=contexts)["prediction"]

    Args:
        model: a built ranker (``context_length`` and ``input_dim`` set).
        filepath: the SavedModel folder to write.
        verbose: print Keras' export summary.
    """
    if keras.backend.backend() == "torch":
        with tempfile.TemporaryDirectory() as folder:
            saved = os.path.join(folder, "model.keras")
            model.save(saved)
            export_saved_model(saved, filepath)
        return
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only to export)

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((None, model.context_length, model.input_dim), tf.float32, name=CONTEXT_KEY)

    def serve(context):
        return {PREDICTION_KEY: model(context, training=False)}

    archive.add_endpoint(SERVE_ENDPOINT, serve, input_signature=[spec])
    one = tf.TensorSpec((1, model.context_length, model.input_dim), tf.float32, name=CONTEXT_KEY)
    xla = keras.backend.backend() == "tensorflow" and model.dtype_policy.compute_dtype == "float32"
    archive.add_endpoint(SERVE_ONE_ENDPOINT, tf.function(serve, jit_compile=True) if xla else serve,
                         input_signature=[one])
    archive.write_out(os.fspath(filepath), verbose=bool(verbose))


def export_saved_model(keras_path: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """Exports a saved ``.keras`` ranker as a TensorFlow SavedModel serving ``(None, K, D)``.

    Example:

        export_saved_model("saved_models/run/final.keras", "saved_models/run/export")

    Args:
        keras_path: the ``.keras`` file.
        out_dir: the SavedModel folder to write.

    Returns:
        ``out_dir`` as a string.

    Raises:
        RuntimeError: when the export child process (PyTorch) fails; its last output lines are included.
    """
    keras_path, out_dir = os.fspath(keras_path), os.fspath(out_dir)
    if keras.backend.backend() in ("tensorflow", "jax"):
        load_model(keras_path).export(out_dir, verbose=False)
        return out_dir
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _CHILD_EXPORT, keras_path, out_dir], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"SavedModel export of {keras_path} failed:\n{tail}")
    return out_dir
