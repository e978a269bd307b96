"""Numbers derived from an evaluation result: a model's retrieval gain over the DIRECT baseline.

Example:

>>> scores = lambda r5, mrr10: {"R@5": r5, "MRR@10": mrr10}
>>> result = {"baselines": {"DIRECT": {p: scores(0.5, 0.25) for p in PROTOCOLS}},
...           "models": {"best": {"retrieval": {"all": scores(0.75, 0.5), "exclude-context": scores(0.5, 0.5),
...                                             "within-article": None}}}}
>>> gain_over_direct(result, "best")
{'all': {'R@5': 0.25, 'MRR@10': 0.25}, 'exclude-context': {'R@5': 0.0, 'MRR@10': 0.25}, 'within-article': None}
"""

from __future__ import annotations

from p7keras.evaluation.baselines import DIRECT
from p7keras.evaluation.retrieval import PROTOCOLS

# What the gain line at the top of the report shows, per protocol (issue 11).
GAIN_METRICS = ("R@5", "MRR@10")


def gain_over_direct(result: dict, model: str) -> dict[str, dict[str, float] | None]:
    """A model's retrieval minus DIRECT's, per protocol, for ``GAIN_METRICS`` (None: protocol unavailable).

    Args:
        result: what :func:`p7keras.evaluation.evaluate` returned.
        model: a name of ``result["models"]``.

    Returns:
        protocol -> {metric: gain} or None.
    """
    mine, direct = result["models"][model]["retrieval"], result["baselines"][DIRECT]
    return {
        protocol: None if mine[protocol] is None or direct[protocol] is None
        else {m: float(mine[protocol][m]) - float(direct[protocol][m]) for m in GAIN_METRICS}
        for protocol in PROTOCOLS
    }
