"""Semantic anchoring: keep predictions in the context's neighbourhood (spec section 2)."""

from __future__ import annotations

import math

import keras
from keras import ops

from p7keras import ops as p7ops
from p7keras.config import ANCHOR_MODES, DEFAULTS


def lambda_to_logit(value: float, low: float, high: float) -> float:
    """θ such that ``low + (high − low)·sigmoid(θ) == value`` (a bound moves 1e-3 inside).

    Args:
        value: the wanted λ, inside ``[low, high]``.
        low: lower bound of λ.
        high: upper bound of λ.

    Returns:
        The logit θ.

    Raises:
        ValueError: when the bounds are not ``0 <= low < high <= 1`` or ``value`` lies outside them.
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"anchor λ bounds must satisfy 0 <= low < high <= 1, got [{low}, {high}]")
    if not low <= value <= high:
        raise ValueError(f"anchor_lambda={value} is outside its range [{low}, {high}]")
    offset = DEFAULTS.anchor_bound_offset
    value = min(max(value, low + offset), high - offset)
    fraction = (value - low) / (high - low)
    return math.log(fraction / (1.0 - fraction))


@keras.saving.register_keras_serializable(package="p7keras")
class SemanticAnchor(keras.layers.Layer):
    """Blends a raw prediction with its context: ``q = normalize(λ·q_raw + (1−λ)·a)``.

    ``a`` is the context centroid (mode ``"mean"``) or a softmax-weighted, normalised mix of the
    context vectors scored by a ``Dense(1)`` over each encoded position (mode ``"attention"``).
    λ is ``low + (high − low)·sigmoid(θ)`` with θ a weight: trained when ``learnable``, fixed
    otherwise, so λ always stays inside ``[low, high]``.

    Example:

    >>> anchor = SemanticAnchor(mode="mean", anchor_lambda=0.8)
    >>> q = anchor(q_raw, contexts)  # doctest: +SKIP
    >>> float(anchor.anchor_lambda)  # doctest: +SKIP
    0.8

    Args:
        mode: ``"mean"`` or ``"attention"``.
        anchor_lambda: starting (or fixed) λ; a value on a bound starts 1e-3 inside it.
        lambda_min: lower bound ``lo`` of λ.
        lambda_max: upper bound ``hi`` of λ.
        learnable: train θ (True) or keep λ fixed (False).

    Call args:
        query_raw: ``(B, D)`` raw prediction.
        context: ``(B, K, D)`` context chunks.
        encoded: ``(B, K, E)`` encoded positions; required in ``"attention"`` mode.

    Returns:
        Unit ``(B, D)`` predictions.
    """

    def __init__(
        self,
        mode: str = DEFAULTS.anchor_mode,
        anchor_lambda: float = DEFAULTS.anchor_lambda,
        lambda_min: float = DEFAULTS.anchor_lambda_min,
        lambda_max: float = DEFAULTS.anchor_lambda_max,
        learnable: bool = DEFAULTS.anchor_learnable,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in ANCHOR_MODES:
            raise ValueError(f"anchor mode must be one of {ANCHOR_MODES}, got {mode!r}")
        self.mode = mode
        self.lambda_min = float(lambda_min)
        self.lambda_max = float(lambda_max)
        self.learnable = bool(learnable)
        self._initial_logit = lambda_to_logit(float(anchor_lambda), self.lambda_min, self.lambda_max)
        self.initial_lambda = float(anchor_lambda)
        self.lambda_logit = self.add_weight(
            name="lambda_logit",
            shape=(),
            initializer=keras.initializers.Constant(self._initial_logit),
            trainable=self.learnable,
        )
        self.score = keras.layers.Dense(1, name="anchor_score") if mode == "attention" else None

    def build(self, query_raw_shape, context_shape=None, encoded_shape=None):
        if self.score is not None:
            if encoded_shape is None:
                raise ValueError("SemanticAnchor(mode='attention') needs the encoded positions")
            self.score.build(encoded_shape)
        self.built = True

    @property
    def anchor_lambda(self):
        """The current λ as a 0-d tensor."""
        return self.lambda_min + (self.lambda_max - self.lambda_min) * ops.sigmoid(self.lambda_logit)

    def call(self, query_raw, context, encoded=None):
        if self.mode == "mean":
            anchor = p7ops.centroid(context)
        else:
            if encoded is None:
                raise ValueError("SemanticAnchor(mode='attention') needs the encoded positions")
            weights = ops.softmax(ops.squeeze(self.score(encoded), axis=-1), axis=1)
            anchor = p7ops.l2_normalize(ops.einsum("bk,bkd->bd", weights, context))
        return p7ops.blend(query_raw, anchor, self.anchor_lambda)

    def compute_output_shape(self, query_raw_shape, context_shape=None, encoded_shape=None):
        return query_raw_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            mode=self.mode,
            anchor_lambda=self.initial_lambda,
            lambda_min=self.lambda_min,
            lambda_max=self.lambda_max,
            learnable=self.learnable,
        )
        return config
