"""Prediction speed: single-sequence latency and batch throughput of the compiled path, and the SavedModel's.

What ``p7keras.Predictor.from_model`` and ``p7keras evaluate`` run (``p7keras.models.inference``):
one sequence at a time (p50, p95 of ``predict_calls`` calls) and ``predict_batch`` sequences at once
(sequences/s, best of ``BATCH_ROUNDS``). With ``predict_saved_model`` the model is also exported
(``P7Ranker.export``; a TensorFlow child process on PyTorch) and timed the way ``p7keras evaluate`` loads it,
with TensorFlow alone: one sequence through its ``serve_one`` signature, batches through ``serving_default``.
With ``predict_onnx`` it is also written as ONNX (:func:`p7keras.models.onnx_export.write_onnx`, ONNX Runtime's
int8 with ``quantize="int8"``) and timed in ONNX Runtime, with its predictions' smallest cosine to the float32
model's.

Example:

    from p7keras.bench.config import BenchConfig
    from p7keras.bench.predict import measure_predict
    from p7keras.bench.train import build_model
    config = BenchConfig(dim=64, d_model=64, num_layers=1, predict_calls=20, predict_batch=64)
    measure_predict(build_model(config), config)  # {"predict_p50_ms": ..., "predict_batch_seq_per_s": ...}
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time

import numpy as np

from p7keras.bench.config import BenchConfig, random_unit
from p7keras.evaluation.predictors import Predictor, call_latency_ms, load_predictor
from p7keras.models import P7Ranker
from p7keras.models.precision import rebuilt

PREDICT_WARMUP_CALLS = 10
BATCH_ROUNDS = 3  # timed batch predictions after one untimed (compiling) call; the best is reported


def _speed(predictor: Predictor, one: np.ndarray, batch: np.ndarray, calls: int, prefix: str) -> dict[str, float]:
    latency = call_latency_ms(predictor.single_fn, one, calls, warmup=PREDICT_WARMUP_CALLS)
    predictor.predict(batch)
    seconds = []
    for _ in range(BATCH_ROUNDS):
        start = time.perf_counter()
        predictor.predict(batch)
        seconds.append(time.perf_counter() - start)
    return {f"{prefix}_p50_ms": latency["p50"], f"{prefix}_p95_ms": latency["p95"],
            f"{prefix}_batch_seq_per_s": len(batch) / min(seconds)}


def measure_predict(model: P7Ranker, config: BenchConfig) -> dict[str, float]:
    """Latency of one sequence and throughput of a batch, after a warm-up, in-process and as a SavedModel.

    Latency does not depend on the weights: an untrained model measures the same as a trained one.

    Args:
        model: a compiled model (see :func:`p7keras.bench.train.build_model`).
        config: K, D, ``predict_calls``, ``predict_batch``, ``predict_saved_model`` and the seed.

    Returns:
        ``{"predict_p50_ms", "predict_p95_ms", "predict_batch_seq_per_s"}``; with the SavedModel (when
        TensorFlow is installed) also ``"saved_model_p50_ms", "saved_model_p95_ms",
        "saved_model_batch_seq_per_s"``; with ``predict_onnx`` also ``"onnx_p50_ms", "onnx_p95_ms",
        "onnx_batch_seq_per_s", "onnx_min_cosine_to_float32"``.
    """
    rng = np.random.default_rng(config.seed)
    batch = random_unit(rng, (config.predict_batch, config.context_length, config.dim))
    one = batch[:1]
    predictor = Predictor.from_model(model, batch_size=config.predict_batch, quantize=config.quantize,
                                     compile_single=config.predict_compile_single)
    result = _speed(predictor, one, batch, config.predict_calls, "predict")
    reduced = config.quantize is not None or config.precision != "float32"
    float32 = reference = None
    if reduced or config.predict_onnx:  # the float32 model's predictions, to compare with
        float32 = model if model.dtype_policy.name == "float32" else rebuilt(model, "float32")
        reference = np.asarray(float32.predict(batch, batch_size=config.predict_batch, verbose=0), np.float32)
    if reduced:  # what the reduced precision costs
        result["predict_min_cosine_to_float32"] = float(np.min(np.sum(predictor.predict(batch) * reference, -1)))
    if config.predict_saved_model and importlib.util.find_spec("tensorflow") is not None:
        with tempfile.TemporaryDirectory() as folder:
            predictor.owner.export(folder)  # the model predicted above (a reduced-precision copy with quantize)
            saved = load_predictor(folder, batch_size=config.predict_batch)
            result.update(_speed(saved, one, batch, config.predict_calls, "saved_model"))
    if config.predict_onnx:
        from p7keras.models.onnx_export import write_onnx  # noqa: PLC0415 (only when asked)

        with tempfile.TemporaryDirectory() as folder:
            path = write_onnx(float32, os.path.join(folder, "model.onnx"), quantize=config.quantize)
            onnx = load_predictor(path, batch_size=config.predict_batch)
            result.update(_speed(onnx, one, batch, config.predict_calls, "onnx"))
            result["onnx_min_cosine_to_float32"] = float(np.min(np.sum(onnx.predict(batch) * reference, -1)))
    return result
