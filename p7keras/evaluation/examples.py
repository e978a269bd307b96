"""Examples a person can read: a sequence's context, its true next chunk and each query's top-k of the bank.

``p7keras predict`` prints them and the HTML report of ``p7keras evaluate`` shows each model's best and
worst sequences with them. For every chosen sequence an example holds the K context chunks (oldest
first), the true next chunk and, for every query (a model's prediction, DIRECT = the last context
chunk), the k bank rows scoring highest (the bank of protocol ``all``: every chunk of the split), their
cosine, which of them is the true next chunk or a chunk of the context, and the rank of the true next
chunk (as :func:`p7keras.evaluation.retrieval.count_higher` counts it). A chunk is shown by its text
when the corpus has texts (key ``texts``), else by its article and position, else by its bank row.

Example:

>>> from p7keras.data import load_sequences, make_synthetic_corpus
>>> seqs = load_sequences(make_synthetic_corpus(num_articles=10, chunks_per_article=8, dim=16), 4)
>>> direct = seqs.bank[seqs.context_rows[:2, -1]]
>>> shown = sequence_examples(seqs, [0, 1], {"DIRECT": direct}, top_k=3)
>>> first = shown[0]["queries"]["DIRECT"]["top"][0]   # c_K itself: cosine 1, a chunk of the context
>>> round(first["cosine"], 4), first["in_context"], first["is_next"]
(1.0, True, False)
>>> chunk_label(shown[0]["next"])
'synthetic-00000 #4'
"""

from __future__ import annotations

import numpy as np

from p7keras.data import SequenceSet
from p7keras.evaluation.bank_index import BankIndex
from p7keras.evaluation.retrieval import count_higher
from p7keras.evaluation.vectors import unit_rows

TOP_K = 10  # bank rows shown per query by ``p7keras predict``
SAMPLE = 3  # sequences ``p7keras predict`` shows when none is chosen
WIDTH = 120  # characters of a printed line
NEXT_MARK, CONTEXT_MARK = "*", "^"
LEGEND = f"{NEXT_MARK} the true next chunk, {CONTEXT_MARK} a chunk of the context"


# ------------------------------------------------------------------------------------ labels
def shorten(text: str, width: int) -> str:
    """``text`` on one line (white space folded) of at most ``width`` characters (``...`` when cut).

    Example:

    >>> shorten("Ownership  is\\n\\nRust's most unique feature.", 20)
    'Ownership is Rust...'

    Args:
        text: any text.
        width: the most characters (at least 4).

    Returns:
        The one-line text.
    """
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: max(width - 3, 1)].rstrip() + "..."


def chunk_label(chunk: dict, width: int | None = None) -> str:
    """How a chunk (:meth:`p7keras.data.SequenceSet.chunk`) is shown: its text, else ``ARTICLE #POSITION``.

    Args:
        chunk: ``{"row", "article", "position", "text"}`` (unknown values ``None``).
        width: shorten to one line of this many characters (``None``: the whole text, folded).

    Returns:
        One line.
    """
    if chunk.get("text") is not None:
        label = chunk["text"]
    elif chunk.get("article") is not None and chunk.get("position") is not None:
        label = f"{chunk['article']} #{chunk['position']}"
    elif chunk.get("article") is not None:
        label = f"{chunk['article']} (bank row {chunk['row']})"
    else:
        label = f"bank row {chunk['row']}"
    return shorten(label, width) if width is not None else " ".join(label.split())


# ---------------------------------------------------------------------------------- choosing
def _article_id(sequences: SequenceSet, article: str) -> int:
    """The id of ``article`` (a name, else an id) among the split's sequences."""
    present = np.unique(sequences.article_ids).tolist()
    names = sequences.article_names or {}
    by_name = [i for i in present if names.get(i, str(i)) == str(article)]
    if by_name:
        return by_name[0]
    if str(article).lstrip("-").isdigit() and int(article) in present:
        return int(article)
    shown = ", ".join(repr(names.get(i, str(i))) for i in present[:3])
    raise ValueError(
        f"{sequences.source}: no article {article!r} in split '{sequences.split}' ({len(present)} articles "
        f"with sequences, e.g. {shown}); the split 'all' has every article"
    )


def find_sequence(sequences: SequenceSet, article: str, position: int) -> int:
    """The sequence whose next chunk is at ``position`` of ``article``.

    Example:

        find_sequence(splits.val, "book/ch04.md", 12)   # 37: contexts are positions 7..11 when K = 5

    Args:
        sequences: the split.
        article: an article name (``article_names``), or its id.
        position: the position of the next chunk (the one predicted) in the article.

    Returns:
        The index of the sequence in ``sequences``.

    Raises:
        ValueError: no article ids or positions, an article outside the split, a position without a
            sequence (naming the article's valid positions).
    """
    if sequences.article_ids is None or sequences.bank_positions is None:
        raise ValueError(
            f"{sequences.source}: the data has no article ids and chunk positions (an upstream sequence "
            "file): choose sequences at random instead"
        )
    article_id = _article_id(sequences, article)
    members = np.flatnonzero(sequences.article_ids == article_id)
    positions = sequences.bank_positions[sequences.target_rows[members]]
    match = np.flatnonzero(positions == int(position))
    if match.size == 0:
        name = (sequences.article_names or {}).get(article_id, str(article_id))
        raise ValueError(
            f"{sequences.source}: article {name!r} has next chunks at positions {positions.min()}..{positions.max()} "
            f"(each after K = {sequences.context_length} context chunks); got position {position}"
        )
    return int(members[match[0]])


def choose_sequences(
    sequences: SequenceSet,
    article: str | None = None,
    position: int | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The sequences to show: one by article and position, else a seeded random sample.

    Args:
        sequences: the split.
        article: an article name or id (with ``position``; see :func:`find_sequence`).
        position: the position of the next chunk in ``article``.
        sample: how many sequences to draw (default :data:`SAMPLE`; at most all of them).
        seed: the draw's seed.

    Returns:
        ``(n,)`` int64 indices into ``sequences``, in order.

    Raises:
        ValueError: ``article`` without ``position`` (or the reverse), ``sample`` < 1, see
            :func:`find_sequence`.
    """
    if (article is None) != (position is None):
        raise ValueError("an article and a position go together: give both, or neither for a random sample")
    if article is not None:
        return np.array([find_sequence(sequences, article, position)], dtype=np.int64)
    sample = SAMPLE if sample is None else int(sample)
    if sample < 1:
        raise ValueError(f"the sample size must be >= 1, got {sample}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(sequences), min(sample, len(sequences)), replace=False)).astype(np.int64)


def best_and_worst(ranks: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` sequences of lowest rank (best first) and of highest rank (worst first), never both.

    Example:

    >>> [a.tolist() for a in best_and_worst(np.array([4, 1, 9, 2, 7]), 2)]
    [[1, 3], [2, 4]]

    Args:
        ranks: ``(N,)`` rank of each sequence's true next chunk.
        count: how many of each.

    Returns:
        ``(best, worst)`` index arrays.
    """
    order = np.argsort(np.asarray(ranks), kind="stable")
    best = order[:count]
    return best, order[max(count, len(order) - count):][::-1]


# ----------------------------------------------------------------------------------- ranking
SAME_VECTOR = 1.0 - 1e-5  # cosine above which a bank row is taken for a given context vector


def hit_lists(
    sequences: SequenceSet,
    queries: np.ndarray,
    rows: np.ndarray,
    scores: np.ndarray,
    top_k: int,
    target_rows: np.ndarray | None = None,
    context_rows: np.ndarray | None = None,
    context_vectors: np.ndarray | None = None,
    exclude_context: bool = False,
) -> list[list[dict]]:
    """Each query's ``top_k`` hits, read from its searched bank rows (best first).

    A hit is in the context when its row is one of ``context_rows``, or (contexts given as vectors) when
    it is the same vector as one of ``context_vectors`` (cosine above :data:`SAME_VECTOR`). With
    ``exclude_context`` such rows are dropped (search ``top_k + K`` rows so that ``top_k`` remain).

    Args:
        sequences: the bank and what a person reads of its rows.
        queries: ``(n, D)`` query vectors.
        rows, scores: ``(n, m)`` searched bank rows and their inner products (row -1: none found).
        top_k: hits kept per query.
        target_rows: ``(n,)`` bank row of each true next chunk, or ``None``.
        context_rows: ``(n, K)`` bank rows of each context, or ``None``.
        context_vectors: ``(n, K, D)`` context vectors when their rows are unknown, or ``None``.
        exclude_context: drop context chunks instead of marking them.

    Returns:
        Per query, a list of ``{"row", "article", "position", "text", "cosine", "is_next", "in_context"}``.
    """
    norms = np.maximum(np.linalg.norm(np.asarray(queries, dtype=np.float64), axis=1), 1e-12)
    found = []
    for i in range(len(queries)):
        keep = rows[i] >= 0
        candidates, candidate_scores = rows[i][keep], scores[i][keep]
        if context_rows is not None:
            in_context = np.isin(candidates, context_rows[i])
        elif context_vectors is not None and len(candidates):
            same = np.asarray(sequences.bank[candidates], dtype=np.float64) @ unit_rows(context_vectors[i]).T
            in_context = (same >= SAME_VECTOR).any(axis=1)
        else:
            in_context = np.zeros(len(candidates), dtype=bool)
        if exclude_context:
            candidates, candidate_scores, in_context = (
                candidates[~in_context], candidate_scores[~in_context], in_context[~in_context])
        target = None if target_rows is None else int(target_rows[i])
        found.append([{**sequences.chunk(row), "cosine": float(score / norms[i]), "is_next": int(row) == target,
                       "in_context": bool(marked)}
                      for row, score, marked in zip(candidates[:top_k], candidate_scores[:top_k], in_context[:top_k])])
    return found


def target_ranks(sequences: SequenceSet, queries: np.ndarray, target_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's exact rank of its true next chunk in the whole bank (protocol ``all``) and its cosine."""
    queries = np.asarray(queries, dtype=np.float32)
    ranks = 1 + count_higher(queries, sequences.bank, target_rows).above
    cosines = np.einsum("nd,nd->n", unit_rows(queries), np.asarray(sequences.bank[target_rows], dtype=np.float64))
    return ranks, cosines


def ranked_hits(
    sequences: SequenceSet,
    queries: np.ndarray,
    top_k: int,
    target_rows: np.ndarray | None = None,
    context_rows: np.ndarray | None = None,
    index: BankIndex | None = None,
    exclude_context: bool = False,
) -> list[dict]:
    """Each query's ``top_k`` bank rows (with cosine and marks) and the rank of its true next chunk.

    Args:
        sequences: the bank (``sequences.bank``) and what a person reads of its rows.
        queries: ``(n, D)`` query vectors.
        top_k: rows per query.
        target_rows: ``(n,)`` bank row of each true next chunk, or ``None`` (unknown: a typed passage).
        context_rows: ``(n, K)`` bank rows of each context, or ``None``.
        index: the bank's :class:`p7keras.evaluation.bank_index.BankIndex` (default: an exact one, built here).
        exclude_context: leave the context's own chunks out of the list instead of marking them.

    Returns:
        One dict per query: ``{"rank", "cosine_next", "top": [{"row", "article", "position", "text",
        "cosine", "is_next", "in_context"}, ...]}`` (``rank`` and ``cosine_next`` ``None`` without a target).
    """
    queries = np.asarray(queries, dtype=np.float32)
    index = index or BankIndex.build(sequences.bank)
    extra = sequences.context_length if exclude_context and context_rows is not None else 0
    rows, scores = index.search(queries, top_k + extra)
    tops = hit_lists(sequences, queries, rows, scores, top_k, target_rows, context_rows,
                     exclude_context=exclude_context)
    ranks = cosines = None
    if target_rows is not None:
        ranks, cosines = target_ranks(sequences, queries, target_rows)
    return [{"rank": None if ranks is None else int(ranks[i]),
             "cosine_next": None if ranks is None else float(cosines[i]),
             "top": top} for i, top in enumerate(tops)]


def sequence_examples(
    sequences: SequenceSet,
    indices,
    queries: dict[str, np.ndarray],
    top_k: int = TOP_K,
    index: BankIndex | None = None,
) -> list[dict]:
    """One readable example per chosen sequence: context, true next chunk, each query's top-k.

    Example:

        chosen = choose_sequences(splits.ood, sample=3)
        sequence_examples(splits.ood, chosen, {"model": predictions[chosen], "DIRECT": direct[chosen]})

    Args:
        sequences: the split (its bank is the protocol ``all`` bank).
        indices: the chosen sequences (indices into ``sequences``).
        queries: ``{name: (len(indices), D) queries}``, rows in the order of ``indices``.
        top_k: bank rows shown per query.
        index: the bank's index (default: an exact one, built once here).

    Returns:
        ``[{"sequence", "article", "position", "context": [chunk, ...], "next": chunk, "queries": {name:
        see ranked_hits}}, ...]`` with chunks as :meth:`p7keras.data.SequenceSet.chunk` gives them;
        ``position`` is the next chunk's.
    """
    indices = np.asarray(indices, dtype=np.int64)
    targets, contexts = sequences.target_rows[indices], sequences.context_rows[indices]
    index = index or BankIndex.build(sequences.bank)
    hits = {name: ranked_hits(sequences, q, top_k, targets, contexts, index) for name, q in queries.items()}
    examples = []
    for i, index in enumerate(indices):
        following = sequences.chunk(targets[i])
        examples.append({
            "sequence": int(index),
            "article": following["article"],
            "position": following["position"],
            "context": [sequences.chunk(row) for row in contexts[i]],
            "next": following,
            "queries": {name: found[i] for name, found in hits.items()},
        })
    return examples


def passage_context(chunks: list[str], start: int = 0) -> list[dict]:
    """A typed passage's context chunks as :meth:`p7keras.data.SequenceSet.chunk` shapes bank rows (no row,
    no article; ``position`` the chunk's place in the passage, from ``start``)."""
    return [{"row": None, "article": None, "position": start + i, "text": text} for i, text in enumerate(chunks)]


def passage_example(sequences: SequenceSet, chunks: list[str], queries: dict[str, np.ndarray],
                    top_k: int = TOP_K, start: int = 0) -> dict:
    """The example of a typed passage: its last chunks as the context, no true next chunk.

    Args:
        sequences: the bank to search.
        chunks: the context chunks' texts, oldest first.
        queries: ``{name: (1, D) query}``.
        top_k: bank rows shown per query.
        start: the place of the first context chunk among the passage's chunks.

    Returns:
        An example as :func:`sequence_examples` makes them, with ``sequence``, ``article``, ``position``
        and ``next`` ``None`` and the context chunks' ``position`` their place in the passage.
    """
    context = passage_context(chunks, start)
    index = BankIndex.build(sequences.bank)
    hits = {name: ranked_hits(sequences, q, top_k, index=index) for name, q in queries.items()}
    return {
        "sequence": None,
        "article": None,
        "position": None,
        "context": context,
        "next": None,
        "queries": {name: found[0] for name, found in hits.items()},
    }


# -------------------------------------------------------------------------------- formatting
def _hit_line(place: int, hit: dict, width: int) -> str:
    mark = NEXT_MARK if hit["is_next"] else CONTEXT_MARK if hit["in_context"] else " "
    head = f"{place:>3} {hit['cosine']:6.3f} {mark} "
    return head + chunk_label(hit, max(width - len(head), 4))


def _ranks_line(queries: dict[str, dict]) -> str | None:
    """``true next at rank 3 for MODEL (cos 0.612), rank 9 for DIRECT (cos 0.541)``, or None without a target."""
    ranked = [(name, found) for name, found in queries.items() if found["rank"] is not None]
    if not ranked:
        return None
    parts = [f"rank {found['rank']} for {name} (cos {found['cosine_next']:.3f})" for name, found in ranked]
    return "true next at " + ", ".join(parts)


def _side_by_side(columns: list[list[str]], width: int) -> list[str]:
    """Columns of lines printed next to each other, separated by `` | ``, each cut to its share of ``width``."""
    share = max((width - 3 * (len(columns) - 1)) // len(columns), 10)
    lines = []
    for i in range(max(len(c) for c in columns)):
        cells = [(c[i] if i < len(c) else "")[:share].ljust(share) for c in columns]
        lines.append(" | ".join(cells).rstrip())
    return lines


def describe_example(example: dict) -> str:
    """Where an example's sequence is: ``article A, next chunk at position P (sequence S)``.

    Args:
        example: one of :func:`sequence_examples` or :func:`passage_example`.

    Returns:
        One line.
    """
    if example["sequence"] is None:
        return "the typed passage: what comes next?"
    where = f"article {example['article']}, " if example["article"] is not None else ""
    at = f"next chunk at position {example['position']}" if example["position"] is not None else "next chunk"
    return f"{where}{at} (sequence {example['sequence']})"


def format_example(example: dict, number: int = 1, total: int = 1, width: int = WIDTH) -> str:
    """One example as text: the context lines, the true next chunk, the queries' top-k side by side.

    Args:
        example: one of :func:`sequence_examples` (or :func:`passage_example`).
        number, total: its place in the list (for the title).
        width: characters per line.

    Returns:
        Multi-line text.
    """
    indent = "    "
    lines = [f"[{number}/{total}] {describe_example(example)}", "  context (oldest first)"]
    lines += [indent + chunk_label(chunk, width - len(indent)) for chunk in example["context"]]
    if example["next"] is not None:
        lines += ["  true next", indent + chunk_label(example["next"], width - len(indent))]
    queries = example["queries"]
    ranks = _ranks_line(queries)
    if ranks is not None:
        lines.append("  " + shorten(ranks, width - 2))
    share = max((width - 2 - 3 * (len(queries) - 1)) // len(queries), 10)
    columns = [[f"{name} top {len(found['top'])}"] + [_hit_line(i + 1, hit, share) for i, hit in enumerate(found["top"])]
               for name, found in queries.items()]
    lines += ["  " + line for line in _side_by_side(columns, width - 2)]
    return "\n".join(lines)


def format_examples(result: dict, width: int = WIDTH) -> str:
    """The text ``p7keras predict`` prints: a header line, then every example.

    Args:
        result: ``{"model": {...}, "data": {...}, "top_k", "examples": [...]}`` as
            :func:`p7keras.evaluation.predict.predict_examples` returns it.
        width: characters per line.

    Returns:
        Multi-line text.
    """
    model, data, examples = result["model"], result["data"], result["examples"]
    texts = "" if data["texts"] else "; the corpus has no texts: chunks are shown as ARTICLE #POSITION"
    header = (
        f"{model['name']} ({model['kind']}, K = {model['context_length']}) on {data['source']}, split "
        f"{data['split']} (seed {data['seed']}): bank of {data['bank_size']} chunks{texts}\n"
        f"{LEGEND}; cos = cosine with the query"
    )
    parts = [format_example(example, i + 1, len(examples), width) for i, example in enumerate(examples)]
    return "\n\n".join([header, *parts])
