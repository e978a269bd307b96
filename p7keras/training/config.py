"""``TrainConfig``: every setting of a training run, its defaults (from ``DEFAULTS``) and its checks."""

from __future__ import annotations

import dataclasses

from p7keras.config import ANCHOR_MODES, DEFAULTS, GATE_MODES

MODEL_TYPES = ("transformer", "lstm")
DEVICES = ("auto", "cpu", "gpu", "metal")
BACKENDS = ("tensorflow", "jax", "torch")


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; the ``p7keras train`` flags map one to one onto these fields.

    Example:

    >>> config = TrainConfig(context_length=7, margin=0.10, anchor_lambda=0.9, epochs=12)
    >>> config.check()

    ``data`` is one file split by article; ``train``/``val`` are separate files; with neither, the run
    uses the embedded synthetic corpus (``p7keras.data.make_synthetic_corpus()``).
    """

    data: str | None = None
    train: str | None = None
    val: str | None = None
    context_length: int = DEFAULTS.context_length
    model_type: str = "transformer"
    d_model: int = DEFAULTS.d_model
    nhead: int = DEFAULTS.num_heads
    num_layers: int | None = None  # 4 for the transformer, 2 for the LSTM
    ff_dim: int = DEFAULTS.ff_dim
    dropout: float = DEFAULTS.dropout
    anchor_lambda: float = DEFAULTS.anchor_lambda
    anchor_lambda_min: float = DEFAULTS.anchor_lambda_min
    anchor_lambda_max: float = DEFAULTS.anchor_lambda_max
    anchor_learnable: bool = DEFAULTS.anchor_learnable
    anchor_mode: str = DEFAULTS.anchor_mode
    w_rank: float = DEFAULTS.w_rank
    w_margin: float = DEFAULTS.w_margin
    w_teacher: float = DEFAULTS.w_teacher
    margin: float = DEFAULTS.margin
    temperature: float = DEFAULTS.temperature
    gate_threshold: float = DEFAULTS.gate_threshold
    gate_weak_weight: float = DEFAULTS.gate_weak_weight
    gate_mode: str = DEFAULTS.gate_mode
    floor_threshold: float = DEFAULTS.floor_threshold
    hard_negatives: int = DEFAULTS.hard_negatives
    batch_size: int = DEFAULTS.batch_size
    epochs: int = DEFAULTS.epochs
    lr: float = DEFAULTS.learning_rate
    weight_decay: float = DEFAULTS.weight_decay
    warmup_epochs: int = DEFAULTS.warmup_epochs
    device: str = "auto"
    backend: str | None = None
    seed: int = 0
    exp_name: str = "p7"
    output_dir: str = "saved_models"
    export: bool = True

    def check(self) -> None:
        """Raises ``ValueError`` naming the first impossible setting, before any work starts."""
        problems = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        need(self.data is None or self.train is None, "give either --data or --train/--val, not both")
        need(self.val is None or self.train is not None, "--val needs --train")
        need(self.context_length >= 2, f"context length K must be >= 2, got {self.context_length}")
        need(self.model_type in MODEL_TYPES, f"model type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        need(self.d_model >= 1, f"d_model must be >= 1, got {self.d_model}")
        need(self.nhead >= 1 and self.d_model % self.nhead == 0,
             f"d_model={self.d_model} must be divisible by nhead={self.nhead}")
        need(self.num_layers is None or self.num_layers >= 1, f"num_layers must be >= 1, got {self.num_layers}")
        need(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        low, high = self.anchor_lambda_min, self.anchor_lambda_max
        need(0.0 <= low < high <= 1.0, f"λ range must satisfy 0 <= min < max <= 1, got [{low}, {high}]")
        need(low <= self.anchor_lambda <= high, f"λ={self.anchor_lambda} is outside its range [{low}, {high}]")
        need(self.anchor_mode in ANCHOR_MODES, f"anchor mode must be one of {ANCHOR_MODES}, got {self.anchor_mode!r}")
        for name in ("w_rank", "w_margin", "w_teacher", "margin", "floor_threshold"):
            need(getattr(self, name) >= 0, f"{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        need(self.w_rank + self.w_margin > 0, "w-rank and w-margin cannot both be 0")
        need(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        need(0.0 <= self.gate_weak_weight <= 1.0, f"gate weak weight must be in [0, 1], got {self.gate_weak_weight}")
        need(self.gate_mode in GATE_MODES, f"gate mode must be one of {GATE_MODES}, got {self.gate_mode!r}")
        need(self.hard_negatives >= 0, f"hard negatives must be >= 0, got {self.hard_negatives}")
        need(self.batch_size >= 2,
             f"batch size must be >= 2 (in-batch negatives need other samples), got {self.batch_size}")
        need(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        need(self.lr > 0, f"learning rate must be > 0, got {self.lr}")
        need(self.weight_decay >= 0, f"weight decay must be >= 0, got {self.weight_decay}")
        need(self.warmup_epochs >= 0, f"warmup epochs must be >= 0, got {self.warmup_epochs}")
        need(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")
        need(self.backend is None or self.backend in BACKENDS,
             f"backend must be one of {BACKENDS}, got {self.backend!r}")
        need(bool(self.exp_name) and "/" not in self.exp_name and self.exp_name not in (".", ".."),
             f"exp name must be a plain folder-name prefix, got {self.exp_name!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def model_kwargs(self) -> dict:
        """Constructor arguments of the model this config describes."""
        kwargs = dict(
            context_length=self.context_length,
            d_model=self.d_model,
            dropout=self.dropout,
            anchor_lambda=self.anchor_lambda,
            anchor_lambda_min=self.anchor_lambda_min,
            anchor_lambda_max=self.anchor_lambda_max,
            anchor_learnable=self.anchor_learnable,
            anchor_mode=self.anchor_mode,
            warmup_epochs=self.warmup_epochs,
            temperature=self.temperature,
            margin=self.margin,
            w_rank=self.w_rank,
            w_margin=self.w_margin,
            w_teacher=self.w_teacher,
            floor_threshold=self.floor_threshold,
            gate_threshold=self.gate_threshold,
            gate_weak_weight=self.gate_weak_weight,
            gate_mode=self.gate_mode,
        )
        if self.num_layers is not None:
            kwargs["num_layers"] = self.num_layers
        if self.model_type == "transformer":
            kwargs.update(num_heads=self.nhead, ff_dim=self.ff_dim)
        return kwargs

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
