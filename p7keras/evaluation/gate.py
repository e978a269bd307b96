"""The ship gate of spec section 8: does a model beat DIRECT by enough under the ``all`` protocol?

A model passes when ``R@5 >= DIRECT R@5 + 0.10`` and ``MRR@10 >= DIRECT MRR@10 + 0.05`` on at least
200 test sequences (``DEFAULTS.ship_gate_*``). With fewer sequences the gate cannot be decided:
:func:`check_gate_size` raises, or (``strict=False``) :func:`ship_gate` reports ``passed = None``.

Example:

>>> direct = {"R@5": 0.27, "MRR@10": 0.12}
>>> ship_gate({"R@5": 0.40, "MRR@10": 0.18}, direct, num_sequences=500)["passed"]
True
"""

from __future__ import annotations

from p7keras.config import DEFAULTS
from p7keras.evaluation.retrieval import ALL, MRR_CUTOFF

GATE_PROTOCOL = ALL
R5, MRR10 = "R@5", f"MRR@{MRR_CUTOFF}"
# Absorbs float rounding of the gains, so a gain exactly on the threshold passes.
_TOLERANCE = 1e-12


def check_gate_size(num_sequences: int, where: str = "the data") -> None:
    """Raise when there are too few test sequences for a ship decision.

    Args:
        num_sequences: sequences evaluated.
        where: what to name in the message (file and split).

    Raises:
        ValueError: fewer than ``DEFAULTS.ship_gate_min_sequences``.
    """
    needed = DEFAULTS.ship_gate_min_sequences
    if num_sequences < needed:
        raise ValueError(
            f"the ship gate needs at least {needed} test sequences, but {where} has {num_sequences}; "
            "evaluate a larger split (or drop --max-samples), or allow an undecided gate "
            "(--allow-small, evaluate(..., strict_gate=False))"
        )


def ship_gate(model_all: dict, direct_all: dict, num_sequences: int, strict: bool = True) -> dict:
    """The ship-gate verdict of one model against DIRECT, both under the ``all`` protocol.

    Args:
        model_all: the model's ``{"R@5", "MRR@10", ...}`` under ``all``.
        direct_all: DIRECT's metrics under ``all`` on the same sequences.
        num_sequences: how many sequences both were evaluated on.
        strict: raise (True) or report ``passed = None`` (False) when there are too few sequences.

    Returns:
        ``{"passed", "r5_gain", "mrr10_gain", "required_r5_gain", "required_mrr10_gain", "direct_r5",
        "direct_mrr10", "protocol", "sequences"}``; ``passed`` is ``True``, ``False`` or ``None``
        (undecided: fewer than ``DEFAULTS.ship_gate_min_sequences`` sequences).

    Raises:
        ValueError: too few sequences and ``strict``.
    """
    if strict:
        check_gate_size(num_sequences)
    r5_gain = model_all[R5] - direct_all[R5]
    mrr10_gain = model_all[MRR10] - direct_all[MRR10]
    passed = None
    if num_sequences >= DEFAULTS.ship_gate_min_sequences:
        passed = bool(
            r5_gain >= DEFAULTS.ship_gate_r5_gain - _TOLERANCE
            and mrr10_gain >= DEFAULTS.ship_gate_mrr10_gain - _TOLERANCE
        )
    return {
        "passed": passed,
        "r5_gain": float(r5_gain),
        "mrr10_gain": float(mrr10_gain),
        "required_r5_gain": DEFAULTS.ship_gate_r5_gain,
        "required_mrr10_gain": DEFAULTS.ship_gate_mrr10_gain,
        "direct_r5": float(direct_all[R5]),
        "direct_mrr10": float(direct_all[MRR10]),
        "protocol": GATE_PROTOCOL,
        "sequences": int(num_sequences),
    }
