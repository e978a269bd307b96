"""The benchmarks of p7keras, one room: training, prediction, retrieval ranking and the input pipeline.

``p7keras bench --what {train,predict,retrieval,pipeline,all}`` is its command line; :func:`run` is the
same in Python. Each part is one module with one ``measure_*`` function returning its figures:

* ``train`` (:mod:`p7keras.bench.train`): ``model.fit`` sequences/s on random unit data; with
  ``prototype_rounds`` side by side with the plain-PyTorch reference of the prototype's step
  (:mod:`p7keras.bench.reference_torch`, a child process), alternating, with the ratio per round;
* ``predict`` (:mod:`p7keras.bench.predict`): single-sequence prediction latency (p50, p95) and batch
  sequences/s of the compiled path, and the same for the exported SavedModel served by TensorFlow;
* ``retrieval`` (:mod:`p7keras.bench.retrieval`): blocked ranking of N queries against a V-row bank;
* ``pipeline`` (:mod:`p7keras.bench.pipeline`): batches/s of the input pipeline alone.

:class:`BenchConfig` holds every size (default: the prototype-comparable bench configuration, D 768,
K 5, d_model 512, 4 layers, batch 64). This module imports no Keras; the parts load when they run.

Example:

    from p7keras.bench import format_report, run
    figures = run("all", dim=32, d_model=32, num_layers=1, batch_size=8, train_steps=3,
                  retrieval_queries=100, retrieval_bank=1000, pipeline_articles=4)
    print(format_report(figures))
"""

from __future__ import annotations

import resource
from collections.abc import Iterable

from p7keras.bench.config import ALL, DEFAULT_PARTS, PARTS, BenchConfig, resolve_parts

__all__ = ["ALL", "DEFAULT_PARTS", "PARTS", "BenchConfig", "benchmark", "compute_device", "format_report", "run"]


def run(what: str | Iterable[str] | None = None, config: BenchConfig | None = None, **sizes) -> dict:
    """Measure the parts named by ``what`` and return their figures with the configuration measured.

    ``train`` and ``predict`` share one model (built once; prediction latency does not depend on the
    weights).

    Args:
        what: a name of :data:`PARTS`, ``"all"``, several names, or ``None`` for train and predict.
        config: the sizes; default ``BenchConfig(**sizes)``.
        **sizes: fields of :class:`BenchConfig` (only without ``config``).

    Returns:
        ``{"backend", "parts", <the fields of config that size the parts>, <each part's figures>,
        "max_rss_mib"}``; with a model also ``"jit_compile"`` (as resolved), ``"parameters"`` and
        ``"bench_configuration"`` (whether the sizes are the prototype-comparable ones) and ``"device"``
        (:func:`compute_device`); with
        ``prototype_rounds`` also ``"prototype_train_seq_per_s"``, ``"train_vs_prototype"`` (medians;
        ``"train_seq_per_s"`` is then the median too), ``"train_rounds"`` and ``"prototype_reference"``.
    """
    import keras  # noqa: PLC0415 (the parts import Keras; keep this module light)

    parts = resolve_parts(what)
    if config is None:
        config = BenchConfig(**sizes)
    elif sizes:
        raise TypeError("pass either config or sizes, not both")
    result = {"backend": keras.backend.backend(), "parts": list(parts), **config.describe(parts)}
    if "train" in parts or "predict" in parts:
        from p7keras.bench.predict import measure_predict  # noqa: PLC0415
        from p7keras.bench.train import build_model, compare_prototype, measure_train  # noqa: PLC0415

        model = build_model(config)
        if "train" in parts:
            result.update(compare_prototype(model, config) if config.prototype_rounds
                          else measure_train(model, config))
        if "predict" in parts:
            result.update(measure_predict(model, config))
        result.update(jit_compile=model.jit_compile, parameters=model.count_params(),
                      bench_configuration=config.is_bench_configuration(), device=compute_device())
    if "retrieval" in parts:
        from p7keras.bench.retrieval import measure_retrieval  # noqa: PLC0415

        result.update(measure_retrieval(config))
    if "pipeline" in parts:
        from p7keras.bench.pipeline import measure_pipeline  # noqa: PLC0415

        result.update(measure_pipeline(config))
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def compute_device() -> str:
    """What the Keras backend computes on: ``"cpu"``, or ``"gpu (NAME)"`` with the GPU's name.

    Each backend puts Keras' work on its first GPU when it sees one (JAX's default device, PyTorch's
    ``cuda``, TensorFlow's ``GPU:0``); this asks that backend.

    Example:

        compute_device()   # 'cpu' here; 'gpu (NVIDIA H200)' on a machine with that GPU under JAX or PyTorch

    Returns:
        The device, for the report.
    """
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # noqa: PLC0415

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else f"gpu ({device.device_kind})"
    if backend == "torch":
        import torch  # noqa: PLC0415

        return f"gpu ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf  # noqa: PLC0415

    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu ({tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')})" if gpus else "cpu"


def benchmark(**sizes) -> dict:
    """Training throughput and single-sequence prediction latency (what ``p7keras bench`` measures by default).

    Args:
        **sizes: fields of :class:`BenchConfig`.

    Returns:
        See :func:`run`: ``backend``, ``train_seq_per_s``, ``predict_p50_ms``, ``predict_p95_ms`` and the
        configuration measured.

    Example:

        benchmark(dim=64, d_model=64, num_layers=1, train_steps=5)["train_seq_per_s"]
    """
    return run(DEFAULT_PARTS, **sizes)


def _waits(figures: dict) -> str:
    """The timed epochs' waits before their first batch, when one is long enough to matter (>= 0.5 s)."""
    waits = figures.get("train_epoch_waits_s", [])
    if not any(wait >= 0.5 for wait in waits):
        return ""
    return "   epoch start waits " + ", ".join(f"{wait:.1f}" for wait in waits) + " s"


def format_report(result: dict) -> str:
    """The figures of :func:`run` as the lines ``p7keras bench`` prints.

    Args:
        result: what :func:`run` returned.

    Returns:
        The report, one line per part after a line with the configuration measured.
    """
    r = result
    parts = r["parts"]
    config = f"backend {r['backend']}" + (f" on {r['device']}" if "device" in r else "")
    config += f"  D={r['dim']} K={r['context_length']}"
    if "d_model" in r:
        config += f" {r['model_type']} d_model={r['d_model']} layers={r['num_layers']} jit={r['jit_compile']}"
        if r.get("steps_per_execution", 1) != 1:
            config += f" steps_per_execution={r['steps_per_execution']}"
        if r.get("precision", "float32") != "float32":
            config += f" precision={r['precision']}"
        if r.get("quantize"):
            config += f" quantize={r['quantize']}"
    if "batch_size" in r:
        config += f" batch={r['batch_size']} M={r['hard_negatives']}"
    if r.get("bench_configuration"):
        config += "  (bench configuration, comparable with the prototype)"
    lines = [config]
    if "train" in parts:
        lines.append(f"train      {r['train_seq_per_s']:8.1f} sequences/s" + _waits(r))  # rounds: per round
        if "train_vs_prototype" in r:
            lines[-1] += (f"   prototype reference {r['prototype_train_seq_per_s']:.1f} sequences/s   "
                          f"ratio {r['train_vs_prototype']:.2f}x  (medians of {len(r['train_rounds'])} rounds)")
            reference = r["prototype_reference"]
            lines.append(f"           reference: plain PyTorch {reference['torch_version']} on {reference['device']}, "
                         f"{reference['threads']} threads, same sizes, data, steps and timing, alternating with p7keras in one process "
                         "tree")
            for i, one in enumerate(r["train_rounds"], 1):
                lines.append(f"           round {i}: p7keras {one['train_seq_per_s']:7.1f}   reference "
                             f"{one['prototype_train_seq_per_s']:7.1f}   ratio {one['train_vs_prototype']:.2f}x"
                             + _waits(one))
    if "predict" in parts:
        for prefix, label in (("predict", "predict   "), ("saved_model", "savedmodel"), ("onnx", "onnx      ")):
            if f"{prefix}_p50_ms" in r:
                lines.append(
                    f"{label} p50 {r[f'{prefix}_p50_ms']:.2f} ms   p95 {r[f'{prefix}_p95_ms']:.2f} ms  (1 sequence); "
                    f"{r[f'{prefix}_batch_seq_per_s']:.0f} sequences/s (batch {r['predict_batch']})"
                )
        if "predict_min_cosine_to_float32" in r:
            lines.append(f"           {r.get('quantize') or r['precision']}: predictions' smallest cosine to the float32 "
                         f"model's {r['predict_min_cosine_to_float32']:.5f} ({r['predict_batch']} random contexts)")
        if "onnx_min_cosine_to_float32" in r:
            lines.append(f"           onnx {r.get('quantize') or 'float32'}: predictions' smallest cosine to the float32 "
                         f"model's {r['onnx_min_cosine_to_float32']:.5f} ({r['predict_batch']} random contexts)")
    if "retrieval" in parts:
        lines.append(
            f"retrieval  {r['retrieval_queries_per_s']:8.1f} queries/s  ({r['retrieval_queries']} queries x "
            f"{r['retrieval_bank']} bank rows: all + exclude-context {r['retrieval_all_and_exclude_context_s']:.1f} s, "
            f"within-article {r['retrieval_within_article_s']:.1f} s; peak allocation "
            f"{r['retrieval_peak_alloc_mib']:.0f} MiB, bank {r['retrieval_bank_mib']:.0f} MiB)"
        )
    if "pipeline" in parts:
        lines.append(
            f"pipeline   {r['pipeline_batches_per_s']:8.1f} batches/s  ({r['pipeline_seq_per_s']:.0f} sequences/s, "
            f"{r['pipeline_batches']} batches)"
        )
    lines.append(f"process    max RSS {r['max_rss_mib']:.0f} MiB")
    return "\n".join(lines)
