"""The HTML report: the gain over DIRECT per protocol, one line per model at the top (issue 11)."""

import numpy as np

from p7keras.evaluation import evaluate, render_html
from p7keras.evaluation.report import gain_over_direct
from tests.evaluation.conftest import last_context
from tests.helpers import K


def _mean_context(contexts):
    mean = np.asarray(contexts).mean(axis=1)
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


def test_gain_line_at_the_top_holds_the_r5_and_mrr10_differences(corpus):
    result = evaluate({"direct_copy": last_context, "mean_copy": _mean_context}, corpus, context_length=K,
                      strict_gate=False, latency_calls=1)
    html = render_html(result)
    direct, mean = result["baselines"]["DIRECT"], result["baselines"]["MEAN"]
    for protocol in ("all", "exclude-context", "within-article"):
        expected = {m: mean[protocol][m] - direct[protocol][m] for m in ("R@5", "MRR@10")}
        assert gain_over_direct(result, "mean_copy")[protocol] == expected
        assert gain_over_direct(result, "direct_copy")[protocol] == {"R@5": 0.0, "MRR@10": 0.0}
        shown = f"{protocol}: R@5 {expected['R@5']:+.4f} MRR@10 {expected['MRR@10']:+.4f}"
        assert shown in html
    lines = [line for line in html.splitlines() if "gain over DIRECT" in line]
    assert len(lines) == 2 and "<b>direct_copy</b>" in lines[0] and "<b>mean_copy</b>" in lines[1]
    assert "all: R@5 +0.0000 MRR@10 +0.0000" in lines[0]
    assert html.index("gain over DIRECT") < html.index("<h2>")  # at the top


def test_no_gain_line_without_a_model(corpus):
    result = evaluate({}, corpus, context_length=K, strict_gate=False, latency_calls=1)
    assert "gain over DIRECT" not in render_html(result)
