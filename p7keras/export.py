"""SavedModel export of a trained ranker, from any backend.

TensorFlow and JAX export in-process (``model.export``). PyTorch cannot write a SavedModel, so the
model's ``.keras`` file is exported by a TensorFlow-backend subprocess (the backends agree to 1e-5, see
``tests/test_parity.py``). A ranker's SavedModel serves the signature ``serving_default``: input
``context`` ``(None, K, D)`` float32 -> output ``prediction`` ``(None, D)`` (``P7Ranker.export``).

Example:

    ``export_saved_model("saved_models/run/final.keras", "saved_models/run/export")``

Command line (what the subprocess runs): ``python -m p7keras.export MODEL.keras OUT_DIR``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys


def export_problems(export: bool = True) -> list[str]:
    """Why a SavedModel export cannot be written here (checked before a run starts); empty when it can.

    Args:
        export: whether the run will export.

    Returns:
        One line per problem: TensorFlow missing (a JAX or PyTorch install on a GPU image, say).
    """
    if export and importlib.util.find_spec("tensorflow") is None:
        return ["the SavedModel export needs TensorFlow, which is not installed here: install it or pass "
                "--no-export"]
    return []


def export_saved_model(keras_path: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """Exports a saved ``.keras`` ranker as a TensorFlow SavedModel serving ``(None, K, D)``.

    Args:
        keras_path: the ``.keras`` file.
        out_dir: the SavedModel folder to write.

    Returns:
        ``out_dir`` as a string.

    Raises:
        RuntimeError: when the export subprocess fails (its last output lines are included).
    """
    import keras  # noqa: PLC0415

    from p7keras.models import load_model  # noqa: PLC0415 (registers p7keras' classes)

    keras_path, out_dir = os.fspath(keras_path), os.fspath(out_dir)
    if keras.backend.backend() in ("tensorflow", "jax"):
        load_model(keras_path).export(out_dir, verbose=False)
        return out_dir
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "p7keras.export", keras_path, out_dir], env=env, capture_output=True, text=True
    )
    if done.returncode:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"SavedModel export of {keras_path} failed:\n{tail}")
    return out_dir


if __name__ == "__main__":
    export_saved_model(sys.argv[1], sys.argv[2])
