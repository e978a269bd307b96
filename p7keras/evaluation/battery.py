"""The diagnostic battery of one query set with article-clustered intervals on every mean.

:func:`p7keras.evaluation.diagnostics.run_diagnostics` computes the five diagnostics and keeps their
per-sequence values; this room attaches to each mean its 95% interval by a bootstrap over the articles
(:mod:`p7keras.evaluation.uncertainty`), and to each order ablation the paired interval of its change,
then drops the per-sequence arrays so the result is JSON-ready. :func:`p7keras.evaluation.evaluate`
runs it for every model and for DIRECT and MEAN; the report draws what it returns.

Example:

>>> import numpy as np
>>> from p7keras.data import make_synthetic_corpus, load_sequences
>>> from p7keras.evaluation.uncertainty import clusters
>>> seqs = load_sequences(make_synthetic_corpus(num_articles=12, chunks_per_article=10, dim=8), 3)
>>> labels = clusters(len(seqs), seqs.article_ids)[0]
>>> out = battery(seqs, lambda contexts: contexts[:, -1], labels, resamples=50)
>>> out["offset_sweep"]["mean_cos"][2], out["offset_sweep"]["low"][2], out["offset_sweep"]["high"][2]
(1.0, 1.0, 1.0)
>>> out["ablations"]["ablations"]["repeat_last"]["delta_cos_target_interval"]
[0.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from p7keras.data.sequences import SequenceSet
from p7keras.evaluation.diagnostics import DEFAULT_BINS, DEFAULT_HORIZON, RECALL_SHOWN, Predict, run_diagnostics
from p7keras.evaluation.uncertainty import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    clustered_gains,
    clustered_means,
    sequence_scores,
)

_CUTOFF = int(RECALL_SHOWN.removeprefix("R@"))


def _attach(section: dict, means: dict, names: list[str]) -> None:
    """Adds ``low`` and ``high`` lists (one per entry of ``names``) beside a section's ``mean_cos``."""
    section["low"] = [means[name]["low"] for name in names]
    section["high"] = [means[name]["high"] for name in names]


def battery(
    sequences: SequenceSet,
    predict: Predict,
    labels: np.ndarray,
    *,
    ranks_all: np.ndarray | None = None,
    horizon: int = DEFAULT_HORIZON,
    bins: int = DEFAULT_BINS,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> dict:
    """The battery of one predictor, every mean with its clustered interval.

    Args:
        sequences: the evaluated sequences.
        predict: ``(n, K, D) -> (n, D)`` (a model's prediction, or a baseline's).
        labels: ``(N,)`` resampling cluster of each sequence
            (:func:`p7keras.evaluation.uncertainty.clusters`).
        ranks_all: the predictions' ranks under ``all`` when already known.
        horizon, bins: the rollout's steps and the coherence bins asked for.
        resamples, level, seed: the bootstrap's.

    Returns:
        :func:`~p7keras.evaluation.diagnostics.run_diagnostics`'s result without ``per_sequence``, plus:
        ``offset_sweep`` and ``rollout`` ``low``/``high`` lists beside ``mean_cos``; ``within_article``
        ``intervals`` ``{metric: [low, high]}``; each ablation ``delta_cos_target_interval`` and
        ``delta_R@5_interval`` (paired, over the articles); each coherence bin ``cos_target_interval`` and
        ``R@5_interval``.
    """
    result = run_diagnostics(sequences, predict, horizon=horizon, bins=bins, seed=seed, ranks_all=ranks_all)
    per = result.pop("per_sequence")
    options = {"resamples": resamples, "level": level, "seed": seed}

    sweep = result["offset_sweep"]
    names = [f"offset_sweep/{o:+d}" for o in sweep["offsets"]]
    _attach(sweep, clustered_means({n: per[n] for n in names}, labels, **options), names)

    steps = result["rollout"]
    names = [f"rollout/{h}" for h in steps["steps"]]
    _attach(steps, clustered_means({n: per[n] for n in names}, labels, **options), names)

    if result["within_article"].get("available"):
        means = clustered_means(sequence_scores(per["within_article/rank"]), labels, **options)
        result["within_article"]["intervals"] = {m: [v["low"], v["high"]] for m, v in means.items()}

    hit = (per["rank_all"] <= _CUTOFF).astype(np.float64)
    ablations = result["ablations"]["ablations"]
    differences = {}
    for name in ablations:
        differences[f"{name}/cos"] = per[f"ablations/{name}/cos_target"] - per["cos_target"]
        differences[f"{name}/hit"] = (per[f"ablations/{name}/rank_all"] <= _CUTOFF) - hit
    if differences:
        paired = clustered_gains(differences, labels, **options)
        for name, figures in ablations.items():
            figures["delta_cos_target_interval"] = [paired[f"{name}/cos"]["low"], paired[f"{name}/cos"]["high"]]
            figures[f"delta_{RECALL_SHOWN}_interval"] = [paired[f"{name}/hit"]["low"], paired[f"{name}/hit"]["high"]]

    which = per["coherence/bin"]
    columns = {}
    for figures in result["coherence"]["bins"]:
        inside = which == figures["bin"]
        columns[f"{figures['bin']}/cos"] = np.where(inside, per["cos_target"], np.nan)
        columns[f"{figures['bin']}/hit"] = np.where(inside, hit, np.nan)
    means = clustered_means(columns, labels, **options)
    for figures in result["coherence"]["bins"]:
        figures["cos_target_interval"] = [means[f"{figures['bin']}/cos"][k] for k in ("low", "high")]
        figures[f"{RECALL_SHOWN}_interval"] = [means[f"{figures['bin']}/hit"][k] for k in ("low", "high")]
    return result
