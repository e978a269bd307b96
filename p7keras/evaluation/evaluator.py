"""``evaluate()``: the baselines and every model on one sequence set, as one JSON-ready comparison.

Example:

>>> from p7keras.data import make_synthetic_corpus
>>> corpus = make_synthetic_corpus(num_articles=30, chunks_per_article=12, dim=16)
>>> result = evaluate(lambda contexts: contexts[:, -1], corpus, strict_gate=False, latency_calls=3)
>>> result["models"]["<lambda>"]["retrieval"] == result["baselines"]["DIRECT"]
True
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from p7keras.data import ChunkCorpus, SequenceFile, SequenceSet, load_sequences
from p7keras.data.splits import ALL
from p7keras.evaluation.baselines import DIRECT, MEAN, baseline_predictors, baseline_queries
from p7keras.evaluation.battery import battery
from p7keras.evaluation.directional import DIRECTIONAL_NAMES, directional_cosines
from p7keras.evaluation.examples import best_and_worst, sequence_examples
from p7keras.evaluation.gate import GATE_PROTOCOL, check_gate_size, ship_gate
from p7keras.evaluation.predictors import DEFAULT_BATCH_SIZE, LATENCY_CALLS, Predictor, load_predictors
from p7keras.evaluation.retrieval import PROTOCOLS, WITHIN_ARTICLE, rank_queries, recall_curve, retrieval_metrics
from p7keras.evaluation.uncertainty import (
    ARTICLE,
    DEFAULT_BLOCK,
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    clustered_gains,
    clusters,
    sequence_scores,
)
from p7keras.evaluation.vectors import blocks
from p7keras.verdict import quality_criteria

CURVE_MAX_K = 20
EXAMPLES = 3  # best and worst sequences of each model kept for the report
EXAMPLE_TOP_K = 5  # bank chunks shown per query in them
MARGIN_HISTOGRAM_BINS = 40
NO_ARTICLE_IDS = "the data has no article ids (upstream sequence file): within-article retrieval is unavailable"

Data = str | os.PathLike | ChunkCorpus | SequenceFile | SequenceSet


# ------------------------------------------------------------------------------------ checks
def _context_length(predictors: list[Predictor], context_length: int | None) -> int | None:
    """The K of the comparison: the one asked for, else the models' common K (None: the data's)."""
    known = {p.name: p.context_length for p in predictors if p.context_length is not None}
    if context_length is not None:
        for name, k in known.items():
            if k != context_length:
                raise ValueError(
                    f"model {name} was built for context length K={k}, but the evaluation asks for "
                    f"K={context_length} (--context)"
                )
        return context_length
    if len(set(known.values())) > 1:
        listed = ", ".join(f"{name}: K={k}" for name, k in known.items())
        raise ValueError(f"models compared together must share the context length K; got {listed}")
    return next(iter(known.values()), None)


def check_models_fit(predictors: list[Predictor], sequences: SequenceSet) -> None:
    """Raise unless every model's K and D (where known) match the data's.

    Args:
        predictors: the models.
        sequences: the data.

    Raises:
        ValueError: naming the model, what differs and both values.
    """
    for p in predictors:
        for what, theirs, ours in (("context length K", p.context_length, sequences.context_length),
                                   ("embedding width D", p.input_dim, sequences.dim)):
            if theirs is not None and theirs != ours:
                raise ValueError(
                    f"model {p.name} ({p.source}) expects {what}={theirs}, but the data "
                    f"{sequences.source} (split {sequences.split}) has {what}={ours}"
                )


def _load(data: Data, context_length: int | None, split: str, seed: int) -> SequenceSet:
    if isinstance(data, SequenceSet):
        if context_length is not None and context_length != data.context_length:
            raise ValueError(
                f"the sequence set {data.source} has context length K={data.context_length}, but the "
                f"evaluation asks for K={context_length}"
            )
        return data
    if data is None:
        raise ValueError("evaluate needs data: a corpus or sequence file path, a ChunkCorpus or a SequenceSet")
    return load_sequences(data, context_length, split, seed)


def _subsample(sequences: SequenceSet, max_samples: int | None, seed: int) -> SequenceSet:
    """At most ``max_samples`` sequences (a seeded random subset, in order); the bank is unchanged."""
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    if max_samples is None or max_samples >= len(sequences):
        return sequences
    keep = np.sort(np.random.default_rng(seed).choice(len(sequences), max_samples, replace=False))
    return dataclasses.replace(
        sequences,
        context_rows=sequences.context_rows[keep],
        target_rows=sequences.target_rows[keep],
        article_ids=None if sequences.article_ids is None else sequences.article_ids[keep],
    )


# ----------------------------------------------------------------------------------- scoring
def _score(queries: np.ndarray, sequences: SequenceSet, curve_max_k: int) -> tuple[dict, dict, dict]:
    """(retrieval metrics, recall curve, per-sequence ranks) per protocol of one query set."""
    ranks = rank_queries(
        queries, sequences.bank, sequences.target_rows, sequences.context_rows, sequences.bank_article_ids
    )
    metrics = {protocol: retrieval_metrics(ranks[protocol]) for protocol in PROTOCOLS}
    curves = {protocol: recall_curve(ranks[protocol], curve_max_k) for protocol in PROTOCOLS}
    return metrics, curves, ranks


def _examples(name: str, predictions: np.ndarray, ranks: np.ndarray, sequences: SequenceSet, count: int) -> dict:
    """The model's ``count`` best and worst sequences (by the rank of the true next chunk), beside DIRECT."""
    best, worst = best_and_worst(ranks, count)
    chosen = np.concatenate([best, worst])
    queries = {name: predictions[chosen], DIRECT: sequences.bank[sequences.context_rows[chosen, -1]]}
    shown = sequence_examples(sequences, chosen, queries, EXAMPLE_TOP_K)
    return {"best": shown[: len(best)], "worst": shown[len(best):], "top_k": EXAMPLE_TOP_K}


def _directional(queries: np.ndarray, sequences: SequenceSet) -> tuple[dict, dict[str, np.ndarray]]:
    """(mean directional figures, their per-sequence values) of one query set."""
    cos = directional_cosines(queries, sequences.bank, sequences.target_rows, sequences.context_rows)
    return {name: float(cos[name].mean()) for name in DIRECTIONAL_NAMES}, cos


def _uncertainty_section(unit: str, labels: np.ndarray, resamples: int, level: float, seed: int, block: int) -> dict:
    clustered = int(labels.max()) + 1 if labels.size else 0
    note = (f"{level:.0%} intervals: paired bootstrap over {clustered} articles ({resamples} resamples)"
            if unit == ARTICLE else
            f"{level:.0%} intervals: the data has no article ids, so the bootstrap resamples {clustered} blocks of "
            f"{block} consecutive sequences ({resamples} resamples)")
    return {"unit": unit, "clusters": clustered, "resamples": resamples, "level": level, "seed": seed,
            "block": None if unit == ARTICLE else block, "note": note}


def gains(model: dict, baselines: dict[str, dict], labels: np.ndarray, resamples: int = DEFAULT_RESAMPLES,
          level: float = DEFAULT_LEVEL, seed: int = 0) -> dict:
    """Paired gains of one query set over each baseline, per protocol, with clustered intervals.

    Args:
        model: ``{"ranks": {protocol: (N,) ranks or None}, "cosines": {"margin": (N,), ...}}``.
        baselines: ``{name: the same}``.
        labels: ``(N,)`` resampling cluster of each sequence (:func:`p7keras.evaluation.uncertainty.clusters`).
        resamples, level, seed: the bootstrap's.

    Returns:
        ``{baseline: {protocol: {metric: {"gain", "low", "high", "half_width", "p_value", "judgement"}}}}``;
        the ``all`` protocol's metrics include ``margin``.
    """
    out = {}
    for name, base in baselines.items():
        out[name] = {}
        for protocol in PROTOCOLS:
            if model["ranks"][protocol] is None:
                continue
            with_margin = protocol == GATE_PROTOCOL
            ours = sequence_scores(model["ranks"][protocol], model["cosines"]["margin"] if with_margin else None)
            theirs = sequence_scores(base["ranks"][protocol], base["cosines"]["margin"] if with_margin else None)
            out[name][protocol] = clustered_gains({m: ours[m] - theirs[m] for m in ours}, labels,
                                                  resamples=resamples, level=level, seed=seed, baseline=name)
    return out


def learned_gain(model_gains: dict, metric: str = "R@5") -> dict:
    """The headline judgement: the gain over DIRECT in ``metric`` under ``all``, and what the split resolves.

    Returns:
        ``{"judgement", "metric", "protocol", "gain", "low", "high", "resolution"}`` (``resolution``: the
        interval's half-width, the smallest gain this split can tell from noise).
    """
    row = model_gains[DIRECT][GATE_PROTOCOL][metric]
    return {"judgement": row["judgement"], "metric": metric, "protocol": GATE_PROTOCOL, "gain": row["gain"],
            "low": row["low"], "high": row["high"], "resolution": row["half_width"]}


def _per_sequence(sequences: SequenceSet, kept: dict[str, dict]) -> dict:
    """Every sequence's ranks and cosines per query set, JSON-ready (``--per-sequence``)."""
    def listed(values):
        return None if values is None else np.asarray(values).tolist()

    return {
        "article_ids": listed(sequences.article_ids),
        "target_rows": listed(sequences.target_rows),
        "queries": {name: {"ranks": {p: listed(r) for p, r in q["ranks"].items()},
                           **{c: np.round(v, 6).tolist() for c, v in q["cosines"].items()}}
                    for name, q in kept.items()},
    }


def _predict(predictor: Predictor, sequences: SequenceSet, batch_size: int) -> tuple[np.ndarray, float]:
    """All predictions (contexts gathered block by block) and the throughput in sequences/s.

    One batch is predicted first, untimed, so tracing and compilation do not count.
    """
    n, rows = len(sequences), sequences.context_rows
    predictor.predict(sequences.bank[rows[: min(batch_size, n)]])
    out = np.empty((n, sequences.dim), dtype=np.float32)
    seconds = 0.0
    for part in blocks(n):
        contexts = sequences.bank[rows[part]]
        start = time.perf_counter()
        out[part] = predictor.predict(contexts)
        seconds += time.perf_counter() - start
    return out, n / max(seconds, 1e-9)


def _histograms(margins: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per-model margin histograms on shared bin edges."""
    if not margins:
        return {}
    values = np.concatenate(list(margins.values()))
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-6:
        low, high = low - 0.05, high + 0.05
    edges = np.linspace(low, high, MARGIN_HISTOGRAM_BINS + 1)
    return {
        name: {"edges": edges.tolist(), "counts": np.histogram(m, bins=edges)[0].tolist()}
        for name, m in margins.items()
    }


def _data_section(sequences: SequenceSet, total: int, seed: int, max_samples: int | None) -> dict:
    import keras  # noqa: PLC0415 (already imported by p7keras.data; only for the backend's name)

    ids = sequences.bank_article_ids
    return {
        "source": str(sequences.source),
        "split": sequences.split,
        "seed": seed,
        "context_length": sequences.context_length,
        "dim": sequences.dim,
        "sequences": total,
        "evaluated_sequences": len(sequences),
        "max_samples": max_samples,
        "bank_size": int(len(sequences.bank)),
        "articles": None if ids is None else int(np.unique(ids).size),
        "article_ids": ids is not None,
        "protocols": list(PROTOCOLS),
        "unavailable": {} if ids is not None else {WITHIN_ARTICLE: NO_ARTICLE_IDS},
        "gate_protocol": GATE_PROTOCOL,
        "backend": keras.backend.backend(),
    }


# ------------------------------------------------------------------------------------ public
def evaluate(
    model_or_path,
    data: Data,
    *,
    split: str = ALL,
    context_length: int | None = None,
    max_samples: int | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    latency_calls: int = LATENCY_CALLS,
    strict_gate: bool = True,
    curve_max_k: int = CURVE_MAX_K,
    examples: int = EXAMPLES,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    block: int = DEFAULT_BLOCK,
    per_sequence: bool = False,
    diagnostics: bool = True,
    quantize: str | None = None,
) -> dict:
    """Evaluate models (or only the baselines) on one split: directional test, retrieval, ship gate.

    Example:

        ``result = p7keras.evaluate("saved_models/p7_20250101-120000", "corpus.npz", split="ood")``
        ``result["models"]["p7_20250101-120000"]["ship_gate"]["passed"]``

    Args:
        model_or_path: ``None`` (baselines only), a run directory / ``.keras`` file / SavedModel
            directory, a ``keras.Model``, a callable ``contexts (B, K, D) -> (B, D)``, or a list or
            ``{name: model}`` dict of them (one comparison).
        data: a chunk corpus or sequence file path, a ``ChunkCorpus``/``SequenceFile``, or a
            ``SequenceSet`` (then ``split`` and ``seed`` do not apply).
        split: ``all``, ``train``, ``val`` or ``ood`` (by article, as in training, for ``seed``).
        context_length: K; default the models' K (they must agree), else the data's default.
        max_samples: evaluate at most this many sequences (a seeded random subset; the bank stays
            the whole split).
        seed: the split seed (and the subset's).
        batch_size: prediction batch size.
        latency_calls: timed single-sequence predictions per model.
        strict_gate: raise when models are evaluated on fewer than 200 sequences (the ship gate
            cannot be decided); ``False`` reports ``passed = None`` instead.
        curve_max_k: the largest k of the recall curves.
        examples: how many best and worst sequences of each model (by the rank of the true next chunk
            under ``all``) to keep for the report, with their texts when the corpus has them (0: none).
        resamples: bootstrap resamples of the gains' intervals (seeded with ``seed``).
        level: the intervals' coverage (0.95).
        block: without article ids, the bootstrap resamples blocks of this many consecutive sequences.
        per_sequence: also return every sequence's ranks and cosines per query set (``"per_sequence"``).
        diagnostics: run the diagnostic battery (:mod:`p7keras.evaluation.battery`) for every model and
            for DIRECT and MEAN (``"diagnostics"``: ``{name: battery}``).
        quantize: evaluate a reduced-precision copy of each Keras model, ``"int8"`` or ``"bfloat16"``
            (:func:`p7keras.models.precision.reduced_precision`; the names get ``@int8``/``@bfloat16``).

    Returns:
        ``{"data": {...}, "baselines": {"DIRECT"|"MEAN": {protocol: {"R@1", "R@5", "R@10", "MRR@10"}
        or None}}, "models": {name: {"directional", "retrieval", "ship_gate", "latency_ms",
        "throughput_seq_per_s", "examples": {"best", "worst", "top_k"}, ...}}, "baseline_directional":
        {...}, "curves": {...}, "uncertainty": {"unit", "clusters", "resamples", "level", "note", ...}}``;
        each model also has ``"gains"`` (:func:`gains`: over DIRECT and MEAN, per protocol, with intervals)
        and ``"learned_gain"`` (:func:`learned_gain`); the examples as
        :func:`p7keras.evaluation.examples.sequence_examples` makes them;
        ``within-article`` is ``None`` for data without article ids.

    Raises:
        FileNotFoundError: missing data or model paths.
        ValueError: unusable data or models, K or D mismatches, too few sequences for the gate.
    """
    predictors = load_predictors(model_or_path, batch_size, quantize)
    sequences = _load(data, _context_length(predictors, context_length), split, seed)
    check_models_fit(predictors, sequences)
    total = len(sequences)
    sequences = _subsample(sequences, max_samples, seed)
    n = len(sequences)
    if predictors and strict_gate:
        check_gate_size(n, f"{sequences.source} (split {sequences.split})")

    labels, unit = clusters(n, sequences.article_ids, block)
    result = {
        "data": _data_section(sequences, total, seed, max_samples),
        "uncertainty": _uncertainty_section(unit, labels, resamples, level, seed, block),
        "baselines": {},
        "models": {},
        "baseline_directional": {},
        "curves": {"k": list(range(1, curve_max_k + 1)), "baselines": {}, "models": {}},
    }
    kept = {}  # name -> {"ranks": {protocol: (N,)}, "cosines": {name: (N,)}}
    for name, queries in baseline_queries(sequences.bank, sequences.context_rows).items():
        result["baselines"][name], result["curves"]["baselines"][name], ranks = _score(queries, sequences, curve_max_k)
        result["baseline_directional"][name], cosines = _directional(queries, sequences)
        kept[name] = {"ranks": ranks, "cosines": cosines}
    baselines = {name: kept[name] for name in (DIRECT, MEAN)}
    direct_all = result["baselines"][DIRECT][GATE_PROTOCOL]

    margins = {}
    one_context = sequences.bank[sequences.context_rows[:1]]
    for predictor in predictors:
        predictions, throughput = _predict(predictor, sequences, batch_size)
        retrieval, curves, ranks = _score(predictions, sequences, curve_max_k)
        directional, cosines = _directional(predictions, sequences)
        kept[predictor.name] = {"ranks": ranks, "cosines": cosines}
        margins[predictor.name] = cosines["margin"]
        model_gains = gains(kept[predictor.name], baselines, labels, resamples, level, seed)
        result["curves"]["models"][predictor.name] = curves
        result["models"][predictor.name] = {
            "directional": directional,
            "criteria": quality_criteria(directional),
            "retrieval": retrieval,
            "ship_gate": ship_gate(retrieval[GATE_PROTOCOL], direct_all, n, strict=strict_gate),
            "gains": model_gains,
            "learned_gain": learned_gain(model_gains),
            "latency_ms": predictor.latency_ms(one_context, latency_calls),
            "throughput_seq_per_s": float(throughput),
            "kind": predictor.kind,
            "source": predictor.source,
        }
        if examples:
            result["models"][predictor.name]["examples"] = _examples(
                predictor.name, predictions, ranks[GATE_PROTOCOL], sequences, examples)
    if diagnostics:
        options = {"resamples": resamples, "level": level, "seed": seed}
        predicts = {**baseline_predictors(), **{p.name: p.predict for p in predictors}}
        result["diagnostics"] = {name: battery(sequences, predict, labels, ranks_all=kept[name]["ranks"][GATE_PROTOCOL],
                                               **options)
                                 for name, predict in predicts.items()}
    if per_sequence:
        result["per_sequence"] = _per_sequence(sequences, kept)
    for name, histogram in _histograms(margins).items():
        result["models"][name]["margin_histogram"] = histogram
    return result
