"""How sure is a gain? Paired, article-clustered bootstrap intervals and permutation p-values.

Every gain p7keras reports (a model over DIRECT or MEAN, a trained epoch over the starting model, one
trial over another) is a mean over sequences of a *paired* difference: the same sequence scored by
both. Sequences of one article are strongly correlated (their windows overlap by K − 1 chunks), so
the resampling unit is the **article**: each bootstrap resample draws articles with replacement and
takes the mean difference over all their sequences (a ratio estimator: articles have different
lengths). Sequence files without article ids fall back to blocks of :data:`DEFAULT_BLOCK`
consecutive sequences (windows of one article are consecutive there too), and the result says so.

The p-value is a paired permutation test: under "no difference" the sign of each article's summed
difference is arbitrary, so the observed total is compared with the totals of random sign flips.

Per sequence, a retrieval metric is a score: ``R@k`` is 1 when the target's rank is ≤ k, ``MRR@10``
is 1/rank when the rank is ≤ 10 (else 0); the mean of the scores is the usual metric, so a gain's
point estimate is exactly the difference of the reported metrics.

Example:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> articles = np.repeat(np.arange(40), 25)                  # 40 articles of 25 sequences
>>> base = rng.random(1000)
>>> result = paired_gain(base + 0.05, base, articles, resamples=500)
>>> round(result["gain"], 6), result["low"] > 0, result["judgement"]
(0.05, True, 'learned gain: yes')
>>> paired_gain(base, base, articles, resamples=500)["low"]   # identical scores: [0, 0]
0.0
"""

from __future__ import annotations

import numpy as np

from p7keras.evaluation.retrieval import MRR_CUTOFF, RECALL_CUTOFFS

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
DEFAULT_BLOCK = 32  # consecutive sequences per resampling block when the data has no article ids
GAIN_METRICS = (*(f"R@{k}" for k in RECALL_CUTOFFS), f"MRR@{MRR_CUTOFF}")
ARTICLE, BLOCK = "article", "block"
YES, NO_EVIDENCE, WORSE = "learned gain: yes", "no evidence of a gain", "worse than DIRECT"
_MAX_DRAWS = 4_000_000  # resamples x clusters drawn at once (bounds memory on large corpora)
_TIE = 1e-12  # absorbs float rounding when comparing permuted totals with the observed one


def sequence_scores(ranks: np.ndarray, margins: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-sequence scores whose means are the retrieval metrics (and the margin when given).

    Example:

    >>> {k: v.tolist() for k, v in sequence_scores(np.array([1, 4, 12])).items()}
    {'R@1': [1.0, 0.0, 0.0], 'R@5': [1.0, 1.0, 0.0], 'R@10': [1.0, 1.0, 0.0], 'MRR@10': [1.0, 0.25, 0.0]}

    Args:
        ranks: ``(N,)`` rank of each sequence's target (1 = best).
        margins: ``(N,)`` per-sequence margins (cos_next − cos_prev), or ``None``.

    Returns:
        ``{"R@1", "R@5", "R@10", "MRR@10"[, "margin"]: (N,) float64}``.
    """
    ranks = np.asarray(ranks)
    scores = {f"R@{k}": (ranks <= k).astype(np.float64) for k in RECALL_CUTOFFS}
    scores[f"MRR@{MRR_CUTOFF}"] = np.where(ranks <= MRR_CUTOFF, 1.0 / np.maximum(ranks, 1), 0.0)
    if margins is not None:
        scores["margin"] = np.asarray(margins, dtype=np.float64)
    return scores


def clusters(num_sequences: int, article_ids: np.ndarray | None = None,
             block: int = DEFAULT_BLOCK) -> tuple[np.ndarray, str]:
    """The resampling unit of each sequence: its article, else its block of consecutive sequences.

    Example:

    >>> clusters(5, block=2)
    (array([0, 0, 1, 1, 2]), 'block')

    Args:
        num_sequences: N.
        article_ids: ``(N,)`` article of each sequence, or ``None``.
        block: sequences per block when there are no article ids.

    Returns:
        ``((N,) int64 cluster labels 0..C−1, "article" or "block")``.
    """
    if article_ids is not None:
        ids = np.asarray(article_ids)
        if ids.shape != (num_sequences,):
            raise ValueError(f"article_ids must have shape ({num_sequences},), got {ids.shape}")
        return np.unique(ids, return_inverse=True)[1].astype(np.int64), ARTICLE
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    return np.arange(num_sequences, dtype=np.int64) // block, BLOCK


def judgement(low: float, high: float, baseline: str = "DIRECT") -> str:
    """What an interval says: a gain (low > 0), worse than the baseline (high < 0), or no evidence.

    Example:

    >>> judgement(0.002, 0.02), judgement(-0.01, 0.02), judgement(-0.03, -0.005, "MEAN")
    ('learned gain: yes', 'no evidence of a gain', 'worse than MEAN')
    """
    if low > 0:
        return YES
    if high < 0:
        return WORSE.replace("DIRECT", baseline)
    return NO_EVIDENCE


def _draw_counts(rng: np.random.Generator, resamples: int, num_clusters: int):
    """Bootstrap resamples as counts per cluster, ``(r, C)`` at a time."""
    step = max(1, _MAX_DRAWS // num_clusters)
    uniform = np.full(num_clusters, 1.0 / num_clusters)
    for start in range(0, resamples, step):
        yield rng.multinomial(num_clusters, uniform, size=min(step, resamples - start)).astype(np.float64)


def _draw_signs(rng: np.random.Generator, resamples: int, num_clusters: int):
    step = max(1, _MAX_DRAWS // num_clusters)
    for start in range(0, resamples, step):
        yield rng.choice(np.array([-1.0, 1.0]), size=(min(step, resamples - start), num_clusters))


def _clustered(values: np.ndarray, labels: np.ndarray, resamples: int, level: float, seed: int,
               p_values: bool) -> tuple[np.ndarray, ...]:
    """Means, percentile bounds (and sign-flip p-values) of the columns of ``values`` (N, M); NaN is missing.

    Each resample draws clusters with replacement and takes, per column, the sum of the drawn clusters'
    values over the number of their non-missing values (a ratio estimator: clusters differ in size).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    labels = np.asarray(labels)
    if values.shape[0] != labels.shape[0] or values.shape[0] == 0:
        raise ValueError(f"need one cluster label per sequence, got {labels.shape[0]} labels for "
                         f"{values.shape[0]} sequences")
    num_clusters = int(labels.max()) + 1
    present = np.isfinite(values)
    sums, sizes = np.zeros((num_clusters, values.shape[1])), np.zeros((num_clusters, values.shape[1]))
    np.add.at(sums, labels, np.where(present, values, 0.0))
    np.add.at(sizes, labels, present.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = sums.sum(axis=0) / sizes.sum(axis=0)
        rng = np.random.default_rng(seed)
        boot = np.concatenate([(c @ sums) / (c @ sizes) for c in _draw_counts(rng, resamples, num_clusters)])
    tail = (1 - level) / 2
    low, high = np.full_like(observed, np.nan), np.full_like(observed, np.nan)
    some = np.isfinite(boot).any(axis=0)  # a column no sequence has stays NaN
    low[some], high[some] = np.nanquantile(boot[:, some], [tail, 1 - tail], axis=0)
    if not p_values:
        return observed, low, high
    total = np.abs(sums.sum(axis=0))
    extreme = sum((np.abs(s @ sums) >= total - _TIE).sum(axis=0) for s in _draw_signs(rng, resamples, num_clusters))
    return observed, low, high, (1 + extreme) / (1 + resamples)


def clustered_gains(
    differences: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    baseline: str = "DIRECT",
) -> dict[str, dict]:
    """Mean, percentile interval and permutation p-value of paired per-sequence differences.

    All metrics share the same resamples (one draw of articles scores every metric), so their
    intervals are computed on the same pseudo-data sets.

    Args:
        differences: ``{metric: (N,) model score − baseline score}`` (NaN: a sequence without it).
        labels: ``(N,)`` cluster of each sequence (:func:`clusters`).
        resamples: bootstrap resamples (and sign-flip permutations).
        level: the interval's coverage.
        seed: seeds both the bootstrap and the permutations.
        baseline: named by the judgement ("worse than DIRECT").

    Returns:
        ``{metric: {"gain", "low", "high", "half_width", "p_value", "judgement"}}``.
    """
    names = list(differences)
    values = np.stack([np.asarray(differences[m], dtype=np.float64) for m in names], axis=1)  # (N, M)
    observed, low, high, p_values = _clustered(values, labels, resamples, level, seed, p_values=True)
    out = {}
    for j, name in enumerate(names):
        lo, hi = float(low[j]), float(high[j])
        out[name] = {"gain": float(observed[j]), "low": lo, "high": hi, "half_width": (hi - lo) / 2,
                     "p_value": float(p_values[j]), "judgement": judgement(lo, hi, baseline)}
    return out


def clustered_means(
    values: dict[str, np.ndarray],
    labels: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> dict[str, dict]:
    """Mean and clustered percentile interval of per-sequence values (not a difference: no p-value).

    Example:

    >>> out = clustered_means({"cos": np.array([0.5, 0.7, np.nan, 0.6])}, np.array([0, 0, 1, 1]), resamples=50)
    >>> round(out["cos"]["mean"], 6), out["cos"]["count"]
    (0.6, 3)

    Args:
        values: ``{name: (N,) values}``; NaN marks a sequence without the value (not counted).
        labels: ``(N,)`` cluster of each sequence (:func:`clusters`).
        resamples, level, seed: see :func:`clustered_gains`.

    Returns:
        ``{name: {"mean", "low", "high", "count"}}``; ``None`` figures where no sequence has a value.
    """
    names = list(values)
    stacked = np.stack([np.asarray(values[m], dtype=np.float64) for m in names], axis=1)
    observed, low, high = _clustered(stacked, labels, resamples, level, seed, p_values=False)
    counts = np.isfinite(stacked).sum(axis=0)

    def number(x):
        return float(x) if np.isfinite(x) else None

    return {name: {"mean": number(observed[j]), "low": number(low[j]), "high": number(high[j]),
                   "count": int(counts[j])} for j, name in enumerate(names)}


def paired_gain(
    model: np.ndarray,
    baseline: np.ndarray,
    article_ids: np.ndarray | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    block: int = DEFAULT_BLOCK,
    baseline_name: str = "DIRECT",
) -> dict:
    """The gain of one per-sequence score over another, with its clustered interval.

    Args:
        model, baseline: ``(N,)`` per-sequence scores of the same sequences.
        article_ids: ``(N,)`` article of each sequence (``None``: blocks of ``block`` sequences).
        resamples, level, seed: see :func:`clustered_gains`.
        block: block length without article ids.
        baseline_name: named by the judgement.

    Returns:
        ``{"gain", "low", "high", "half_width", "p_value", "judgement", "unit", "clusters"}``.
    """
    model, baseline = np.asarray(model, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if model.shape != baseline.shape or model.ndim != 1:
        raise ValueError(f"paired scores must be two (N,) arrays of one shape, got {model.shape} and {baseline.shape}")
    labels, unit = clusters(len(model), article_ids, block)
    result = clustered_gains({"gain": model - baseline}, labels, resamples=resamples, level=level, seed=seed,
                             baseline=baseline_name)["gain"]
    return {**result, "unit": unit, "clusters": int(labels.max()) + 1}
