"""Semantic anchoring: keep predictions in the context's neighbourhood (spec section 2)."""

from __future__ import annotations

import math

import keras
from keras import ops

from p7keras import ops as p7ops
from p7keras.config import DEFAULTS, anchor_problems, raise_problems


def lambda_to_logit(anchor_lambda: float, anchor_lambda_min: float, anchor_lambda_max: float) -> float:
    """θ such that ``min + (max − min)·sigmoid(θ) == anchor_lambda`` (a bound moves 1e-3 inside).

    Args:
        anchor_lambda: the wanted λ, inside ``[anchor_lambda_min, anchor_lambda_max]``.
        anchor_lambda_min: lower bound of λ.
        anchor_lambda_max: upper bound of λ.

    Returns:
        The logit θ.

    Raises:
        ValueError: when the bounds are not ``0 <= min < max <= 1`` or λ lies outside them.
    """
    raise_problems(anchor_problems(anchor_lambda, anchor_lambda_min, anchor_lambda_max))
    low, high = float(anchor_lambda_min), float(anchor_lambda_max)
    offset = DEFAULTS.anchor_bound_offset
    value = min(max(float(anchor_lambda), low + offset), high - offset)
    fraction = (value - low) / (high - low)
    return math.log(fraction / (1.0 - fraction))


@keras.saving.register_keras_serializable(package="p7keras")
class SemanticAnchor(keras.layers.Layer):
    """Blends a raw prediction with its context: ``q = normalize(λ·q_raw + (1−λ)·a)``.

    ``a`` is the context centroid (mode ``"mean"``) or a softmax-weighted, normalised mix of the
    context vectors scored by a ``Dense(1)`` over each encoded position (mode ``"attention"``).
    λ is ``low + (high − low)·sigmoid(θ)`` with θ a weight: trained when ``anchor_learnable``, fixed
    otherwise, so λ always stays inside ``[low, high]``.

    Example:

        anchor = SemanticAnchor(anchor_mode="mean", anchor_lambda=0.8)
        q = anchor(q_raw, contexts)          # (B, D) unit vectors
        float(anchor.anchor_lambda)          # 0.8 (before training)

    Args:
        anchor_mode: ``"mean"`` or ``"attention"``.
        anchor_lambda: starting (or fixed) λ; a value on a bound starts 1e-3 inside it.
        anchor_lambda_min: lower bound ``lo`` of λ.
        anchor_lambda_max: upper bound ``hi`` of λ.
        anchor_learnable: train θ (True) or keep λ fixed (False).

    Call args:
        query_raw: ``(B, D)`` raw prediction.
        context: ``(B, K, D)`` context chunks.
        encoded: ``(B, K, E)`` encoded positions; required in ``"attention"`` mode.

    Returns:
        Unit ``(B, D)`` predictions.
    """

    # Argument names of files written before the spec's names were used throughout.
    _RENAMED = {"mode": "anchor_mode", "lambda_min": "anchor_lambda_min", "lambda_max": "anchor_lambda_max",
                "learnable": "anchor_learnable"}

    def __init__(
        self,
        anchor_mode: str = DEFAULTS.anchor_mode,
        anchor_lambda: float = DEFAULTS.anchor_lambda,
        anchor_lambda_min: float = DEFAULTS.anchor_lambda_min,
        anchor_lambda_max: float = DEFAULTS.anchor_lambda_max,
        anchor_learnable: bool = DEFAULTS.anchor_learnable,
        **kwargs,
    ):
        super().__init__(**kwargs)
        raise_problems(anchor_problems(anchor_lambda, anchor_lambda_min, anchor_lambda_max, anchor_mode))
        self.anchor_mode = anchor_mode
        self.anchor_lambda_min = float(anchor_lambda_min)
        self.anchor_lambda_max = float(anchor_lambda_max)
        self.anchor_learnable = bool(anchor_learnable)
        self.initial_lambda = float(anchor_lambda)
        self.lambda_logit = self.add_weight(
            name="lambda_logit",
            shape=(),
            initializer=keras.initializers.Constant(
                lambda_to_logit(self.initial_lambda, self.anchor_lambda_min, self.anchor_lambda_max)
            ),
            trainable=self.anchor_learnable,
        )
        self.score = (keras.layers.Dense(1, name="anchor_score", dtype=self.dtype_policy)
                      if anchor_mode == "attention" else None)

    @classmethod
    def from_config(cls, config):
        config = {cls._RENAMED.get(key, key): value for key, value in config.items()}
        return cls(**config)

    def build(self, query_raw_shape, context_shape=None, encoded_shape=None):
        if self.score is not None:
            if encoded_shape is None:
                raise ValueError("SemanticAnchor(anchor_mode='attention') needs the encoded positions")
            self.score.build(encoded_shape)
        self.built = True

    @property
    def anchor_lambda(self):
        """The current λ as a 0-d tensor."""
        low, high = self.anchor_lambda_min, self.anchor_lambda_max
        return low + (high - low) * ops.sigmoid(self.lambda_logit)

    def call(self, query_raw, context, encoded=None):
        if self.anchor_mode == "mean":
            anchor = p7ops.centroid(context)
        else:
            if encoded is None:
                raise ValueError("SemanticAnchor(anchor_mode='attention') needs the encoded positions")
            weights = ops.softmax(ops.squeeze(self.score(encoded), axis=-1), axis=1)
            anchor = p7ops.l2_normalize(ops.einsum("bk,bkd->bd", weights, context))
        return p7ops.blend(query_raw, anchor, self.anchor_lambda)

    def compute_output_shape(self, query_raw_shape, context_shape=None, encoded_shape=None):
        return query_raw_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            anchor_mode=self.anchor_mode,
            anchor_lambda=self.initial_lambda,
            anchor_lambda_min=self.anchor_lambda_min,
            anchor_lambda_max=self.anchor_lambda_max,
            anchor_learnable=self.anchor_learnable,
        )
        return config
