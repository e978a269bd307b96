"""Ship gate, directional test and the baseline queries."""

import numpy as np
import pytest

from p7keras.config import DEFAULTS
from p7keras.evaluation.baselines import baseline_queries
from p7keras.evaluation.directional import directional_metrics
from p7keras.evaluation.gate import check_gate_size, ship_gate

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend

DIRECT = {"R@1": 0.0, "R@5": 0.30, "R@10": 0.40, "MRR@10": 0.12}
ENOUGH = DEFAULTS.ship_gate_min_sequences


def test_gate_passes_on_both_gains():
    gate = ship_gate({"R@5": 0.45, "MRR@10": 0.20}, DIRECT, ENOUGH)
    assert gate["passed"] is True
    assert gate["r5_gain"] == pytest.approx(0.15) and gate["mrr10_gain"] == pytest.approx(0.08)
    assert gate["direct_r5"] == 0.30 and gate["protocol"] == "all"


@pytest.mark.parametrize("model", [{"R@5": 0.45, "MRR@10": 0.16}, {"R@5": 0.39, "MRR@10": 0.30}],
                         ids=["mrr-short", "r5-short"])
def test_gate_fails_when_either_gain_is_short(model):
    assert ship_gate(model, DIRECT, ENOUGH)["passed"] is False


def test_gain_exactly_on_the_threshold_passes():
    model = {
        "R@5": DIRECT["R@5"] + DEFAULTS.ship_gate_r5_gain,
        "MRR@10": DIRECT["MRR@10"] + DEFAULTS.ship_gate_mrr10_gain,
    }
    assert ship_gate(model, DIRECT, ENOUGH)["passed"] is True


def test_too_few_sequences_is_an_error_or_undecided():
    with pytest.raises(ValueError, match=rf"at least {ENOUGH} test sequences.* has {ENOUGH - 1}"):
        ship_gate({"R@5": 0.9, "MRR@10": 0.9}, DIRECT, ENOUGH - 1)
    with pytest.raises(ValueError, match="val.npz"):
        check_gate_size(10, "val.npz")
    undecided = ship_gate({"R@5": 0.9, "MRR@10": 0.9}, DIRECT, ENOUGH - 1, strict=False)
    assert undecided["passed"] is None and undecided["r5_gain"] == pytest.approx(0.6)


def test_directional_metrics_by_hand():
    bank = np.eye(3, dtype=np.float32)
    # Context (e0, e1), next e2. q = (0, 1, 1)/sqrt2: cos_next = cos_prev = 1/sqrt2, margin 0,
    # centroid (1, 1, 0)/sqrt2 -> cos_anchor 1/2.
    q = np.array([[0, 1, 1]], dtype=np.float32) * 3.0  # length does not matter
    summary, margins = directional_metrics(q, bank, np.array([2]), np.array([[0, 1]]))
    assert summary == pytest.approx({"cos_next": 2**-0.5, "cos_prev": 2**-0.5, "margin": 0.0, "cos_anchor": 0.5})
    assert margins.shape == (1,)


def test_baseline_queries():
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((10, 4)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    contexts = np.array([[0, 1, 2], [5, 6, 7]])
    queries = baseline_queries(bank, contexts)
    np.testing.assert_array_equal(queries["DIRECT"], bank[[2, 7]])  # bit for bit
    mean = bank[contexts].mean(axis=1)
    np.testing.assert_allclose(queries["MEAN"], mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-6)
    assert queries["MEAN"].dtype == np.float32
