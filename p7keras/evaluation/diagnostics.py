"""The diagnostic battery (issue 21): what a predictor does with its context, beyond one retrieval figure.

Five diagnostics of one predictor on one :class:`p7keras.data.SequenceSet`, each a function of its own and
all together in :func:`run_diagnostics`:

* **offset sweep** (:func:`offset_sweep`): cosine of the prediction to the chunk at offset ``o`` of the
  sequence, ``o`` in -3..+3. **Offset 0 is the true next chunk (the target)**, -1 is ``c_K`` (the newest
  context chunk), -2 is ``c_{K-1}``, +1 the chunk after the target. A chunk outside the article is
  missing (NaN per sequence; means over the sequences that have it, with their count).
* **within-article retrieval** (:func:`within_article`): rank of the target among its article's chunks,
  R@1/5/10 and MRR@10 (:func:`p7keras.evaluation.retrieval.within_article_above`).
* **order ablations** (:func:`order_ablations`): the context rearranged (:data:`ABLATION_DEFINITIONS`),
  reported as the change in cos-to-target and in R@5 under the protocol ``all`` against the context as is.
* **rollout** (:func:`rollout`): predict, append the (unit-normalised) prediction as the newest chunk and
  drop the oldest, ``horizon`` times; step ``h`` is compared with the true chunk ``h - 1`` positions after
  the target (step 1: the target itself).
* **coherence bins** (:func:`coherence_bins`): sequences binned by the mean cosine of their K - 1 adjacent
  context pairs (quantile bins, every bin populated), with count, range, cos-to-target and R@5 per bin.

Ranks are :mod:`p7keras.evaluation.retrieval`'s: 1 + the number of rows scoring **strictly** higher than
the target row, the target's own score read from the same matrix product as the others (ties count for
the query). Cosines are float64 dot products of unit-normalised rows, as in
:mod:`p7keras.evaluation.directional` (so offset 0 is its ``cos_next``).

Which bank row is "the chunk at offset o": offsets -1..-K are the context's own rows. Beyond the context
and after the target, rows follow reading order: for a chunk corpus (``bank_positions`` and
``bank_article_ids`` known) each article's bank rows are contiguous and in reading order, so the chunk
after row ``r`` is row ``r + 1`` when it is in the same article; for a sequence file it is what the
sequences themselves say follows ``r`` (``c_k -> c_{k+1}``, ``c_K -> target``), missing where no sequence
says it or where they disagree (a repeated vector).

Every mean comes with its per-sequence array (``result["per_sequence"]``, each ``(N,)`` and aligned with
the sequences) so that a caller can attach article-clustered bootstrap intervals; the rest of the result
is JSON-ready (plain floats, ints, lists and strings; ``None`` for a mean over no sequence).

Example (one article of one-hot chunks, K = 3, DIRECT: the prediction is ``c_K``):

>>> import numpy as np
>>> from p7keras.data import SequenceSet
>>> rows = np.arange(8)
>>> seqs = SequenceSet(np.eye(8, dtype=np.float32), np.stack([rows[i:i + 3] for i in range(5)]), rows[3:],
...                    np.zeros(5, np.int64), np.zeros(8, np.int64), bank_positions=rows)
>>> result = run_diagnostics(seqs, lambda contexts: contexts[:, -1])
>>> result["offset_sweep"]["offsets"], result["offset_sweep"]["mean_cos"]
([-3, -2, -1, 0, 1, 2, 3], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
>>> result["offset_sweep"]["count"]
[5, 5, 5, 5, 4, 3, 2]
>>> result["ablations"]["ablations"]["reverse"]["delta_cos_target"]
0.0
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from p7keras.data.sequences import SequenceSet
from p7keras.evaluation.retrieval import ALL, count_higher, retrieval_metrics, within_article_above
from p7keras.evaluation.vectors import blocks, unit_rows

Predict = Callable[[np.ndarray], np.ndarray]  # contexts (n, K, D) float32 -> predictions (n, D)

OFFSETS = tuple(range(-3, 4))
DEFAULT_HORIZON = 5
DEFAULT_BINS = 4
DEFAULT_BATCH_SIZE = 1024
RECALL_SHOWN = "R@5"
MISSING = -1  # a bank row that does not exist (outside the article, unknown)

OFFSET_CONVENTION = (
    "offset 0 is the true next chunk (the target); -1 is c_K (the newest context chunk), -2 c_(K-1), ...; "
    "+1 is the chunk after the target; chunks outside the article are missing (means over the sequences "
    "that have them)"
)
ROLLOUT_CONVENTION = (
    "step h (1..H) compares the h-th prediction with the true chunk h-1 positions after the target "
    "(step 1: the target); each prediction, unit-normalised, is appended as the newest context chunk and "
    "the oldest is dropped; missing beyond the article"
)
COHERENCE_DEFINITION = (
    "coherence = mean cosine of the K-1 adjacent context chunk pairs; bins at its quantiles, tied values "
    "never split, empty bins merged (so there may be fewer bins than asked)"
)
ABLATION_DEFINITIONS = {
    "shuffle": "the K context chunks in a seeded random order per sequence (never the identity)",
    "reverse": "the K context chunks in reverse order (c_K oldest, c_1 newest)",
    "leave_out_k": "c_k dropped; the other K-1 keep their order, shifted to the newest end, and the oldest "
                   "of them is repeated at the front so K stays (k = 1 is the oldest, k = K the newest)",
    "repeat_last": "all K positions hold c_K",
    "foreign_last": "c_K replaced by the c_K of a seeded random sequence of another article",
}
NO_ARTICLES = "the data has no article ids (upstream sequence file)"


# ---------------------------------------------------------------------------------------- helpers
def _mean(values: np.ndarray) -> float | None:
    """Mean of the finite values (``None`` when there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _positive(what: str, value) -> int:
    """``value`` as an int, raising unless it is >= 1."""
    if int(value) < 1:
        raise ValueError(f"{what} must be >= 1, got {value!r}")
    return int(value)


def _recall(ranks: np.ndarray) -> float:
    return retrieval_metrics(ranks)[RECALL_SHOWN]


def predict_rows(predict: Predict, bank: np.ndarray, context_rows: np.ndarray,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Predictions for the contexts ``bank[context_rows]``, gathered and predicted ``batch_size`` at a time.

    Example:

    >>> predict_rows(lambda c: c[:, 0], np.eye(3, dtype=np.float32), np.array([[2, 0], [1, 2]])).tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]

    Args:
        predict: ``(n, K, D) float32 -> (n, D)``.
        bank: ``(V, D)`` chunk vectors.
        context_rows: ``(N, K)`` bank rows of each context, oldest first.
        batch_size: sequences per call of ``predict``.

    Returns:
        ``(N, D)`` float32.
    """
    out = np.empty((len(context_rows), bank.shape[1]), dtype=np.float32)
    for part in blocks(len(context_rows), _positive("batch_size", batch_size)):
        out[part] = np.asarray(predict(np.asarray(bank[context_rows[part]], dtype=np.float32)))
    return out


def row_cosines(queries: np.ndarray, bank: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``cos(queries[i], bank[rows[i]])`` in float64, NaN where ``rows[i]`` is :data:`MISSING`.

    Example:

    >>> row_cosines(np.array([[2.0, 0.0], [1.0, 1.0]]), np.eye(2), np.array([0, -1])).tolist()
    [1.0, nan]

    Args:
        queries: ``(N, D)`` (normalised here).
        bank: ``(V, D)``.
        rows: ``(N,)`` bank rows, :data:`MISSING` (-1) for none.

    Returns:
        ``(N,)`` float64.
    """
    out = np.full(len(rows), np.nan)
    for part in blocks(len(rows)):
        present = np.flatnonzero(rows[part] != MISSING)
        if present.size:
            q = unit_rows(queries[part][present])
            out[part.start + present] = np.einsum("nd,nd->n", q, unit_rows(bank[rows[part][present]]))
    return out


def ranks_under_all(queries: np.ndarray, sequences: SequenceSet) -> np.ndarray:
    """Rank of every target under the protocol ``all`` (bank: every chunk of the split), 1 = best.

    Args:
        queries: ``(N, D)`` predictions.
        sequences: the sequences.

    Returns:
        ``(N,)`` int64.
    """
    return 1 + count_higher(queries, sequences.bank, sequences.target_rows).above


def chunk_links(sequences: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """The bank row after and before every bank row in its article, :data:`MISSING` where there is none.

    A chunk corpus (``bank_positions`` and ``bank_article_ids`` known): each article's rows are contiguous
    and in reading order, so row ``r + 1`` follows ``r`` when it is in the same article. Otherwise (a
    sequence file): what the windows say, ``c_k -> c_{k+1}`` and ``c_K -> target``; a row the windows give
    two different neighbours (a repeated vector) has none.

    Example:

    >>> seqs = SequenceSet(np.eye(4, dtype=np.float32), np.array([[0, 1], [1, 3]]), np.array([2, 0]))
    >>> following, preceding = chunk_links(seqs)     # 0 -> 1 -> 2 and 1 -> 3 -> 0: row 1 is ambiguous
    >>> following.tolist(), preceding.tolist()
    ([1, -1, -1, 0], [3, 0, 1, 1])

    Args:
        sequences: the sequences.

    Returns:
        ``(next_row, previous_row)``, each ``(V,)`` int64.
    """
    v = len(sequences.bank)
    if sequences.bank_positions is not None and sequences.bank_article_ids is not None:
        ids = np.asarray(sequences.bank_article_ids)
        same = np.flatnonzero(ids[1:] == ids[:-1])
        before, after = same, same + 1
    else:
        chain = np.concatenate([sequences.context_rows, sequences.target_rows[:, None]], axis=1)
        pairs = np.unique(np.stack([chain[:, :-1].reshape(-1), chain[:, 1:].reshape(-1)], axis=1), axis=0)
        before, after = pairs[:, 0], pairs[:, 1]
    links = []
    for source, dest in ((before, after), (after, before)):
        found = np.full(v, MISSING, dtype=np.int64)
        found[source] = dest
        ambiguous = np.bincount(source, minlength=v) > 1
        found[ambiguous] = MISSING
        links.append(found)
    return links[0], links[1]


def _walk(rows: np.ndarray, links: np.ndarray, steps: int) -> np.ndarray:
    """Follow ``links`` ``steps`` times from ``rows`` (:data:`MISSING` stays missing)."""
    rows = np.asarray(rows, dtype=np.int64).copy()
    for _ in range(steps):
        present = rows != MISSING
        rows[present] = links[rows[present]]
    return rows


def offset_rows(sequences: SequenceSet, offsets=OFFSETS) -> np.ndarray:
    """Bank row of the chunk at each offset from every sequence's target (:data:`OFFSET_CONVENTION`).

    Offset 0 is the target, -j (j <= K) the context's row ``c_{K+1-j}``, further back and forward the
    rows of :func:`chunk_links`.

    Example:

    >>> seqs = SequenceSet(np.eye(5, dtype=np.float32), np.array([[0, 1]]), np.array([2]),
    ...                    np.zeros(1, np.int64), np.zeros(5, np.int64), bank_positions=np.arange(5))
    >>> offset_rows(seqs, (-3, -2, -1, 0, 1, 2, 3)).tolist()
    [[-1, 0, 1, 2, 3, 4, -1]]

    Args:
        sequences: the sequences.
        offsets: the offsets (ints).

    Returns:
        ``(N, len(offsets))`` int64 bank rows, :data:`MISSING` (-1) outside the article.
    """
    k = sequences.context_length
    following, preceding = chunk_links(sequences)
    out = np.empty((len(sequences), len(offsets)), dtype=np.int64)
    for column, offset in enumerate(int(o) for o in offsets):
        if offset >= 0:
            out[:, column] = _walk(sequences.target_rows, following, offset)
        elif -offset <= k:
            out[:, column] = sequences.context_rows[:, k + offset]
        else:
            out[:, column] = _walk(sequences.context_rows[:, 0], preceding, -offset - k)
    return out


# ------------------------------------------------------------------------------------ diagnostics
def offset_sweep(sequences: SequenceSet, predictions: np.ndarray, offsets=OFFSETS) -> tuple[dict, dict]:
    """Cosine of each prediction to the chunks at ``offsets`` from its target (offset 0 = the target).

    Example:

    >>> seqs = SequenceSet(np.eye(5, dtype=np.float32), np.array([[0, 1]]), np.array([2]),
    ...                    np.zeros(1, np.int64), np.zeros(5, np.int64), bank_positions=np.arange(5))
    >>> summary, _ = offset_sweep(seqs, np.eye(5, dtype=np.float32)[[3]], (-1, 0, 1, 3))
    >>> summary["mean_cos"], summary["count"]
    ([0.0, 0.0, 1.0, None], [1, 1, 1, 0])

    Args:
        sequences: the sequences.
        predictions: ``(N, D)`` predictions of their contexts.
        offsets: the offsets (default -3..+3).

    Returns:
        ``(summary, per_sequence)``: ``{"convention", "offsets", "mean_cos", "count"}`` (a mean is ``None``
        for no sequence) and ``{"offset_sweep/+0": (N,) float64 cosines (NaN: missing), ...}``.
    """
    rows = offset_rows(sequences, offsets)
    per_sequence = {f"offset_sweep/{int(o):+d}": row_cosines(predictions, sequences.bank, rows[:, i])
                    for i, o in enumerate(offsets)}
    cosines = list(per_sequence.values())
    summary = {
        "convention": OFFSET_CONVENTION,
        "offsets": [int(o) for o in offsets],
        "mean_cos": [_mean(c) for c in cosines],
        "count": [int(np.isfinite(c).sum()) for c in cosines],
    }
    return summary, per_sequence


def within_article(sequences: SequenceSet, predictions: np.ndarray) -> tuple[dict, dict]:
    """Rank of each target among the chunks of its own article (the protocol ``within-article``).

    Example:

    >>> bank = np.eye(4, dtype=np.float32)
    >>> seqs = SequenceSet(bank, np.array([[0, 1]]), np.array([2]), np.zeros(1, np.int64), np.zeros(4, np.int64))
    >>> summary, per_sequence = within_article(seqs, np.array([[0.0, 0.6, 0.5, 0.9]], np.float32))
    >>> per_sequence["within_article/rank"].tolist(), summary["MRR@10"]
    ([3], 0.3333333333333333)

    Args:
        sequences: the sequences (``bank_article_ids`` needed).
        predictions: ``(N, D)``.

    Returns:
        ``(summary, per_sequence)``: ``{"available": True, "R@1", "R@5", "R@10", "MRR@10",
        "mean_article_chunks"}`` and ``{"within_article/rank": (N,) int64}``; without article ids
        ``({"available": False, "note": ...}, {})``.
    """
    if sequences.bank_article_ids is None:
        return {"available": False, "note": f"{NO_ARTICLES}: within-article retrieval is unavailable"}, {}
    ranks = 1 + within_article_above(predictions, sequences.bank, sequences.target_rows,
                                     sequences.bank_article_ids)
    _, group, sizes = np.unique(sequences.bank_article_ids, return_inverse=True, return_counts=True)
    candidates = sizes[group.reshape(-1)[sequences.target_rows]]
    summary = {"available": True, **retrieval_metrics(ranks), "mean_article_chunks": float(candidates.mean())}
    return summary, {"within_article/rank": ranks}


def _shuffled(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``(n, k)`` random permutations of ``range(k)``, none the identity (k >= 2)."""
    order = np.argsort(rng.random((n, k)), axis=1)
    identity = np.arange(k)
    while (same := np.flatnonzero((order == identity).all(axis=1))).size:
        order[same] = np.argsort(rng.random((same.size, k)), axis=1)
    return order


def _foreign(rng: np.random.Generator, article_ids: np.ndarray) -> np.ndarray | None:
    """For every sequence, a uniformly drawn sequence of another article (``None``: one article only)."""
    order = np.argsort(article_ids, kind="stable")
    _, group, sizes = np.unique(article_ids, return_inverse=True, return_counts=True)
    if sizes.size < 2:
        return None
    group = group.reshape(-1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    others = len(article_ids) - sizes[group]
    place = (rng.random(len(article_ids)) * others).astype(np.int64)  # among the other articles' sequences
    place = np.where(place >= starts[group], place + sizes[group], place)  # skip over the own article
    return order[place]


def ablation_definition(name: str) -> str:
    """What the ablation ``name`` does to the context (``leave_out_3`` names its position).

    Example:

    >>> ablation_definition("leave_out_2")[:12]
    'c_2 dropped;'
    """
    if name.startswith("leave_out_"):
        return ABLATION_DEFINITIONS["leave_out_k"].replace("c_k dropped", f"c_{name.rsplit('_', 1)[1]} dropped")
    return ABLATION_DEFINITIONS[name]


def ablated_contexts(sequences: SequenceSet, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The context rows of every order ablation (:data:`ABLATION_DEFINITIONS`), as bank rows.

    Example:

    >>> seqs = SequenceSet(np.eye(4, dtype=np.float32), np.array([[0, 1, 2]]), np.array([3]))
    >>> ablations, skipped = ablated_contexts(seqs)
    >>> for name in ("reverse", "leave_out_1", "leave_out_3", "repeat_last"):
    ...     print(name, ablations[name][0].tolist())
    reverse [2, 1, 0]
    leave_out_1 [1, 1, 2]
    leave_out_3 [0, 0, 1]
    repeat_last [2, 2, 2]
    >>> skipped
    {'foreign_last': 'the data has no article ids (upstream sequence file)'}

    Args:
        sequences: the sequences.
        seed: seed of the shuffles and of the foreign chunks.

    Returns:
        ``({name: (N, K) int64 context rows}, {name: why it was skipped})``.
    """
    rows, k = sequences.context_rows, sequences.context_length
    rng_shuffle, rng_foreign = (np.random.default_rng([int(seed), stream]) for stream in (0, 1))
    ablations = {
        "shuffle": np.take_along_axis(rows, _shuffled(rng_shuffle, len(rows), k), axis=1),
        "reverse": rows[:, ::-1].copy(),
    }
    for position in range(1, k + 1):
        kept = np.delete(rows, position - 1, axis=1)
        ablations[f"leave_out_{position}"] = np.concatenate([kept[:, :1], kept], axis=1)
    ablations["repeat_last"] = np.repeat(rows[:, -1:], k, axis=1)
    skipped = {}
    other = None if sequences.article_ids is None else _foreign(rng_foreign, np.asarray(sequences.article_ids))
    if other is not None:
        ablations["foreign_last"] = np.concatenate([rows[:, :-1], rows[other, -1:]], axis=1)
    else:
        skipped["foreign_last"] = NO_ARTICLES if sequences.article_ids is None else "the data has one article"
    return ablations, skipped


def order_ablations(
    sequences: SequenceSet,
    predict: Predict,
    *,
    predictions: np.ndarray | None = None,
    ranks: np.ndarray | None = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[dict, dict]:
    """Change in cos-to-target and in R@5 (protocol ``all``) when the context is rearranged.

    Example:

        summary, per_sequence = order_ablations(val, predictor.predict, seed=0)
        summary["ablations"]["shuffle"]["delta_cos_target"]   # ~0 for a model that ignores order

    Args:
        sequences: the sequences.
        predict: ``(n, K, D) float32 -> (n, D)``.
        predictions: the predictions of the contexts as they are (computed when ``None``).
        ranks: their ranks under ``all`` (computed when ``None``).
        seed: seed of the shuffles and of the foreign chunks.
        batch_size: sequences per call of ``predict``.

    Returns:
        ``(summary, per_sequence)``: ``{"protocol": "all", "reference": {"cos_target", "R@5"},
        "ablations": {name: {"definition", "cos_target", "delta_cos_target", "R@5", "delta_R@5"}},
        "skipped": {name: why}}`` and ``{"ablations/<name>/cos_target": (N,) float64,
        "ablations/<name>/rank_all": (N,) int64}``.
    """
    if predictions is None:
        predictions = predict_rows(predict, sequences.bank, sequences.context_rows, batch_size)
    if ranks is None:
        ranks = ranks_under_all(predictions, sequences)
    reference_cos = row_cosines(predictions, sequences.bank, sequences.target_rows).mean()
    reference_recall = _recall(ranks)
    contexts, skipped = ablated_contexts(sequences, seed)
    summary, per_sequence = {}, {}
    for name, rows in contexts.items():
        queries = predict_rows(predict, sequences.bank, rows, batch_size)
        cos = row_cosines(queries, sequences.bank, sequences.target_rows)
        ablated_ranks = ranks_under_all(queries, sequences)
        per_sequence[f"ablations/{name}/cos_target"] = cos
        per_sequence[f"ablations/{name}/rank_all"] = ablated_ranks
        recall = _recall(ablated_ranks)
        summary[name] = {
            "definition": ablation_definition(name),
            "cos_target": float(cos.mean()),
            "delta_cos_target": float(cos.mean() - reference_cos),
            RECALL_SHOWN: recall,
            f"delta_{RECALL_SHOWN}": recall - reference_recall,
        }
    return {
        "protocol": ALL,
        "reference": {"cos_target": float(reference_cos), RECALL_SHOWN: reference_recall},
        "ablations": summary,
        "skipped": skipped,
    }, per_sequence


def rollout(
    sequences: SequenceSet,
    predict: Predict,
    horizon: int = DEFAULT_HORIZON,
    *,
    predictions: np.ndarray | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[dict, dict]:
    """Feed predictions back ``horizon`` times; cosine of step ``h`` to the true chunk ``h - 1`` after the target.

    Example:

        summary, per_sequence = rollout(val, predictor.predict, horizon=5)
        summary["mean_cos"]     # one mean per step; step 1 is cos-to-target

    Args:
        sequences: the sequences.
        predict: ``(n, K, D) float32 -> (n, D)``.
        horizon: H >= 1 steps.
        predictions: the step-1 predictions (computed when ``None``).
        batch_size: sequences rolled out together.

    Returns:
        ``(summary, per_sequence)``: ``{"convention", "horizon", "steps", "mean_cos", "count"}`` and
        ``{"rollout/<h>": (N,) float64 (NaN beyond the article)}``.
    """
    horizon = _positive("rollout horizon", horizon)
    truth = offset_rows(sequences, range(horizon))
    cosines = np.full((len(sequences), horizon), np.nan)
    for part in blocks(len(sequences), _positive("batch_size", batch_size)):
        window = np.asarray(sequences.bank[sequences.context_rows[part]], dtype=np.float32)
        for step in range(horizon):
            if step == 0 and predictions is not None:
                queries = np.asarray(predictions[part], dtype=np.float32)
            else:
                queries = np.asarray(predict(window), dtype=np.float32)
            cosines[part, step] = row_cosines(queries, sequences.bank, truth[part, step])
            window = np.concatenate([window[:, 1:], unit_rows(queries).astype(np.float32)[:, None]], axis=1)
    summary = {
        "convention": ROLLOUT_CONVENTION,
        "horizon": horizon,
        "steps": list(range(1, horizon + 1)),
        "mean_cos": [_mean(c) for c in cosines.T],
        "count": [int(np.isfinite(c).sum()) for c in cosines.T],
    }
    return summary, {f"rollout/{h + 1}": cosines[:, h].copy() for h in range(horizon)}


def context_coherence(sequences: SequenceSet) -> np.ndarray:
    """Mean cosine of the K - 1 adjacent context chunk pairs of every sequence.

    Example:

    >>> bank = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    >>> context_coherence(SequenceSet(bank, np.array([[0, 1, 2]]), np.array([2]))).tolist()
    [0.5]

    Args:
        sequences: the sequences.

    Returns:
        ``(N,)`` float64.
    """
    out = np.empty(len(sequences))
    for part in blocks(len(sequences)):
        contexts = unit_rows(sequences.bank[sequences.context_rows[part]])
        out[part] = np.einsum("nkd,nkd->nk", contexts[:, :-1], contexts[:, 1:]).mean(axis=1)
    return out


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin of every value at the quantiles of ``values``: tied values share a bin, every bin is populated.

    Edges are the ``bins - 1`` inner quantiles (duplicates dropped); a value goes to the bin of the last
    edge it reaches; bins left empty are merged away, so the bins are ``0..B-1`` with ``B <= bins``.

    Example:

    >>> quantile_bins(np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.5, 0.8, 0.9]), 4).tolist()
    [0, 0, 1, 1, 1, 1, 2, 2]

    Args:
        values: ``(N,)`` finite values.
        bins: the bins asked for (>= 1).

    Returns:
        ``(N,)`` int64 bin of each value.
    """
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, _positive("coherence bins", bins) + 1)[1:-1]))
    raw = np.searchsorted(edges, values, side="right")
    return np.unique(raw, return_inverse=True)[1].reshape(-1).astype(np.int64)


def coherence_bins(
    sequences: SequenceSet, predictions: np.ndarray, bins: int = DEFAULT_BINS, ranks: np.ndarray | None = None
) -> tuple[dict, dict]:
    """Results by context coherence (:func:`context_coherence`, :func:`quantile_bins`).

    Example:

        summary, per_sequence = coherence_bins(val, predictions, bins=4)
        [(b["coherence_min"], b["cos_target"]) for b in summary["bins"]]

    Args:
        sequences: the sequences.
        predictions: ``(N, D)``.
        bins: quantile bins asked for.
        ranks: the predictions' ranks under ``all`` (computed when ``None``).

    Returns:
        ``(summary, per_sequence)``: ``{"definition", "requested_bins", "bins": [{"bin", "count",
        "coherence_min", "coherence_max", "cos_target", "R@5"}]}`` and ``{"coherence/value": (N,)
        float64, "coherence/bin": (N,) int64}``.
    """
    if ranks is None:
        ranks = ranks_under_all(predictions, sequences)
    coherence = context_coherence(sequences)
    which = quantile_bins(coherence, bins)
    cos = row_cosines(predictions, sequences.bank, sequences.target_rows)
    rows = []
    for b in range(int(which.max()) + 1):
        members = which == b
        rows.append({
            "bin": b,
            "count": int(members.sum()),
            "coherence_min": float(coherence[members].min()),
            "coherence_max": float(coherence[members].max()),
            "cos_target": float(cos[members].mean()),
            RECALL_SHOWN: _recall(ranks[members]),
        })
    summary = {"definition": COHERENCE_DEFINITION, "requested_bins": int(bins), "bins": rows}
    return summary, {"coherence/value": coherence, "coherence/bin": which}


def run_diagnostics(
    sequences: SequenceSet,
    predict: Predict,
    *,
    horizon: int = DEFAULT_HORIZON,
    bins: int = DEFAULT_BINS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    ranks_all: np.ndarray | None = None,
) -> dict:
    """The whole battery for one predictor (a model, or a baseline as a function of the context).

    Example:

        result = run_diagnostics(ood, p7keras.Predictor.from_model(model).predict)
        result["ablations"]["ablations"]["shuffle"]["delta_R@5"]
        result["per_sequence"]["rollout/3"]          # (N,) for an article-clustered bootstrap

    Args:
        sequences: the sequences (a split of a corpus or a sequence file).
        predict: ``(n, K, D) float32 -> (n, D)``, e.g. ``Predictor.predict``.
        horizon: rollout steps H.
        bins: coherence bins asked for.
        seed: seed of the shuffle and foreign-chunk ablations.
        batch_size: sequences per call of ``predict``.
        ranks_all: the predictions' ranks under ``all`` when the caller has them (computed otherwise).

    Returns:
        ``{"sequences", "offset_sweep", "within_article", "ablations", "rollout", "coherence",
        "per_sequence"}``: each section as its function returns it; ``per_sequence`` maps names to
        ``(N,)`` arrays aligned with the sequences (also ``cos_target`` and ``rank_all``). Without
        ``per_sequence`` the result is JSON-ready.

    Raises:
        ValueError: no sequences, or a bad ``horizon``, ``bins`` or ``batch_size``.
    """
    if len(sequences) == 0:
        raise ValueError("the diagnostics need at least one sequence, got 0")
    for what, value in (("rollout horizon", horizon), ("coherence bins", bins), ("batch_size", batch_size)):
        _positive(what, value)
    predictions = predict_rows(predict, sequences.bank, sequences.context_rows, batch_size)
    ranks = ranks_under_all(predictions, sequences) if ranks_all is None else np.asarray(ranks_all)
    if ranks.shape != (len(sequences),):
        raise ValueError(f"ranks_all must have one rank per sequence ({len(sequences)}), got shape {ranks.shape}")
    per_sequence = {
        "cos_target": row_cosines(predictions, sequences.bank, sequences.target_rows),
        "rank_all": ranks,
    }
    result = {"sequences": len(sequences)}
    for key, (summary, arrays) in (
        ("offset_sweep", offset_sweep(sequences, predictions)),
        ("within_article", within_article(sequences, predictions)),
        ("ablations", order_ablations(sequences, predict, predictions=predictions, ranks=ranks, seed=seed,
                                      batch_size=batch_size)),
        ("rollout", rollout(sequences, predict, horizon, predictions=predictions, batch_size=batch_size)),
        ("coherence", coherence_bins(sequences, predictions, bins, ranks)),
    ):
        result[key] = summary
        per_sequence.update(arrays)
    result["per_sequence"] = per_sequence
    return result
