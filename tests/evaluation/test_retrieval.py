"""Blocked ranking: hand-computed ranks, ties, each protocol, blocks vs. one big matrix, metrics."""

import numpy as np
import pytest

from p7keras.evaluation.retrieval import (
    count_higher,
    rank_queries,
    recall_curve,
    retrieval_metrics,
)

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend

# Two articles of three chunks. Scores of q0 = [1, 1, 0]: r0 1, r1 1 (a tie), r2 0, r3 1.4, r4 1.4, r5 0.6.
# Scores of q1 = [0, 0, 1]: r0 0, r1 0, r2 1, r3 0, r4 0, r5 0.8.
BANK = np.array(
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0], [0.8, 0.6, 0], [0, 0.6, 0.8]], dtype=np.float32
)
ARTICLES = np.array([0, 0, 0, 1, 1, 1])
QUERIES = np.array([[1, 1, 0], [0, 0, 1]], dtype=np.float32)
TARGETS = np.array([0, 5])
CONTEXTS = np.array([[1, 3], [3, 4]])


def test_hand_computed_ranks_count_strictly_higher_rows_only():
    ranks = rank_queries(QUERIES, BANK, TARGETS, CONTEXTS, ARTICLES)
    # q0 -> r0: r3, r4 higher (r1 ties and does not count) -> 3; without its context (r1, r3) -> 2;
    # inside article 0 (r0, r1, r2) nothing is strictly higher -> 1.
    # q1 -> r5: only r2 higher -> 2; its context r3, r4 is lower -> 2; inside article 1 -> 1.
    assert ranks["all"].tolist() == [3, 2]
    assert ranks["exclude-context"].tolist() == [2, 2]
    assert ranks["within-article"].tolist() == [1, 1]


def test_within_article_is_none_without_article_ids():
    ranks = rank_queries(QUERIES, BANK, TARGETS, CONTEXTS, None)
    assert ranks["within-article"] is None
    assert retrieval_metrics(ranks["within-article"]) is None and recall_curve(None, 5) is None


def test_repeated_context_rows_are_subtracted_once_and_the_target_never():
    # Upstream files can repeat a vector: a context row equal to the target row, or twice in a context.
    counts = count_higher(QUERIES[:1], BANK, TARGETS[:1], np.array([[3, 3, 0]]))
    assert counts.above.tolist() == [2]
    assert counts.context_above.tolist() == [1]


def _brute_force(queries, bank, targets, contexts, articles):
    scores = queries @ bank.T
    t = scores[np.arange(len(queries)), targets][:, None]
    higher = scores > t
    in_context = np.zeros_like(higher)
    np.put_along_axis(in_context, contexts, True, axis=1)
    same_article = articles[None, :] == articles[targets][:, None]
    return {
        "all": 1 + higher.sum(1),
        "exclude-context": 1 + (higher & ~in_context).sum(1),
        "within-article": 1 + (higher & same_article).sum(1),
    }


@pytest.mark.parametrize("query_block, bank_block", [(8, 7), (1, 1000), (1000, 5), (3, 50)])
def test_blocks_give_the_ranks_of_one_big_matrix(query_block, bank_block):
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((50, 6)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    articles = np.repeat(np.arange(5), 10)
    starts = rng.integers(0, 7, size=37) + 10 * rng.integers(0, 5, size=37)
    contexts = starts[:, None] + np.arange(3)
    targets = starts + 3
    queries = (bank[targets] + 0.8 * rng.standard_normal((37, 6))).astype(np.float32)
    got = rank_queries(queries, bank, targets, contexts, articles, query_block, bank_block)
    expected = _brute_force(queries, bank, targets, contexts, articles)
    for protocol, ranks in expected.items():
        np.testing.assert_array_equal(got[protocol], ranks, err_msg=protocol)


def test_metrics_and_recall_curve():
    ranks = np.array([1, 2, 5, 10, 11])
    metrics = retrieval_metrics(ranks)
    assert metrics == pytest.approx({"R@1": 0.2, "R@5": 0.6, "R@10": 0.8, "MRR@10": (1 + 0.5 + 0.2 + 0.1) / 5})
    assert list(metrics) == ["R@1", "R@5", "R@10", "MRR@10"]
    assert recall_curve(ranks, 5) == pytest.approx([0.2, 0.4, 0.4, 0.4, 0.6])
    with pytest.raises(ValueError, match="at least one"):
        retrieval_metrics(np.array([], dtype=int))



def test_top_k_rows_match_a_full_sort_and_the_ranks_in_blocks():
    from p7keras.evaluation.retrieval import count_higher, top_k_rows

    rng = np.random.default_rng(0)
    bank = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((50, 8)).astype(np.float32)
    rows, scores = top_k_rows(queries, bank, 7, query_block=16, bank_block=64)
    full = queries @ bank.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, axis=1), rtol=1e-6)
    # The target at place r of the list has rank r (count_higher's counting).
    assert (count_higher(queries, bank, rows[:, 4], query_block=16, bank_block=64).above == 4).all()
    assert top_k_rows(queries, bank[:3], 10)[0].shape == (50, 3)
