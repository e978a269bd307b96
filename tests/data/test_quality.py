"""The data-quality report of spec section 9."""

import os

import numpy as np
import pytest

from p7keras.data import ChunkCorpus, DataError, SequenceFile, format_report, inspect_data
from p7keras.data.windows import window_rows

RUSTDOCS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "rustdocs_minilm384.npz")
REQUIRED_KEYS = {"chunks", "articles", "sequences", "dim", "context", "cos_last_next", "delta_last_vs_first_mean",
                 "delta_next_vs_prev_mean", "gate_pass_share", "zero_vectors", "non_finite", "non_unit", "verdict"}


def _line_corpus():
    """3 articles of 6 chunks on a slowly turning arc: cosines known in closed form."""
    angles = np.concatenate([np.arange(6) * 0.3] * 3)
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
    text = format_report(report)
    assert "1 non-finite, 1 zero, 1 not unit length" in text and "warning" in text


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
    assert report["chunks"] == 6  # distinct vectors: the 3 articles repeat the same 6 angles
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


def test_flat_next_vs_prev_warns_and_names_the_preset():
    from p7keras.data import make_synthetic_corpus

    report = inspect_data(make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16, seed=3,
                                                forward_strength=0.0))
    assert abs(report["delta_next_vs_prev_mean"]) <= 0.01 and report["flat_next_vs_prev"] is True
    text = format_report(report)
    assert ("prev-repel will push the prediction away from the target as much as from the previous chunk"
            in text) and "p7keras train --preset real-text" in text


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
