"""What ``p7keras bench`` measures and at which sizes: :class:`BenchConfig` and the random unit data.

This module imports numpy only, so the command line checks its flags before Keras is imported.

Example:

    from p7keras.bench.config import BenchConfig
    config = BenchConfig(dim=64, d_model=64, num_layers=1)
    config.describe(("train",))["d_model"]  # 64
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from p7keras.config import DEFAULTS, PRECISIONS, onnx_problems, quantize_problems, raise_problems

PARTS = ("train", "predict", "retrieval", "pipeline")
DEFAULT_PARTS = ("train", "predict")  # what ``p7keras bench`` measured before it had ``--what``
ALL = "all"
MODEL_TYPES = ("transformer", "lstm")
MODEL_PARTS = ("train", "predict")  # the parts that build a model

_MAY_BE_ZERO = ("hard_negatives", "seed", "prototype_rounds")  # int fields that may be 0 (none is negative)

# The prototype-comparable "bench configuration" (README, issue 12): D 768, K 5, d_model 512, 4 layers, batch 64.
BENCH_DIM = 768


def _size(parts: tuple[str, ...] | None = None, **kwargs) -> dataclasses.Field:
    """A field of :class:`BenchConfig` that sizes ``parts`` (every part when ``None``)."""
    return dataclasses.field(metadata={"parts": parts or PARTS}, **kwargs)


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """The sizes of every benchmark part; each part reads the fields it needs.

    Attributes:
        model_type: one of ``p7keras.config.MODEL_TYPES`` (train, predict).
        dim: D, the embedding width (every part).
        context_length: K (every part).
        d_model: model width (train, predict).
        num_layers: encoder layers (train, predict).
        batch_size: B (train, pipeline).
        hard_negatives: M per sample (train, pipeline).
        jit_compile: passed to ``compile``; ``"auto"`` is the model's choice (:mod:`p7keras.jit_compile`).
        steps_per_execution: passed to ``compile`` (1, the default of ``p7keras train``; must be 1 on PyTorch).
        train_steps: batches per timed training epoch.
        timed_epochs: training epochs timed after the untimed (compilation) epoch.
        predict_calls: single-sequence latency samples.
        predict_batch: B of the batch prediction throughput (predict).
        predict_saved_model: also time the exported SavedModel served by TensorFlow (predict; needs TensorFlow).
        predict_onnx: also time the model written as ONNX (int8 with ``quantize="int8"``) and run by ONNX Runtime
            (predict; needs the ``onnx`` extra).
        predict_compile_single: predict one sequence through a call compiled for it (``torch.compile`` on
            PyTorch, XLA on TensorFlow; :class:`p7keras.models.inference.CompiledPredict`; predict).
        retrieval_queries: N queries ranked against the bank.
        retrieval_bank: V bank rows (articles of ``RETRIEVAL_CHUNKS_PER_ARTICLE`` chunks).
        pipeline_articles: articles of the synthetic corpus the input pipeline batches.
        pipeline_epochs: input-pipeline epochs timed.
        seed: data and weight seed (every part).
        prototype_rounds: rounds of the side-by-side comparison with the plain-PyTorch reference step
            (:mod:`p7keras.bench.reference_torch`); 0 measures p7keras alone (train).
        prototype_threads: ``torch.set_num_threads`` of the reference (train).
        precision: the model's Keras dtype policy, one of ``p7keras.config.PRECISIONS`` (train, predict).
        quantize: predict with a reduced-precision copy, ``"int8"`` or ``"bfloat16"`` (predict; None: as built).
    """

    model_type: str = _size(MODEL_PARTS, default="transformer")
    dim: int = _size(default=BENCH_DIM)
    context_length: int = _size(default=DEFAULTS.context_length)
    d_model: int = _size(MODEL_PARTS, default=DEFAULTS.d_model)
    num_layers: int = _size(MODEL_PARTS, default=DEFAULTS.num_layers)
    batch_size: int = _size(("train", "pipeline"), default=DEFAULTS.batch_size)
    hard_negatives: int = _size(("train", "pipeline"), default=DEFAULTS.hard_negatives)
    jit_compile: bool | str = _size(MODEL_PARTS, default="auto")
    steps_per_execution: int = _size(MODEL_PARTS, default=1)
    train_steps: int = _size(("train",), default=20)
    timed_epochs: int = _size(("train",), default=2)
    predict_calls: int = _size(("predict",), default=200)
    predict_batch: int = _size(("predict",), default=1024)
    predict_saved_model: bool = _size(("predict",), default=True)
    predict_onnx: bool = _size(("predict",), default=False)
    predict_compile_single: bool = _size(("predict",), default=False)
    retrieval_queries: int = _size(("retrieval",), default=10_000)
    retrieval_bank: int = _size(("retrieval",), default=100_000)
    pipeline_articles: int = _size(("pipeline",), default=400)
    pipeline_epochs: int = _size(("pipeline",), default=2)
    seed: int = _size(default=0)
    prototype_rounds: int = _size(("train",), default=0)
    prototype_threads: int = _size(("train",), default=2)
    precision: str = _size(MODEL_PARTS, default="float32")
    quantize: str | None = _size(("predict",), default=None)

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {list(MODEL_TYPES)}, got {self.model_type!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        raise_problems(quantize_problems(self.quantize))
        if self.predict_onnx:
            raise_problems(onnx_problems(self.quantize))
        if self.jit_compile not in ("auto", True, False):
            raise ValueError(f"jit_compile must be 'auto', True or False, got {self.jit_compile!r}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and field.name not in _MAY_BE_ZERO and value < 1:
                raise ValueError(f"{field.name} must be >= 1, got {value}")
        for name in _MAY_BE_ZERO:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.prototype_rounds and self.model_type != "transformer":
            raise ValueError(f"the prototype comparison needs model_type 'transformer', got {self.model_type!r}")
        if self.retrieval_bank <= self.context_length:
            raise ValueError(
                f"retrieval_bank must be > context_length ({self.context_length}), got {self.retrieval_bank}"
            )

    def describe(self, parts: Iterable[str]) -> dict:
        """The fields that size ``parts``, for the report and the JSON file.

        Args:
            parts: names from :data:`PARTS`.

        Returns:
            ``{field name: value}`` in field order.
        """
        parts = set(parts)
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if parts & set(field.metadata["parts"])
        }

    def is_bench_configuration(self) -> bool:
        """Whether the model part is the prototype-comparable bench configuration.

        Returns:
            True for a transformer with D 768, K 5, d_model 512, 4 layers, batch 64 (the defaults).
        """
        return (self.model_type, self.dim, self.context_length, self.d_model, self.num_layers,
                self.batch_size) == ("transformer", BENCH_DIM, DEFAULTS.context_length, DEFAULTS.d_model,
                                     DEFAULTS.num_layers, DEFAULTS.batch_size)


def resolve_parts(what: str | Iterable[str] | None) -> tuple[str, ...]:
    """The parts to measure, in :data:`PARTS` order.

    Args:
        what: a part name, ``"all"``, several of them, or ``None`` for :data:`DEFAULT_PARTS`.

    Returns:
        A tuple of names from :data:`PARTS`.

    Example:

        resolve_parts(["pipeline", "train"])  # ("train", "pipeline")
    """
    if what is None:
        return DEFAULT_PARTS
    names = {what} if isinstance(what, str) else set(what)
    unknown = names - set(PARTS) - {ALL}
    if unknown or not names:
        raise ValueError(f"what must name parts of {[*PARTS, ALL]}, got {sorted(unknown) or 'nothing'}")
    return PARTS if ALL in names else tuple(part for part in PARTS if part in names)


def random_unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random float32 rows of unit length (the last axis).

    Args:
        rng: the random generator.
        shape: the array shape; rows along the last axis.

    Returns:
        A float32 array of ``shape``.

    Example:

        random_unit(np.random.default_rng(0), (4, 5, 16)).shape  # (4, 5, 16)
    """
    x = rng.standard_normal(shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# The bench configuration's sizes that docs/ scripts take as flags (--dim, --d-model, --num-layers, --batch-size).
SIZE_FLAGS = ("dim", "d_model", "num_layers", "batch_size")


def add_size_flags(parser) -> None:
    """Adds ``--dim``, ``--d-model``, ``--num-layers`` and ``--batch-size``, defaulting to the bench configuration,
    to an ``argparse`` parser (the profiling scripts of ``docs/``).

    Example:

        parser = argparse.ArgumentParser(); add_size_flags(parser)
        parser.parse_args(["--dim", "32"]).d_model   # 512
    """
    for name in SIZE_FLAGS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(BenchConfig(), name))
