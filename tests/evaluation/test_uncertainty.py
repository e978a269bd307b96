"""Paired, article-clustered bootstrap intervals and permutation p-values on data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from p7keras.evaluation import uncertainty
from p7keras.evaluation.uncertainty import (
    clustered_gains,
    clusters,
    judgement,
    paired_gain,
    sequence_scores,
)

pytestmark = pytest.mark.one_backend  # numpy only


def _articles(num_articles: int, per_article: int) -> np.ndarray:
    return np.repeat(np.arange(num_articles) * 7 + 3, per_article)  # ids need not be 0..A-1


def test_identical_predictions_give_the_interval_zero_zero_and_p_one():
    ranks = np.random.default_rng(0).integers(1, 50, 600)
    scores = sequence_scores(ranks, margins=np.linspace(-0.2, 0.4, 600))
    out = clustered_gains({m: scores[m] - scores[m] for m in scores}, clusters(600, _articles(30, 20))[0],
                          resamples=300)
    for metric, row in out.items():
        assert (row["gain"], row["low"], row["high"], row["half_width"]) == (0.0, 0.0, 0.0, 0.0), metric
        assert row["p_value"] == 1.0
        assert row["judgement"] == "no evidence of a gain"


def test_a_constant_shift_is_recovered_exactly_with_a_zero_width_interval():
    base = np.random.default_rng(1).random(400)
    out = paired_gain(base + 0.03, base, _articles(20, 20), resamples=400)
    assert out["gain"] == pytest.approx(0.03)
    assert out["low"] == pytest.approx(0.03) and out["high"] == pytest.approx(0.03)
    assert out["p_value"] == pytest.approx(1 / 401)  # no sign flip reaches the observed total
    assert out["judgement"] == "learned gain: yes"
    assert (out["unit"], out["clusters"]) == ("article", 20)


def test_direct_plus_known_hits_gives_the_exact_recall_gain():
    """A model that is DIRECT except on 60 of 600 sequences, where it moves the target from rank 8 to 2."""
    direct = np.full(600, 8)
    model = direct.copy()
    model[::10] = 2
    ours, theirs = sequence_scores(model), sequence_scores(direct)
    out = clustered_gains({m: ours[m] - theirs[m] for m in ours}, clusters(600, _articles(60, 10))[0], resamples=500)
    assert out["R@5"]["gain"] == pytest.approx(0.1)
    assert out["R@10"]["gain"] == 0.0 and out["R@10"]["low"] == 0.0 and out["R@10"]["high"] == 0.0
    assert out["MRR@10"]["gain"] == pytest.approx(0.1 * (1 / 2 - 1 / 8))
    # every article holds exactly one improved sequence: every resample has the same mean
    assert out["R@5"]["low"] == pytest.approx(0.1) and out["R@5"]["high"] == pytest.approx(0.1)


def test_per_article_intervals_are_wider_than_per_sequence_ones_when_articles_differ():
    """Each article is all better or all worse: sequences of one article are not independent evidence."""
    rng = np.random.default_rng(2)
    effect = np.repeat(rng.choice([-1.0, 1.0], 40), 25) + 0.05 * rng.standard_normal(1000)
    by_article = paired_gain(effect, np.zeros(1000), _articles(40, 25), resamples=1000)
    by_sequence = paired_gain(effect, np.zeros(1000), np.arange(1000), resamples=1000)
    assert by_article["gain"] == pytest.approx(by_sequence["gain"])
    assert by_article["half_width"] > 3 * by_sequence["half_width"]
    # with 40 articles a mean effect of about +-1/sqrt(40) is noise; per sequence it would look "significant"
    assert by_article["p_value"] > by_sequence["p_value"]


def test_a_model_worse_than_direct_is_judged_worse():
    rng = np.random.default_rng(3)
    base = rng.random(500)
    out = paired_gain(base - 0.05 + 0.01 * rng.standard_normal(500), base, _articles(25, 20), resamples=500)
    assert out["high"] < 0 and out["judgement"] == "worse than DIRECT"
    assert paired_gain(base - 0.05, base, _articles(25, 20), resamples=50,
                       baseline_name="MEAN")["judgement"] == "worse than MEAN"


def test_the_interval_covers_zero_under_no_difference():
    """Noise only (article effects of either sign): the interval spans 0 and the p-value is large."""
    rng = np.random.default_rng(4)
    noise = np.repeat(rng.standard_normal(50), 20) + rng.standard_normal(1000)
    out = paired_gain(noise - noise.mean(), np.zeros(1000), _articles(50, 20), resamples=1000)
    assert out["low"] < 0 < out["high"]
    assert out["p_value"] > 0.5
    assert out["judgement"] == "no evidence of a gain"


def test_without_article_ids_blocks_of_consecutive_sequences_are_the_unit():
    labels, unit = clusters(70, None, block=32)
    assert unit == "block"
    assert np.bincount(labels).tolist() == [32, 32, 6]
    out = paired_gain(np.ones(70), np.zeros(70), None, resamples=100)
    assert (out["unit"], out["clusters"]) == ("block", 3)


def test_seeded_and_the_same_in_memory_bounded_chunks(monkeypatch):
    rng = np.random.default_rng(5)
    diffs = {"a": rng.standard_normal(300), "b": rng.standard_normal(300)}
    labels = clusters(300, _articles(30, 10))[0]
    whole = clustered_gains(diffs, labels, resamples=200, seed=9)
    assert clustered_gains(diffs, labels, resamples=200, seed=9) == whole
    assert clustered_gains(diffs, labels, resamples=200, seed=10) != whole
    monkeypatch.setattr(uncertainty, "_MAX_DRAWS", 70)  # two resamples per draw
    chunked = clustered_gains(diffs, labels, resamples=200, seed=9)
    # The same draws; only the matrix products' summation order differs with the chunk's row count (BLAS
    # kernels block by shape: on an AVX-512 CPU a bound moved in its last bit), so equal to rounding.
    assert chunked.keys() == whole.keys()
    for name in whole:
        assert chunked[name].keys() == whole[name].keys()
        for key, value in whole[name].items():
            if isinstance(value, float):
                assert chunked[name][key] == pytest.approx(value, rel=1e-12, abs=1e-15), (name, key)
            else:
                assert chunked[name][key] == value, (name, key)


@pytest.mark.parametrize("low, high, expected", [
    (0.001, 0.02, "learned gain: yes"), (0.0, 0.02, "no evidence of a gain"),
    (-0.02, 0.0, "no evidence of a gain"), (-0.02, -0.001, "worse than DIRECT"),
])
def test_judgement_reads_the_bounds(low, high, expected):
    assert judgement(low, high) == expected


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"article_ids must have shape \(3,\), got \(2,\)"):
        clusters(3, np.array([1, 2]))
    with pytest.raises(ValueError, match="resamples must be >= 1, got 0"):
        paired_gain(np.ones(3), np.ones(3), resamples=0)
    with pytest.raises(ValueError, match=r"two \(N,\) arrays of one shape, got \(3,\) and \(2,\)"):
        paired_gain(np.ones(3), np.ones(2))


def test_means_skip_missing_values_and_resample_articles():
    from p7keras.evaluation.uncertainty import clustered_means

    labels = clusters(600, _articles(30, 20))[0]
    article_level = np.repeat(np.linspace(0.2, 0.8, 30), 20)
    values = article_level.copy()
    values[::3] = np.nan  # a third of the sequences lack the value (e.g. a chunk beyond the article)
    out = clustered_means({"cos": values, "none": np.full(600, np.nan)}, labels, resamples=500)
    assert out["cos"]["count"] == 400
    assert out["cos"]["mean"] == pytest.approx(np.nanmean(values))
    assert out["cos"]["low"] < out["cos"]["mean"] < out["cos"]["high"]
    assert out["cos"]["high"] - out["cos"]["low"] > 0.1  # 30 articles spread over 0.2..0.8: not a tight mean
    assert out["none"] == {"mean": None, "low": None, "high": None, "count": 0}
