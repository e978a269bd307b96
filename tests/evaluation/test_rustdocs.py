"""The baselines on the real rustdocs corpus equal the reference table of /work/shared/data/README.md."""

import os

import numpy as np
import pytest

from p7keras.data import load_sequences
from p7keras.evaluation import evaluate
from p7keras.evaluation.vectors import centroid

RUSTDOCS = os.environ.get(
    "P7_RUSTDOCS", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "rustdocs_minilm384.npz")
)
pytestmark = [pytest.mark.skipif(not os.path.exists(RUSTDOCS), reason="rustdocs_minilm384.npz not available"), pytest.mark.one_backend]

# README table (K = 5, every window, bank = all 5637 chunks): (R@1, R@5, R@10, MRR@10), 4 decimals.
REFERENCE = {
    ("DIRECT", "all"): (0.0000, 0.2748, 0.3987, 0.1172),
    ("DIRECT", "exclude-context"): (0.1487, 0.3368, 0.4422, 0.2306),
    ("DIRECT", "within-article"): (0.0000, 0.4136, 0.6443, 0.1790),
    ("MEAN", "all"): (0.0047, 0.1166, 0.2986, 0.0590),
    ("MEAN", "exclude-context"): (0.0981, 0.2842, 0.4054, 0.1785),
}
METRICS = ("R@1", "R@5", "R@10", "MRR@10")


@pytest.fixture(scope="module")
def result():
    return evaluate(None, RUSTDOCS, split="all", context_length=5)


def test_baselines_reproduce_the_readme_table(result):
    assert result["data"]["evaluated_sequences"] == 4487 and result["data"]["bank_size"] == 5637
    for (query, protocol), expected in REFERENCE.items():
        got = tuple(round(result["baselines"][query][protocol][m], 4) for m in METRICS)
        assert got == expected, (query, protocol)
    assert round(result["baseline_directional"]["DIRECT"]["cos_next"], 4) == 0.5426  # mean cos(c_K, y)


def test_all_protocol_matches_an_independent_float64_ranking(result):
    seqs = load_sequences(RUSTDOCS, 5)
    bank = seqs.bank.astype(np.float64)
    for name, queries in (("DIRECT", bank[seqs.context_rows[:, -1]]), ("MEAN", centroid(bank[seqs.context_rows]))):
        scores = queries @ bank.T
        ranks = 1 + (scores > scores[np.arange(len(queries)), seqs.target_rows][:, None]).sum(axis=1)
        expected = {f"R@{k}": np.mean(ranks <= k) for k in (1, 5, 10)}
        expected["MRR@10"] = np.mean(np.where(ranks <= 10, 1.0 / ranks, 0.0))
        assert result["baselines"][name]["all"] == pytest.approx(expected, abs=1e-5), name
