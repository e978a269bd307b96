"""Evaluation of P7 rankers (spec section 8): directional test, retrieval, baselines, ship gate, reports.

:func:`evaluate` is the function most users call (also ``p7keras.evaluate``); ``p7keras evaluate`` is
its command line. Modules: ``retrieval`` (blocked ranking and the protocols), ``baselines`` (DIRECT,
MEAN), ``directional`` (cos_next, cos_prev, margin, cos_anchor), ``gate`` (the ship gate),
``predictors`` (run directories, ``.keras`` files, SavedModels -> predictions and latency),
``evaluator`` (:func:`evaluate`), ``report`` (terminal table), ``html_page`` (HTML page), ``plots`` (its
SVG plots), ``gains`` (gain over DIRECT), ``examples`` (a sequence's context, true next chunk and top-k
bank chunks, readable), ``predict`` (``p7keras predict``: :func:`predict_examples`,
:func:`predict_passage`).
The retrieval scale probe is ``p7keras bench --what retrieval`` (:mod:`p7keras.bench.retrieval`).

Names are imported on first use: the numpy-only modules (``retrieval``, ``predictors`` ...) load
without Keras, which ``p7keras.data`` imports.

Example:

>>> from p7keras.data import make_synthetic_corpus
>>> from p7keras.evaluation import evaluate
>>> result = evaluate(None, make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16))
>>> sorted(result["baselines"]["DIRECT"])
['all', 'exclude-context', 'within-article']
"""

from __future__ import annotations

import importlib

# public name -> module that defines it
_EXPORTS = {
    "BASELINES": "baselines",
    "baseline_queries": "baselines",
    "directional_metrics": "directional",
    "evaluate": "evaluator",
    "check_gate_size": "gate",
    "ship_gate": "gate",
    "Predictor": "predictors",
    "load_predictor": "predictors",
    "load_predictors": "predictors",
    "resolve_model_path": "predictors",
    "format_examples": "examples",
    "sequence_examples": "examples",
    "predict_examples": "predict",
    "predict_passage": "predict",
    "format_table": "report",
    "render_html": "html_page",
    "write_html": "html_page",
    "PROTOCOLS": "retrieval",
    "rank_queries": "retrieval",
    "recall_curve": "retrieval",
    "retrieval_metrics": "retrieval",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'p7keras.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"p7keras.evaluation.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
