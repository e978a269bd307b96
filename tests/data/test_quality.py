"""The data-quality report of spec section 9."""

import os

import numpy as np
import pytest

from p7keras.data import ChunkCorpus, DataError, SequenceFile, format_report, inspect_data
from p7keras.data.windows import window_rows

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend

RUSTDOCS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "rustdocs_minilm384.npz")
REQUIRED_KEYS = {"chunks", "articles", "sequences", "dim", "context", "cos_last_next", "delta_last_vs_first_mean",
                 "delta_next_vs_prev_mean", "gate_pass_share", "zero_vectors", "non_finite", "non_unit", "verdict"}


def _line_corpus():
    """3 articles of 6 chunks on a slowly turning arc (each its own stretch): cosines known in closed form."""
    angles = np.concatenate([np.arange(6) * 0.3 + 2.0 * article for article in range(3)])
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1).astype(np.float32)
    return ChunkCorpus(vectors, np.repeat(np.arange(3), 6))


def test_report_values_on_known_geometry():
    report = inspect_data(_line_corpus(), context_length=3)
    assert REQUIRED_KEYS <= set(report)
    sizes = [report[key] for key in ("chunks", "articles", "sequences", "dim", "context")]
    assert sizes == [18, 3, 9, 3, 3]
    assert report["cos_last_next"] == pytest.approx(np.cos(0.3), abs=1e-6)
    assert report["delta_last_vs_first_mean"] == pytest.approx(np.cos(0.3) - np.cos(0.9), abs=1e-6)
    assert report["delta_next_vs_prev_mean"] == pytest.approx(0.0, abs=1e-6)
    assert report["gate_pass_share"] == 1.0 and report["verdict"] == "ok"
    assert sum(report["delta_histogram"]["counts"]) == 9


def test_problem_vectors_are_counted_not_raised():
    corpus = _line_corpus()
    vectors = corpus.vectors.copy()
    vectors[2] = 0.0
    vectors[9, 1] = np.nan
    vectors[14] *= 2.0
    report = inspect_data(ChunkCorpus(vectors, corpus.article_ids), context_length=3)
    assert (report["zero_vectors"], report["non_finite"], report["non_unit"]) == (1, 1, 1)
    assert report["sequences"] == 9 and report["skipped_sequences"] == 3 + 3
    assert report["cos_last_next"] == pytest.approx(np.cos(0.3), abs=1e-6)  # non-unit row normalised
    assert report["verdict"] == "unusable"
    text = format_report(report)
    assert "1 non-finite, 1 zero, 1 not unit length" in text and "warning" in text
    assert text.splitlines()[-1] == ("  verdict: unusable: 1 vector holds NaN or inf, 1 vector is zero; training "
                                     "refuses this data")


def test_problem_vectors_in_a_file(tmp_path):
    corpus = _line_corpus()
    vectors = corpus.vectors.copy()
    vectors[3] = 0.0
    path = os.path.join(tmp_path, "bad.npz")
    np.savez(path, vectors=vectors, article_ids=corpus.article_ids)
    assert inspect_data(path, context_length=3)["zero_vectors"] == 1
    np.savez(path, article_ids=corpus.article_ids)
    with pytest.raises(DataError, match="missing key 'vectors'"):  # structural problems still raise
        inspect_data(path)


def test_weak_verdict_without_forward_signal():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    report = inspect_data(ChunkCorpus(vectors, np.repeat(np.arange(10), 20)))
    assert report["gate_pass_share"] < 0.5 and report["verdict"] == "weak"
    assert "verdict: weak" in format_report(report)


def test_sequence_file_report():
    corpus = _line_corpus()
    context_rows, target_rows = window_rows(corpus.article_ids, 3)
    data = SequenceFile(corpus.vectors[context_rows], corpus.vectors[target_rows])
    report = inspect_data(data)
    assert report["articles"] is None and report["context"] == 3 and report["sequences"] == 9
    assert report["chunks"] == 18  # distinct vectors of the contexts and targets: every chunk of the 3 articles
    assert report["vectors_checked"] == 9 and report["distinct_vectors"] == 9  # the targets
    assert report["cos_last_next"] == pytest.approx(np.cos(0.3), abs=1e-6)


def test_text_report_has_a_histogram():
    text = format_report(inspect_data(_line_corpus(), context_length=2))
    assert "histogram of delta last-vs-first" in text and "#" in text and "verdict: ok" in text


@pytest.mark.skipif(not os.path.exists(RUSTDOCS), reason="shared rustdocs corpus not available")
def test_reproduces_the_rustdocs_readme_figures():
    report = inspect_data(RUSTDOCS, context_length=5)
    assert (report["sequences"], report["chunks"], report["articles"], report["dim"]) == (4487, 5637, 230, 384)
    assert report["cos_last_next"] == pytest.approx(0.5426, abs=5e-5)
    assert report["delta_last_vs_first_mean"] == pytest.approx(0.1094, abs=5e-5)
    assert report["gate_pass_share"] == pytest.approx(0.6646, abs=5e-5)
    assert report["delta_next_vs_prev_mean"] == pytest.approx(-0.0078, abs=5e-5)
    assert (report["zero_vectors"], report["non_finite"], report["non_unit"]) == (0, 0, 0)
    assert report["verdict"] == "ok"


def _arc_corpus(angles):
    angles = np.concatenate([np.asarray(angles)] * 3)
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1).astype(np.float32)
    return ChunkCorpus(vectors, np.repeat(np.arange(3), len(angles) // 3))


def _flat_corpus():
    from p7keras.data import make_synthetic_corpus

    return make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16, seed=3, forward_strength=0.0)


def test_flat_next_vs_prev_warns_and_names_the_preset():
    synthetic = _flat_corpus()
    # the same vectors as a corpus of someone's own (its articles named by their ids, another source)
    report = inspect_data(ChunkCorpus(synthetic.vectors, synthetic.article_ids, source="own.npz"))
    assert abs(report["delta_next_vs_prev_mean"]) <= 0.01 and report["flat_next_vs_prev"] is True
    assert report["synthetic"] is False
    text = format_report(report)
    assert ("prev-repel will push the prediction away from the target as much as from the previous chunk"
            in text) and "try p7keras train --preset real-text" in text


def test_flat_synthetic_corpus_does_not_suggest_the_real_text_preset(tmp_path):
    from p7keras.data import load, save_corpus
    from p7keras.data.shard_writer import write_shards

    save_corpus(_flat_corpus(), tmp_path / "synth.npz")
    write_shards(load(tmp_path / "synth.npz"), str(tmp_path / "shards"), shard_chunks=60)
    for data in (_flat_corpus(), str(tmp_path / "synth.npz"), str(tmp_path / "shards")):  # in memory, saved, sharded
        report = inspect_data(data)
        assert report["flat_next_vs_prev"] is True and report["synthetic"] is True
        text = format_report(report)
        assert "prev-repel will push the prediction away" in text
        assert "try p7keras train --preset real-text" not in text
        assert ("this is p7keras's synthetic corpus: `p7keras data synth --forward-strength` sets its forward signal "
                "(--preset real-text is for real text)") in text


def test_next_vs_prev_away_from_zero_gives_no_warning():
    # steps that shrink: the next chunk is closer to c_K than c_K is to c_{K-1} (Δ next-vs-prev > 0.01)
    report = inspect_data(_arc_corpus([0.0, 0.8, 1.3, 1.6, 1.75, 1.8]), context_length=2)
    assert report["delta_next_vs_prev_mean"] > 0.01 and report["flat_next_vs_prev"] is False
    assert "prev-repel" not in format_report(report)


@pytest.mark.parametrize("mean, flat", [(0.0, True), (0.01, True), (-0.01, True), (0.0101, False),
                                        (-0.02, False), (None, False)])
def test_flat_threshold_is_the_defaults(mean, flat):
    from p7keras.data.quality import flat_next_vs_prev

    assert flat_next_vs_prev(mean) is flat


# Degenerate data (issue 22): the figures, the lines training prints, and the verdict.

def _unit_rows(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _random_corpus(articles=20, chunks=20, dim=16, seed=0):
    vectors = _unit_rows(np.random.default_rng(seed).standard_normal((articles * chunks, dim)))
    return ChunkCorpus(vectors, np.repeat(np.arange(articles), chunks), source="random.npz")


def test_healthy_data_has_no_degenerate_problem():
    from p7keras.data import make_synthetic_corpus
    from p7keras.data.quality import degeneracy

    for data in (_random_corpus(), make_synthetic_corpus(num_articles=20, chunks_per_article=20, dim=16)):
        found = degeneracy(data)
        assert (found.rows, found.distinct, found.direct_exact, found.problems()) == (400, 400, 0, [])
        assert not found.identical and found.sequences == 20 * (20 - 5)


def test_identical_vectors_refuse_with_the_figures():
    from p7keras.data.quality import degeneracy

    same = ChunkCorpus(np.tile(_random_corpus().vectors[:1], (400, 1)), np.repeat(np.arange(20), 20), source="c.npz")
    found = degeneracy(same)
    assert found.identical and found.distinct == 1
    assert found.problems() == [(True, "c.npz: 1 distinct vector among 400 rows: every chunk is the same; nothing "
                                       "can be learned and retrieval figures would mean nothing")]
    report = inspect_data(same)
    assert report["verdict"] == "unusable" and report["identical_vectors"] and report["distinct_vectors"] == 1
    text = format_report(report)
    assert "  warning: c.npz: 1 distinct vector among 400 rows: every chunk is the same" in text
    assert "prev-repel" not in text  # the other figures mean nothing here
    assert text.splitlines()[-1] == "  verdict: unusable: every chunk is the same; training refuses this data"


def test_nearly_identical_vectors_refuse_too():
    from p7keras.data.quality import degeneracy

    rng = np.random.default_rng(1)
    base = _random_corpus().vectors[:1]
    nearly = _unit_rows(base + 1e-3 * rng.standard_normal((400, 16)))  # cos with each other ~0.99999
    found = degeneracy(ChunkCorpus(nearly, np.repeat(np.arange(20), 20), source="c.npz"))
    assert found.distinct > 1 and found.identical
    (refuse, line), = found.problems()
    assert refuse and line.startswith(f"c.npz: every vector is within cos 0.9999 of the first ({found.distinct} "
                                      "distinct among 400 rows): the chunks are (nearly) all the same")


def test_direct_perfect_warns():
    from p7keras.data.quality import degeneracy

    # each article drifts by a tiny step per chunk: the next chunk is (nearly) the last context chunk,
    # yet every vector is distinct
    rng = np.random.default_rng(2)
    start = rng.standard_normal((20, 1, 16))
    step = 3e-4 * _unit_rows(rng.standard_normal((20, 16)))[:, None]
    vectors = _unit_rows((start / np.linalg.norm(start, axis=2, keepdims=True) + step * np.arange(20)[None, :, None])
                         .reshape(400, 16))
    found = degeneracy(ChunkCorpus(vectors, np.repeat(np.arange(20), 20), source="d.npz"))
    assert (found.distinct, found.direct_exact, found.sequences, found.identical) == (400, 300, 300, False)
    assert found.problems() == [(False, "d.npz: the next chunk equals the last context chunk in 300 of 300 "
                                        "sequences (100%): DIRECT (reusing the last chunk) is already perfect, so a "
                                        "model can at best match it and retrieval figures will say little")]
    report = inspect_data(ChunkCorpus(vectors, np.repeat(np.arange(20), 20), source="d.npz"))
    assert report["verdict"] == "degenerate" and report["direct_exact_share"] == 1.0
    assert format_report(report).splitlines()[-1] == (
        "  verdict: degenerate: DIRECT is exact for 100% of the sequences; training warns, and retrieval figures "
        "will say little")


def test_few_distinct_vectors_warn():
    from p7keras.data.quality import degeneracy

    once = _random_corpus(articles=10).vectors
    repeated = ChunkCorpus(np.concatenate([once] * 4), np.repeat(np.arange(40), 20), source="r.npz")  # 4 copies
    found = degeneracy(repeated)
    assert (found.rows, found.distinct, found.direct_exact) == (800, 200, 0)
    assert found.problems() == [(False, "r.npz: 200 distinct vectors among 800 rows (25.0%): most chunks repeat "
                                        "others, and a target's duplicates in the bank make retrieval figures "
                                        "unreliable")]
    report = inspect_data(repeated)
    assert report["verdict"] == "degenerate"
    assert "verdict: degenerate: only 25.0% of the vectors are distinct" in format_report(report)


def test_a_sample_is_named_and_problem_rows_are_left_out():
    from p7keras.data.quality import degeneracy

    vectors = np.tile(_random_corpus().vectors[:1], (400, 1))
    vectors[3] = np.nan
    vectors[9] = 0.0
    same = ChunkCorpus(vectors, np.repeat(np.arange(20), 20), source="c.npz")
    found = degeneracy(same)
    assert (found.rows, found.distinct, found.identical) == (398, 1, True)
    sample = degeneracy(same, max_rows=100, seed=4)
    assert sample.sampled and sample.rows <= 100 and sample.sequences <= 100
    assert "1 distinct vector among" in sample.problems()[0][1] and "sampled rows" in sample.problems()[0][1]
    assert inspect_data(same)["verdict"] == "unusable"


def test_sequence_files_count_their_targets():
    from p7keras.data.quality import degeneracy

    corpus = _random_corpus()
    context_rows, target_rows = window_rows(corpus.article_ids, 4)
    data = SequenceFile(corpus.vectors[context_rows], corpus.vectors[target_rows], source="s.npz")
    found = degeneracy(data)
    assert (found.rows, found.distinct, found.sequences, found.direct_exact) == (320, 320, 320, 0)
    echo = SequenceFile(corpus.vectors[context_rows], corpus.vectors[context_rows[:, -1]], source="s.npz")
    assert degeneracy(echo).direct_exact == 320  # every target is its last context chunk
