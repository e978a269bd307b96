"""The spec's defaults, in one place.

Every default of ``P7_SPEC.md`` (model shape, loss weights, gate, teacher, optimiser, monitoring
thresholds) lives here. Models, losses, callbacks, the CLI and the tuner read these values instead of
repeating literals, so a default changes in exactly one line.

Example:

>>> from p7keras.config import DEFAULTS
>>> DEFAULTS.temperature
0.07
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class P7Defaults:
    """Product defaults of the P7 directional ranker (spec sections 2-6)."""

    # Data / windows (sections 5, 9)
    context_length: int = 5
    hard_negatives: int = 2
    batch_size: int = 64
    epochs: int = 10

    # Models (section 2)
    d_model: int = 512
    num_heads: int = 8
    num_layers: int = 4
    ff_dim: int = 2048
    dropout: float = 0.1
    lstm_layers: int = 2

    # Semantic anchoring (section 2)
    anchor_lambda: float = 0.8
    anchor_lambda_min: float = 0.6
    anchor_lambda_max: float = 0.9
    anchor_learnable: bool = True
    anchor_mode: str = "mean"
    anchor_bound_offset: float = 1e-3

    # Losses (section 4)
    temperature: float = 0.07
    margin: float = 0.07
    w_rank: float = 1.0
    w_margin: float = 0.5
    w_teacher: float = 0.2
    warmup_epochs: int = 2
    floor_threshold: float = 0.20
    gate_threshold: float = 0.03
    gate_weak_weight: float = 0.25
    gate_mode: str = "last-vs-first"
    duplicate_cosine: float = 0.9999

    # Optimiser (section 5)
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    global_clipnorm: float = 1.0

    # Monitoring and verdict (section 6)
    drift_warn_cos_anchor: float = 0.10
    drift_stop_cos_anchor: float = 0.05
    teacher_overpull_cos_next: float = 0.7
    poor_data_gate_weight: float = 0.5
    lambda_bound_tolerance: float = 0.01
    # teacher_violations at the end of warm-up still >= this share of their value at its start
    teacher_still_high_share: float = 0.5
    pass_margin: float = 0.20
    pass_cos_next: float = 0.45
    pass_cos_anchor: float = 0.40
    marginal_margin: float = 0.10
    marginal_cos_next: float = 0.35
    marginal_cos_anchor: float = 0.30

    # Evaluation (section 8)
    ship_gate_r5_gain: float = 0.10
    ship_gate_mrr10_gain: float = 0.05
    ship_gate_min_sequences: int = 200
    # A good model's directional test (p7keras.verdict.good_model_checks): cos_prev at most this;
    # cos_next and margin share the PASS levels above.
    good_model_cos_prev_max: float = 0.20


DEFAULTS = P7Defaults()

ANCHOR_MODES = ("mean", "attention")
GATE_MODES = ("last-vs-first", "next-vs-prev")

# The batch contract between ``p7keras.data`` and the models' train/test steps.
CONTEXT_KEY = "context"  # (B, K, D) float32, unit rows, oldest chunk first
TARGET_KEY = "target"  # (B, D) float32, the next chunk
HARD_NEGATIVES_KEY = "hard_negatives"  # (B, M, D) float32, optional
