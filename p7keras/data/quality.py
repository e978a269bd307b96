"""The data-quality report of spec section 9 (``p7keras data inspect``).

For every sequence (window of K chunks + the next chunk y) it measures cos(c_K, y), the forward signal
Δ last-vs-first = cos(c_K, y) - cos(c_1, y), Δ next-vs-prev = cos(c_K, y) - cos(c_K, c_{K-1}) and the
share of sequences passing the directional gate (Δ of the default gate mode >= the gate threshold). A
share below 0.5 is reported as **weak**. Zero, non-finite and non-unit vectors are counted, not raised:
this is the tool for finding them (sequences touching a zero or non-finite vector are skipped).

Example:

>>> from p7keras.data import make_synthetic_corpus
>>> report = inspect_data(make_synthetic_corpus(num_articles=20, chunks_per_article=20, dim=64))
>>> report["sequences"], report["verdict"]
(300, 'ok')
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from p7keras.config import DEFAULTS
from p7keras.data.checks import VectorStats, normalize_rows, usable_rows, vector_stats
from p7keras.data.corpus import ChunkCorpus, SequenceFile
from p7keras.data.formats import load
from p7keras.data.sequences import load_sequences
from p7keras.data.shards import ShardedArray
from p7keras.data.splits import ALL, SPLIT_FRACTIONS

# Spec section 9: a sequence set whose gate pass share is below this is reported as weak.
WEAK_GATE_SHARE = 0.5
HISTOGRAM_BIN_WIDTHS = (0.05, 0.1, 0.2, 0.5)  # the narrowest that gives at most HISTOGRAM_MAX_BINS bins
HISTOGRAM_MAX_BINS = 24
HISTOGRAM_BAR_WIDTH = 40
SEQUENCE_BLOCK = 8192  # sequences gathered at once (a sharded corpus is never read whole)
STATS_BLOCK = 65536  # rows of a sharded corpus counted at once


def _stats(data: ChunkCorpus | SequenceFile) -> VectorStats:
    """Problem counts over every vector row of the data as stored (a sharded corpus block by block)."""
    if isinstance(data, SequenceFile):
        return vector_stats(np.concatenate([data.contexts.reshape(-1, data.dim), data.targets]))
    if not isinstance(data.vectors, ShardedArray):
        return vector_stats(data.vectors)
    parts = [vector_stats(data.vectors[start:start + STATS_BLOCK]) for start in range(0, len(data.vectors), STATS_BLOCK)]
    return VectorStats(*(sum(getattr(p, f.name) for p in parts) for f in dataclasses.fields(VectorStats)))


def _normalised(data: ChunkCorpus | SequenceFile) -> ChunkCorpus | SequenceFile:
    """The same data with non-unit rows normalised (problem rows left as they are).

    A sharded corpus's rows were unit when written (float16 rows are renormalised as they are read).
    """
    if isinstance(data, ChunkCorpus):
        if isinstance(data.vectors, ShardedArray):
            return data
        return dataclasses.replace(data, vectors=normalize_rows(data.vectors)[0])
    return dataclasses.replace(
        data, contexts=normalize_rows(data.contexts)[0], targets=normalize_rows(data.targets)[0]
    )


def _histogram(values: np.ndarray) -> dict[str, list]:
    """Counts of ``values`` in equal bins (0.05 wide, or wider for a wide range) covering their range."""
    if values.size == 0:
        return {"edges": [], "counts": []}
    for width in HISTOGRAM_BIN_WIDTHS:
        low = math.floor(values.min() / width)
        high = max(math.ceil(values.max() / width), low + 1)
        if high - low <= HISTOGRAM_MAX_BINS:
            break
    edges = np.arange(low, high + 1) * width
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist()}


def _mean(values: np.ndarray) -> float | None:
    """Mean as a float, ``None`` for no values."""
    return float(values.mean()) if values.size else None


def _cosines(sequences) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(usable mask, cosines of the usable sequences), gathered ``SEQUENCE_BLOCK`` sequences at a time.

    A sequence is usable when its K context vectors and its target are finite and non-zero. The cosines
    are cos(c_K, y) ``last-next``, cos(c_1, y) ``first-next`` and cos(c_K, c_{K-1}) ``last-prev``.
    """
    valid = np.zeros(len(sequences), dtype=bool)
    cosines = {"last-next": [], "first-next": [], "last-prev": []}
    for start in range(0, len(sequences), SEQUENCE_BLOCK):
        part = slice(start, start + SEQUENCE_BLOCK)
        context = sequences.bank[sequences.context_rows[part]].astype(np.float64)
        target = sequences.bank[sequences.target_rows[part]].astype(np.float64)
        ok = usable_rows(context).all(axis=1) & usable_rows(target)
        valid[part] = ok
        context, target = context[ok], target[ok]
        cosines["last-next"].append(np.einsum("nd,nd->n", context[:, -1], target))
        cosines["first-next"].append(np.einsum("nd,nd->n", context[:, 0], target))
        cosines["last-prev"].append(np.einsum("nd,nd->n", context[:, -1], context[:, -2]))
    return valid, {name: np.concatenate(values) if values else np.zeros(0) for name, values in cosines.items()}


def inspect_data(
    source: str | os.PathLike | ChunkCorpus | SequenceFile,
    context_length: int | None = None,
    split: str = ALL,
    seed: int = 0,
    fractions=SPLIT_FRACTIONS,
) -> dict:
    """Compute the data-quality report of a chunk corpus or sequence file.

    Example:
        ``inspect_data("rustdocs_minilm384.npz", context_length=5)["gate_pass_share"]  # 0.6646``

    Args:
        source: an ``.npz`` path, a :class:`ChunkCorpus` or a :class:`SequenceFile`.
        context_length: K (default: ``DEFAULTS.context_length``, or the sequence file's K).
        split: ``all`` (default), ``train``, ``val`` or ``ood`` (same splits as training).
        seed: split seed.
        fractions: split shares.

    Returns:
        A JSON-ready dict with keys ``source``, ``split``, ``chunks``, ``articles``, ``sequences``,
        ``skipped_sequences``, ``dim``, ``texts`` (whether the chunk texts are known), ``context``, ``cos_last_next``, ``delta_last_vs_first_mean``,
        ``delta_next_vs_prev_mean``, ``gate_mode``, ``gate_threshold``, ``gate_pass_share``,
        ``zero_vectors``, ``non_finite``, ``non_unit`` (counted over every vector of the file),
        ``delta_histogram`` (``edges``, ``counts`` of Δ of the gate mode) and ``verdict`` (``ok`` or
        ``weak``).

    Raises:
        FileNotFoundError, DataError: for files that cannot be read as either format.
    """
    data = source if isinstance(source, (ChunkCorpus, SequenceFile)) else load(source, check_values=False)
    stats = _stats(data)
    sequences = load_sequences(_normalised(data), context_length, split, seed, fractions)
    valid, cosines = _cosines(sequences)
    cos_last_next = cosines["last-next"]
    delta = {
        "last-vs-first": cos_last_next - cosines["first-next"],
        "next-vs-prev": cos_last_next - cosines["last-prev"],
    }
    gate = delta[DEFAULTS.gate_mode]
    share = float(np.mean(gate >= DEFAULTS.gate_threshold)) if gate.size else None
    bank_ids = sequences.bank_article_ids
    return {
        "source": str(data.source),
        "split": split,
        "chunks": int(len(sequences.bank)),
        "articles": None if bank_ids is None else int(np.unique(bank_ids).size),
        "sequences": int(len(sequences)),
        "skipped_sequences": int((~valid).sum()),
        "dim": sequences.dim,
        "texts": sequences.bank_texts is not None,
        "context": sequences.context_length,
        "cos_last_next": _mean(cos_last_next),
        "delta_last_vs_first_mean": _mean(delta["last-vs-first"]),
        "delta_next_vs_prev_mean": _mean(delta["next-vs-prev"]),
        "gate_mode": DEFAULTS.gate_mode,
        "gate_threshold": DEFAULTS.gate_threshold,
        "gate_pass_share": share,
        "zero_vectors": stats.zero,
        "non_finite": stats.non_finite,
        "non_unit": stats.non_unit,
        "delta_histogram": _histogram(gate),
        "verdict": "ok" if share is not None and share >= WEAK_GATE_SHARE else "weak",
        "flat_next_vs_prev": flat_next_vs_prev(_mean(delta["next-vs-prev"])),
    }


def flat_next_vs_prev(delta_mean: float | None) -> bool:
    """Whether a mean Δ next-vs-prev lies within ``DEFAULTS.flat_next_vs_prev_delta`` of zero (issue 11).

    Then the next chunk is about as close to the last context chunk as that chunk is to the one before
    it, and prev-repel pushes the prediction away from the target as much as from the previous chunk.

    Example:

        flat_next_vs_prev(0.004)   # True
        flat_next_vs_prev(0.08)    # False

    Args:
        delta_mean: the mean Δ next-vs-prev (None: unknown).

    Returns:
        True when it is known and flat.
    """
    return delta_mean is not None and abs(delta_mean) <= DEFAULTS.flat_next_vs_prev_delta


def _number(value: float | None, signed: bool = False) -> str:
    """Four decimals (with sign when ``signed``), or ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def format_report(report: dict) -> str:
    """The person-readable form of :func:`inspect_data`'s dict, with an ASCII histogram of Δ.

    Args:
        report: the dict returned by :func:`inspect_data`.

    Returns:
        Multi-line text.
    """
    r = report
    articles = "n/a (no article ids)" if r["articles"] is None else str(r["articles"])
    lines = [
        f"data report: {r['source']} (split {r['split']})",
        f"  chunks {r['chunks']}   articles {articles}   dim {r['dim']}   context K = {r['context']}   "
        f"texts {'yes' if r.get('texts') else 'no'}",
        f"  sequences {r['sequences']}" + (f" ({r['skipped_sequences']} skipped: zero or non-finite vectors)"
                                         if r["skipped_sequences"] else ""),
        f"  vectors: {r['non_finite']} non-finite, {r['zero_vectors']} zero, "
        f"{r['non_unit']} not unit length (normalised)",
        f"  mean cos(c_K, y)             {_number(r['cos_last_next'])}",
        f"  mean delta last-vs-first     {_number(r['delta_last_vs_first_mean'], signed=True)}",
        f"  mean delta next-vs-prev      {_number(r['delta_next_vs_prev_mean'], signed=True)}",
        f"  gate pass share (delta {r['gate_mode']} >= {r['gate_threshold']})  {_number(r['gate_pass_share'])}",
        f"  histogram of delta {r['gate_mode']}:",
    ]
    edges, counts = r["delta_histogram"]["edges"], r["delta_histogram"]["counts"]
    top = max(counts, default=0) or 1
    for low, high, count in zip(edges[:-1], edges[1:], counts):
        bar = "#" * math.ceil(HISTOGRAM_BAR_WIDTH * count / top) if count else ""
        lines.append(f"    {low:+.2f} .. {high:+.2f} |{bar:<{HISTOGRAM_BAR_WIDTH}} {count}")
    if r.get("flat_next_vs_prev"):
        lines.append(
            f"  warning: mean delta next-vs-prev is within ±{DEFAULTS.flat_next_vs_prev_delta} of zero: prev-repel "
            "will push the prediction away from the target as much as from the previous chunk; try "
            "p7keras train --preset real-text"
        )
    if r["non_finite"] or r["zero_vectors"]:
        lines.append("  warning: zero or non-finite vectors make training refuse this file; fix the encoder")
    verdict = (
        "ok: most sequences carry a forward signal"
        if r["verdict"] == "ok"
        else f"weak: gate pass share below {WEAK_GATE_SHARE}; few sequences carry a forward signal"
    )
    lines.append(f"  verdict: {verdict}")
    return "\n".join(lines)
