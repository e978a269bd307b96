"""Readable examples (issue 12): choosing sequences, top-k with marks and ranks, the printed text."""

import dataclasses

import numpy as np
import pytest

from p7keras.data import load_sequences
from p7keras.evaluation.examples import (
    best_and_worst,
    choose_sequences,
    chunk_label,
    find_sequence,
    format_example,
    sequence_examples,
    shorten,
)
from p7keras.evaluation.retrieval import rank_queries
from tests.helpers import K

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


@pytest.fixture(scope="module")
def seqs(corpus):
    texts = np.array([f"text of chunk {i} " + "word " * 30 for i in range(corpus.num_chunks)])
    return load_sequences(dataclasses.replace(corpus, texts=texts), K, split="all")


def _queries(seqs, chosen):
    direct = seqs.bank[seqs.context_rows[chosen, -1]]
    noisy = direct + 0.3 * np.random.default_rng(0).standard_normal(direct.shape).astype(np.float32)
    return {"model": noisy, "DIRECT": direct}


def test_examples_hold_context_next_and_the_top_k_with_ranks_and_marks(seqs):
    chosen = np.arange(0, len(seqs), 17)
    queries = _queries(seqs, chosen)
    examples = sequence_examples(seqs, chosen, queries, top_k=6)
    expected = rank_queries(queries["model"], seqs.bank, seqs.target_rows[chosen], seqs.context_rows[chosen])["all"]
    for example, index, rank in zip(examples, chosen, expected):
        assert [c["row"] for c in example["context"]] == seqs.context_rows[index].tolist()
        assert example["next"]["row"] == seqs.target_rows[index] and example["next"]["text"].startswith("text of")
        found = example["queries"]["model"]
        assert found["rank"] == rank and len(found["top"]) == 6
        cosines = [hit["cosine"] for hit in found["top"]]
        assert cosines == sorted(cosines, reverse=True)
        marked = [place + 1 for place, hit in enumerate(found["top"]) if hit["is_next"]]
        assert marked == ([rank] if rank <= 6 else [])
        direct_top = example["queries"]["DIRECT"]["top"][0]
        assert direct_top["row"] == seqs.context_rows[index, -1] and direct_top["in_context"]
        assert direct_top["cosine"] == pytest.approx(1.0, abs=1e-5)


def test_choose_by_article_and_position_or_at_random(seqs):
    index = find_sequence(seqs, "synthetic-00002", 7)
    chunk = seqs.chunk(seqs.target_rows[index])
    assert (chunk["article"], chunk["position"]) == ("synthetic-00002", 7)
    assert find_sequence(seqs, "2", 7) == index  # the id works too
    drawn = choose_sequences(seqs, sample=5, seed=1)
    assert len(drawn) == 5 and drawn.tolist() == sorted(set(drawn.tolist()))
    assert drawn.tolist() == choose_sequences(seqs, sample=5, seed=1).tolist()
    assert len(choose_sequences(seqs, sample=10**6)) == len(seqs)


@pytest.mark.parametrize("article, position, message", [
    ("synthetic-00002", 3, (f"article 'synthetic-00002' has next chunks at positions {K}..11 "
                            f"(each after K = {K} context chunks); got position 3")),
    ("synthetic-00002", 12, "got position 12"),
    ("nope", 5, "no article 'nope' in split 'all' (30 articles with sequences"),
])
def test_a_missing_article_or_position_is_one_line(seqs, article, position, message):
    with pytest.raises(ValueError) as info:
        choose_sequences(seqs, article, position)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_best_and_worst_never_overlap():
    best, worst = best_and_worst(np.array([3, 1, 2]), 2)
    assert best.tolist() == [1, 2] and worst.tolist() == [0]


def test_labels_and_the_printed_example(seqs, corpus):
    assert shorten("a  b\n\nc " + "x" * 50, 12) == "a b c xxx..."
    assert chunk_label({"row": 4, "article": "a.md", "position": 2, "text": None}) == "a.md #2"
    assert chunk_label({"row": 4, "article": None, "position": None, "text": None}) == "bank row 4"
    chosen = np.array([5])
    example = sequence_examples(seqs, chosen, _queries(seqs, chosen), top_k=3)[0]
    text = format_example(example, 1, 1, width=100)
    lines = text.splitlines()
    assert lines[0].startswith("[1/1] article synthetic-00000, next chunk at position 9")
    assert all(len(line) <= 100 for line in lines)
    assert sum(line.startswith("    text of chunk") for line in lines) == K + 1  # K context lines, the true next
    assert "model top 3" in text and "DIRECT top 3" in text and "true next at rank" in text
    plain = sequence_examples(load_sequences(corpus, K), chosen, _queries(seqs, chosen), top_k=3)[0]
    assert "    synthetic-00000 #5" in format_example(plain).splitlines()
