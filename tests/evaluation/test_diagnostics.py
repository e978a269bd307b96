"""The diagnostic battery on constructed data with known answers: one-hot chunks (every cosine is 0 or 1),
models that return c_K (DIRECT), the centroid (MEAN) or an order-blind max-pool, an oracle of the next chunk
and one off by one; ties in ranks and in coherence; one real p7keras model through a Predictor."""

import json

import numpy as np
import pytest

import p7keras
from p7keras.data import ChunkCorpus, SequenceFile, SequenceSet, load_sequences, make_synthetic_corpus
from p7keras.evaluation.directional import directional_metrics
from p7keras.evaluation.retrieval import rank_queries
from p7keras.evaluation.vectors import centroid, unit_rows
from p7keras.evaluation.diagnostics import (
    MISSING,
    OFFSETS,
    ablated_contexts,
    chunk_links,
    coherence_bins,
    offset_rows,
    offset_sweep,
    order_ablations,
    quantile_bins,
    ranks_under_all,
    rollout,
    run_diagnostics,
    within_article,
)
from tests.evaluation.conftest import tiny_ranker

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

LENGTHS = (7, 10, 6, 9)  # chunks of each one-hot article


# ------------------------------------------------------------------------------------ data, models
def one_hot_corpus(lengths=LENGTHS) -> ChunkCorpus:
    """Chunk i of the corpus is the unit vector e_i: a cosine is 1 for the same chunk, else 0."""
    total = sum(lengths)
    return ChunkCorpus(np.eye(total, dtype=np.float32), np.repeat(np.arange(len(lengths)), lengths))


def one_hot(k: int = 3, lengths=LENGTHS) -> SequenceSet:
    return load_sequences(one_hot_corpus(lengths), k)


@pytest.fixture(scope="module")
def synthetic() -> SequenceSet:
    """Chunks that drift forward: c_K is closer to the target than the older chunks."""
    return load_sequences(make_synthetic_corpus(num_articles=12, chunks_per_article=14, dim=16, seed=5), 4)


def direct(contexts):
    return np.asarray(contexts)[:, -1]


def mean(contexts):
    return centroid(contexts).astype(np.float32)


def max_pool(contexts):
    """Ignores the order of its context: the normalised element-wise maximum."""
    return unit_rows(np.asarray(contexts).max(axis=1)).astype(np.float32)


def next_chunk_oracle(contexts):
    """On one-hot data, e_i -> e_(i+1): the chunk after c_K, i.e. the target."""
    return np.roll(np.asarray(contexts)[:, -1], 1, axis=1)


def after_target(contexts):
    """The prototype's off-by-one "next": the chunk after the target (e_i -> e_(i+2))."""
    return np.roll(np.asarray(contexts)[:, -1], 2, axis=1)


def expected_offset_counts(lengths, k: int, offsets=OFFSETS) -> list[int]:
    """How many windows of K + 1 in articles of ``lengths`` have a chunk at each offset from the target."""
    counts = []
    for offset in offsets:
        counts.append(sum(1 for n in lengths for target in range(k, n) if 0 <= target + offset < n))
    return counts


# ------------------------------------------------------------------------------------ offset sweep
@pytest.mark.parametrize("k", [2, 3])
def test_offset_zero_is_the_target_and_minus_one_is_c_k(k):
    seqs = one_hot(k)
    for model, hit in ((direct, -1), (next_chunk_oracle, 0), (after_target, 1)):
        summary, per_sequence = offset_sweep(seqs, model(seqs.contexts))
        assert summary["mean_cos"] == [1.0 if o == hit else 0.0 for o in OFFSETS]
        assert summary["count"] == expected_offset_counts(LENGTHS, k)
        assert "offset 0 is the true next chunk" in summary["convention"]
        assert np.isnan(per_sequence["offset_sweep/+3"]).sum() == len(seqs) - summary["count"][-1]


def test_offset_rows_follow_reading_order_inside_the_article():
    seqs = one_hot(2)
    rows = offset_rows(seqs, OFFSETS)
    position = seqs.bank_positions[seqs.target_rows]
    length = np.asarray(LENGTHS)[seqs.article_ids]
    for column, offset in enumerate(OFFSETS):
        inside = (position + offset >= 0) & (position + offset < length)
        np.testing.assert_array_equal(rows[:, column], np.where(inside, seqs.target_rows + offset, MISSING))
    np.testing.assert_array_equal(rows[:, OFFSETS.index(0)], seqs.target_rows)
    np.testing.assert_array_equal(rows[:, OFFSETS.index(-1)], seqs.context_rows[:, -1])


@pytest.mark.parametrize("with_ids", [True, False])
def test_sequence_files_find_the_same_chunks_from_their_windows(with_ids):
    k = 2
    corpus_seqs = one_hot(k)
    upstream = SequenceFile(corpus_seqs.contexts, corpus_seqs.targets, corpus_seqs.article_ids if with_ids else None)
    file_seqs = load_sequences(upstream, k)
    assert file_seqs.bank_positions is None
    # one-hot: a bank vector names its corpus chunk
    as_chunk = lambda seqs, rows: np.where(rows == MISSING, MISSING, seqs.bank[rows].argmax(axis=-1))  # noqa: E731
    np.testing.assert_array_equal(as_chunk(file_seqs, offset_rows(file_seqs)),
                                  as_chunk(corpus_seqs, offset_rows(corpus_seqs)))


def test_a_repeated_vector_has_no_neighbour_rather_than_a_wrong_one():
    # sequence-file windows 0 1 | 2 and 1 3 | 0: row 1 is followed by 2 in one and by 3 in the other
    seqs = SequenceSet(np.eye(4, dtype=np.float32), np.array([[0, 1], [1, 3]]), np.array([2, 0]))
    following, preceding = chunk_links(seqs)
    assert following.tolist() == [1, MISSING, MISSING, 0] and preceding.tolist() == [3, 0, 1, 1]


def test_offset_zero_equals_the_directional_cos_next(synthetic):
    predictions = max_pool(synthetic.contexts)
    summary, per_sequence = offset_sweep(synthetic, predictions)
    directional, _ = directional_metrics(predictions, synthetic.bank, synthetic.target_rows, synthetic.context_rows)
    assert summary["mean_cos"][OFFSETS.index(0)] == pytest.approx(directional["cos_next"], abs=1e-12)
    assert summary["mean_cos"][OFFSETS.index(-1)] == pytest.approx(directional["cos_prev"], abs=1e-12)


# ------------------------------------------------------------------------------------ ranks
def test_within_article_ranks_count_only_strictly_higher_rows_and_ties_for_the_query():
    e = np.eye(3, dtype=np.float32)
    mix = unit_rows(np.array([[0.6, 0.8, 0.0]])).astype(np.float32)
    # article 0: e0, e1, e1 (a duplicate of the target), e2, mix; article 1: mix, e1
    bank = np.concatenate([e[[0, 1, 1, 2]], mix, mix, e[[1]]])
    seqs = SequenceSet(bank, np.array([[0, 3], [0, 3], [5, 5]]), np.array([1, 2, 6]), np.array([0, 0, 1]),
                       np.array([0, 0, 0, 0, 0, 1, 1]))
    summary, per_sequence = within_article(seqs, bank[[1, 4, 6]])
    # q = e1: ties with its duplicate (rank 1); q = mix: only mix is higher (the duplicate ties); other article
    assert per_sequence["within_article/rank"].tolist() == [1, 2, 1]
    assert summary["R@1"] == pytest.approx(2 / 3) and summary["MRR@10"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert summary["mean_article_chunks"] == pytest.approx((5 + 5 + 2) / 3)


def test_a_prediction_equal_to_its_target_has_rank_one_under_round_off():
    """The prototype compared a matrix product with a separately computed cosine: 18-26 % of ranks off by one."""
    rng = np.random.default_rng(0)
    bank = unit_rows(rng.standard_normal((600, 384))).astype(np.float32)
    ids = np.repeat(np.arange(6), 100)
    targets = rng.integers(0, 600, size=300)
    seqs = SequenceSet(bank, np.stack([targets - 1, targets], axis=1) % 600, targets, ids[targets], ids)
    _, per_sequence = within_article(seqs, bank[targets])
    assert (per_sequence["within_article/rank"] == 1).all()
    assert (ranks_under_all(bank[targets], seqs) == 1).all()


def test_ranks_with_duplicated_rows_match_one_matrix_product_and_the_evaluator():
    rng = np.random.default_rng(1)
    distinct = unit_rows(rng.standard_normal((40, 8))).astype(np.float32)
    bank = distinct[rng.integers(0, 40, size=200)]  # every vector about five times
    targets = rng.integers(0, 200, size=120)
    seqs = SequenceSet(bank, np.stack([targets, targets], axis=1), targets)
    queries = bank[rng.integers(0, 200, size=120)] + 0.01 * rng.standard_normal((120, 8)).astype(np.float32)
    scores = queries @ bank.T
    expected = 1 + (scores > scores[np.arange(120), targets][:, None]).sum(axis=1)
    np.testing.assert_array_equal(ranks_under_all(queries, seqs), expected)
    np.testing.assert_array_equal(ranks_under_all(queries, seqs),
                                  rank_queries(queries, bank, targets, seqs.context_rows)["all"])


# ------------------------------------------------------------------------------------ ablations
def test_ablated_contexts_follow_their_definitions(synthetic):
    rows, k = synthetic.context_rows, synthetic.context_length
    ablations, skipped = ablated_contexts(synthetic, seed=3)
    assert skipped == {}
    assert not (ablations["shuffle"] == rows).all(axis=1).any()  # never the identity
    np.testing.assert_array_equal(np.sort(ablations["shuffle"], axis=1), np.sort(rows, axis=1))
    np.testing.assert_array_equal(ablations["shuffle"], ablated_contexts(synthetic, seed=3)[0]["shuffle"])
    assert not (ablations["shuffle"] == ablated_contexts(synthetic, seed=4)[0]["shuffle"]).all()
    np.testing.assert_array_equal(ablations["reverse"], rows[:, ::-1])
    np.testing.assert_array_equal(ablations["leave_out_1"], rows[:, [1, 1, 2, 3]])
    np.testing.assert_array_equal(ablations["leave_out_3"], rows[:, [0, 0, 1, 3]])
    np.testing.assert_array_equal(ablations[f"leave_out_{k}"], rows[:, [0, 0, 1, 2]])
    np.testing.assert_array_equal(ablations["repeat_last"], np.repeat(rows[:, -1:], k, axis=1))
    foreign = ablations["foreign_last"]
    np.testing.assert_array_equal(foreign[:, :-1], rows[:, :-1])
    assert (synthetic.bank_article_ids[foreign[:, -1]] != synthetic.article_ids).all()
    assert np.isin(foreign[:, -1], rows[:, -1]).all()  # the c_K of another sequence
    assert len(np.unique(synthetic.bank_article_ids[foreign[:, -1]])) > 5  # drawn from many articles


def test_shuffling_never_gives_the_identity_even_for_k_two():
    seqs = one_hot(2)
    np.testing.assert_array_equal(ablated_contexts(seqs)[0]["shuffle"], seqs.context_rows[:, ::-1])


def test_direct_is_changed_by_order_and_by_its_last_chunk_only(synthetic):
    summary, per_sequence = order_ablations(synthetic, direct, seed=0)
    ablations, bank, targets = summary["ablations"], synthetic.bank, synthetic.target_rows
    cos = lambda rows: np.einsum("nd,nd->n", unit_rows(bank[rows]), unit_rows(bank[targets]))  # noqa: E731
    reference = cos(synthetic.context_rows[:, -1])
    assert summary["reference"]["cos_target"] == pytest.approx(reference.mean(), abs=1e-12)
    for name in ("leave_out_1", "leave_out_2", "leave_out_3", "repeat_last"):  # c_K stays the newest
        assert ablations[name]["delta_cos_target"] == 0.0 and ablations[name]["delta_R@5"] == 0.0
    np.testing.assert_allclose(per_sequence["ablations/reverse/cos_target"], cos(synthetic.context_rows[:, 0]),
                               atol=1e-12)
    np.testing.assert_allclose(per_sequence["ablations/leave_out_4/cos_target"],
                               cos(synthetic.context_rows[:, -2]), atol=1e-12)
    for name in ("shuffle", "reverse", "leave_out_4", "foreign_last"):  # the drift makes older chunks worse
        assert ablations[name]["delta_cos_target"] < -0.02, name
        assert ablations[name]["delta_R@5"] < 0, name
    assert ablations["foreign_last"]["cos_target"] < ablations["leave_out_4"]["cos_target"]


@pytest.mark.parametrize("model", [mean, max_pool], ids=["centroid", "max_pool"])
def test_a_model_that_ignores_order_is_unchanged_by_shuffle_and_reverse(synthetic, model):
    summary, per_sequence = order_ablations(synthetic, model, seed=0)
    reference = ranks_under_all(model(synthetic.contexts), synthetic)
    for name in ("shuffle", "reverse"):
        assert summary["ablations"][name]["delta_cos_target"] == 0.0
        assert summary["ablations"][name]["delta_R@5"] == 0.0
        np.testing.assert_array_equal(per_sequence[f"ablations/{name}/rank_all"], reference)
    for name in ("leave_out_1", "repeat_last", "foreign_last"):  # what the context holds still matters
        assert summary["ablations"][name]["delta_cos_target"] != 0.0, name


def test_ablations_without_article_ids_skip_the_foreign_chunk_and_say_why(synthetic):
    no_ids = SequenceSet(synthetic.bank, synthetic.context_rows, synthetic.target_rows)
    summary, per_sequence = order_ablations(no_ids, direct)
    assert "foreign_last" not in summary["ablations"] and "article ids" in summary["skipped"]["foreign_last"]
    assert not any(name.startswith("ablations/foreign_last") for name in per_sequence)
    one_article = SequenceSet(synthetic.bank, synthetic.context_rows, synthetic.target_rows,
                              np.zeros(len(synthetic), np.int64), np.zeros(len(synthetic.bank), np.int64))
    assert order_ablations(one_article, direct)[0]["skipped"] == {"foreign_last": "the data has one article"}


# ------------------------------------------------------------------------------------ rollout
def test_rollout_of_the_next_chunk_oracle_stays_on_the_true_chunks():
    seqs, k = one_hot(3), 3
    summary, per_sequence = rollout(seqs, next_chunk_oracle, horizon=4)
    assert summary["mean_cos"] == [1.0, 1.0, 1.0, 1.0]
    assert summary["count"] == expected_offset_counts(LENGTHS, k, offsets=range(4))
    assert summary["steps"] == [1, 2, 3, 4] and "step 1" in summary["convention"]
    assert rollout(seqs, after_target, horizon=2)[0]["mean_cos"] == [0.0, 0.0]  # off by one: never the truth
    assert np.isnan(per_sequence["rollout/4"]).sum() == len(seqs) - summary["count"][3]


def test_rollout_step_one_is_cos_to_target_and_direct_repeats_itself(synthetic):
    predictions = direct(synthetic.contexts)
    sweep = offset_sweep(synthetic, predictions, range(5))[1]
    summary, per_sequence = rollout(synthetic, direct, horizon=5)
    # DIRECT appends c_K and predicts c_K again: step h is c_K's cosine to the chunk h - 1 after the target
    for h in range(1, 6):
        np.testing.assert_allclose(per_sequence[f"rollout/{h}"], sweep[f"offset_sweep/{h - 1:+d}"], atol=1e-6)
    given = rollout(synthetic, max_pool, horizon=2, predictions=max_pool(synthetic.contexts))[1]
    computed = rollout(synthetic, max_pool, horizon=2, batch_size=7)[1]
    cos_target = offset_sweep(synthetic, max_pool(synthetic.contexts), (0,))[1]["offset_sweep/+0"]
    np.testing.assert_array_equal(given["rollout/1"], cos_target)
    np.testing.assert_allclose(computed["rollout/2"], given["rollout/2"], atol=1e-6)


# ------------------------------------------------------------------------------------ coherence
def test_quantile_bins_keep_ties_together_and_leave_no_bin_empty():
    rng = np.random.default_rng(0)
    values = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], p=[0.05, 0.1, 0.15, 0.7], size=500)
    for bins in (1, 2, 4, 8):
        which = quantile_bins(values, bins)
        present = np.bincount(which)
        assert (present > 0).all() and len(present) <= bins
        for b in range(len(present) - 1):
            assert values[which == b].max() < values[which == b + 1].min()
    distinct = rng.permutation(400) / 400.0
    assert np.bincount(quantile_bins(distinct, 4)).tolist() == [100, 100, 100, 100]


def test_coherence_bins_with_heavy_ties():
    e = np.eye(2, dtype=np.float32)
    patterns = np.array([[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]])  # coherence 1, 0, 2/3, 2/3
    context_rows = np.repeat(patterns, [70, 5, 15, 10], axis=0)
    seqs = SequenceSet(e, context_rows, np.zeros(len(context_rows), np.int64))
    predictions = e[context_rows[:, -1]]  # DIRECT: cos to the target e0 is 1 when c_K is e0
    summary, per_sequence = coherence_bins(seqs, predictions, bins=4)
    rows = summary["bins"]
    assert [b["count"] for b in rows] == [5, 25, 70] and summary["requested_bins"] == 4
    assert [(b["coherence_min"], b["coherence_max"]) for b in rows] == [(0.0, 0.0), (2 / 3, 2 / 3), (1.0, 1.0)]
    assert [b["cos_target"] for b in rows] == [0.0, pytest.approx(0.0), 1.0]
    assert [b["R@5"] for b in rows] == [1.0, 1.0, 1.0]  # a bank of two rows: every rank <= 2
    np.testing.assert_allclose(per_sequence["coherence/value"][[0, 70, 75, 90]], [1, 0, 2 / 3, 2 / 3])


# ------------------------------------------------------------------------------------ the battery
def test_run_diagnostics_is_json_ready_and_aligned_with_the_sequences(synthetic):
    calls = []

    def counted(contexts):
        calls.append(len(contexts))
        return max_pool(contexts)

    result = run_diagnostics(synthetic, counted, horizon=3, bins=3, batch_size=50)
    assert max(calls) <= 50
    per_sequence = result.pop("per_sequence")
    json.dumps(result, allow_nan=False)
    assert result["sequences"] == len(synthetic)
    assert set(result) == {"sequences", "offset_sweep", "within_article", "ablations", "rollout", "coherence"}
    assert all(np.shape(a) == (len(synthetic),) for a in per_sequence.values())
    np.testing.assert_array_equal(per_sequence["rollout/1"], per_sequence["cos_target"])
    np.testing.assert_array_equal(per_sequence["offset_sweep/+0"], per_sequence["cos_target"])
    np.testing.assert_array_equal(per_sequence["rank_all"], ranks_under_all(max_pool(synthetic.contexts), synthetic))
    same = run_diagnostics(synthetic, max_pool, horizon=3, bins=3, ranks_all=per_sequence["rank_all"])
    assert same["ablations"] == result["ablations"] and same["coherence"] == result["coherence"]


def test_run_diagnostics_without_article_ids_and_bad_settings(synthetic):
    no_ids = load_sequences(SequenceFile(synthetic.contexts, synthetic.targets), synthetic.context_length)
    result = run_diagnostics(no_ids, direct, horizon=2)
    assert result["within_article"]["available"] is False and "article ids" in result["within_article"]["note"]
    assert result["offset_sweep"]["mean_cos"][OFFSETS.index(-1)] == pytest.approx(1.0, abs=1e-6)
    json.dumps({key: value for key, value in result.items() if key != "per_sequence"}, allow_nan=False)

    def never(contexts):
        raise AssertionError("settings are checked before predicting")

    for setting, message in (({"horizon": 0}, "horizon"), ({"bins": 0}, "bins"), ({"batch_size": 0}, "batch_size")):
        with pytest.raises(ValueError, match=message):
            run_diagnostics(synthetic, never, **setting)
    with pytest.raises(ValueError, match="one rank per sequence"):
        run_diagnostics(synthetic, direct, ranks_all=np.ones(3, np.int64))


def test_a_p7keras_model_through_a_predictor():
    seqs = load_sequences(make_synthetic_corpus(num_articles=8, chunks_per_article=12, dim=16, seed=2), 4)
    predictor = p7keras.Predictor.from_model(tiny_ranker(k=4, d=16), batch_size=32)
    result = run_diagnostics(seqs, predictor.predict, horizon=3, batch_size=32)
    per_sequence = result.pop("per_sequence")
    json.dumps(result, allow_nan=False)
    predictions = predictor.predict(seqs.contexts)
    np.testing.assert_allclose(per_sequence["cos_target"],
                               np.einsum("nd,nd->n", unit_rows(predictions), unit_rows(seqs.targets)), atol=1e-5)
    np.testing.assert_array_equal(per_sequence["rollout/1"], per_sequence["cos_target"])
    assert result["rollout"]["count"] == expected_offset_counts([12] * 8, 4, offsets=range(3))
    assert all(np.isfinite(per_sequence[f"ablations/{name}/cos_target"]).all()
               for name in result["ablations"]["ablations"])
    again = run_diagnostics(seqs, predictor.predict, horizon=3, batch_size=32)
    for name, ablation in result["ablations"]["ablations"].items():
        assert again["ablations"]["ablations"][name]["cos_target"] == pytest.approx(ablation["cos_target"], abs=1e-5)
