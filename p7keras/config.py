"""The spec's parameters in one place: their defaults, their names and their valid ranges.

Every default of ``P7_SPEC.md`` (model shape, loss weights, gate, teacher, optimiser, monitoring
thresholds, run settings) lives in ``DEFAULTS``. Models, layers, losses, callbacks, the CLI and the
tuner read these values instead of repeating literals, so a default changes in exactly one line.

A parameter has one name from flag to layer (the spec's: ``num_heads``, ``learning_rate``,
``anchor_lambda_min``...; the flag is the name with dashes), and each group of parameters has one
check function here (``model_problems``, ``anchor_problems``, ``loss_problems``, ``run_problems``;
``export_problems`` checks the environment for ``--export``) with one wording,
``"<name> must be <rule>, got <value>"``. Models, layers and ``TrainConfig`` all raise through
:func:`raise_problems`, so the same bad value gets the same message wherever it is given.
This module imports nothing but the standard library (the command line reads it before Keras loads).

Example:

    from p7keras.config import DEFAULTS, anchor_problems, raise_problems
    DEFAULTS.temperature                                   # 0.07
    raise_problems(anchor_problems(anchor_lambda=0.95))    # ValueError: anchor_lambda must be ...
"""

from __future__ import annotations

import dataclasses
import importlib.util


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

    # issue 11: negatives and head (the spec's choices by default)
    head: str = "mlp"  # section 2's head; "residual": c_K + head(h), last layer zero at the start
    context_negatives: str = "prev"  # section 3: the previous chunk c_K is a negative
    negative_queue: int = 0  # targets of earlier batches kept as extra negatives (0: none)
    negatives: str = "batch"  # section 3's pool; "corpus": plus every training chunk
    # the largest negative bank (rows x D x 4 bytes) that negatives="corpus" accepts: 2 GiB
    negative_bank_max_bytes: int = 2 * 1024**3

    # Optimiser (section 5)
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    global_clipnorm: float = 1.0

    # The embedded synthetic corpus (not in the spec: the package's default data)
    synthetic_num_articles: int = 120
    synthetic_chunks_per_article: int = 50
    synthetic_dim: int = 768

    # Runs (not in the spec: the package's own)
    model_type: str = "transformer"
    device: str = "auto"
    seed: int = 0
    exp_name: str = "p7"
    output_dir: str = "saved_models"
    # issue 11: selection and λ range. The best model (best.keras, the verdict's epoch) maximises
    # ``select``; ``patience`` epochs without a new best of it stop the run (0: never).
    select: str = "val_margin"
    patience: int = 0
    keep: str = "all"  # the models a finished run keeps (KEEP_CHOICES)

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

    # Data inspection (issue 11): a mean Δ next-vs-prev within ± this of zero means the next chunk is as
    # close to the last context chunk as that chunk is to the one before it, so prev-repel pushes the
    # prediction away from the target too (p7keras data inspect warns and names the real-text preset).
    flat_next_vs_prev_delta: float = 0.01


DEFAULTS = P7Defaults()

ANCHOR_MODES = ("mean", "attention")
GATE_MODES = ("last-vs-first", "next-vs-prev")
MODEL_TYPES = ("transformer", "lstm", "flat")
HEADS = ("mlp", "residual")
CONTEXT_NEGATIVES = ("prev", "none", "older", "all")
NEGATIVE_SOURCES = ("batch", "corpus")
DEVICES = ("auto", "cpu", "gpu", "metal")
BACKENDS = ("tensorflow", "jax", "torch")
# What picks the best epoch (issue 11): the spec's val margin, or a validation retrieval figure under
# protocol ``all`` (logged by ``p7keras.callbacks.RetrievalMetrics``).
SELECT_METRICS = ("val_margin", "val_R@5", "val_MRR@10")
# Which models a finished run directory keeps (issue 13): both, best.keras only, or final.keras only.
KEEP_CHOICES = ("all", "best", "final")
# How the training step is compiled, and what each choice gives ``model.compile(jit_compile=...)``: auto (the model's
# choice, p7keras.jit_compile: Keras' own, and XLA on a TensorFlow CPU where measured faster), on, off.
JIT_COMPILE_SETTINGS = {"auto": "auto", "on": True, "off": False}
JIT_COMPILE_CHOICES = tuple(JIT_COMPILE_SETTINGS)
# issue 23: Keras dtype policies a run trains under (variables stay float32; the loss is float32 in every policy),
# and the reduced-precision forms of a trained model for inference (p7keras.models.precision).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# What a run's --precision takes: one of PRECISIONS, or auto (the policy measured fastest on this machine's backend
# and CPU, p7keras.training.default_precision).
TRAIN_PRECISIONS = ("auto", *PRECISIONS)
QUANTIZE_MODES = ("int8", "bfloat16")
ONNX_QUANTIZE_MODES = ("int8",)  # ONNX Runtime's CPU kernels have no bfloat16 matrix product
ONNX_PACKAGES = ("onnx", "onnxruntime", "tf2onnx")  # p7keras[onnx]: p7keras.models.onnx_export
ONNX_SUFFIX = ".onnx"  # what p7keras export writes, and evaluate/predict read, as an ONNX file

# The batch contract between ``p7keras.data`` and the models' train/test steps.
CONTEXT_KEY = "context"  # (B, K, D) float32, unit rows, oldest chunk first
TARGET_KEY = "target"  # (B, D) float32, the next chunk
HARD_NEGATIVES_KEY = "hard_negatives"  # (B, M, D) float32, optional
# The exported SavedModel's serving signature: input CONTEXT_KEY (None, K, D) -> this output (None, D).
PREDICTION_KEY = "prediction"
SERVE_ENDPOINT = "serve"
# Its one-sequence endpoint and signature: CONTEXT_KEY (1, K, D) -> PREDICTION_KEY (1, D), XLA-compiled when written
# by TensorFlow in float32 (p7keras.models.saving.write_saved_model).
SERVE_ONE_ENDPOINT = "serve_one"


# ------------------------------------------------------------------------------------ parameter checks
def _rule(problems: list[str], ok: bool, name: str, rule: str, value) -> None:
    if not ok:
        problems.append(f"{name} must be {rule}, got {value!r}")


def model_problems(context_length: int = DEFAULTS.context_length, d_model: int = DEFAULTS.d_model,
                   num_heads: int | None = None, num_layers: int | None = None, ff_dim: int | None = None,
                   dropout: float = DEFAULTS.dropout, input_dim: int | None = None,
                   model_type: str = DEFAULTS.model_type, head: str = DEFAULTS.head) -> list[str]:
    """What is wrong with a model's shape settings (empty when nothing is).

    Args:
        context_length, d_model, num_heads, num_layers, ff_dim, dropout, input_dim, model_type: the
            model parameters (None: not given, not checked).
        head: ``mlp`` (the spec's head) or ``residual`` (``c_K`` plus the head's output).

    Returns:
        One message per problem.
    """
    problems: list[str] = []
    _rule(problems, model_type in MODEL_TYPES, "model_type", f"one of {MODEL_TYPES}", model_type)
    _rule(problems, int(context_length) >= 2, "context_length", ">= 2", context_length)
    _rule(problems, input_dim is None or int(input_dim) >= 1, "input_dim", ">= 1", input_dim)
    _rule(problems, int(d_model) >= 1, "d_model", ">= 1", d_model)
    if num_heads is not None:
        _rule(problems, int(num_heads) >= 1, "num_heads", ">= 1", num_heads)
        if int(num_heads) >= 1 and int(d_model) >= 1:
            _rule(problems, int(d_model) % int(num_heads) == 0, "d_model",
                  f"divisible by num_heads={num_heads}", d_model)
    _rule(problems, num_layers is None or int(num_layers) >= 1, "num_layers", ">= 1", num_layers)
    _rule(problems, ff_dim is None or int(ff_dim) >= 1, "ff_dim", ">= 1", ff_dim)
    _rule(problems, 0.0 <= float(dropout) < 1.0, "dropout", "in [0, 1)", dropout)
    _rule(problems, head in HEADS, "head", f"one of {HEADS}", head)
    return problems


def anchor_problems(anchor_lambda: float = DEFAULTS.anchor_lambda,
                    anchor_lambda_min: float = DEFAULTS.anchor_lambda_min,
                    anchor_lambda_max: float = DEFAULTS.anchor_lambda_max,
                    anchor_mode: str = DEFAULTS.anchor_mode) -> list[str]:
    """What is wrong with the semantic anchor's settings (spec section 2).

    Args:
        anchor_lambda: the start (or fixed) λ; it must lie inside ``[anchor_lambda_min, anchor_lambda_max]``.
        anchor_lambda_min, anchor_lambda_max: the bounds, ``0 <= min < max <= 1``.
        anchor_mode: ``mean`` or ``attention``.

    Returns:
        One message per problem.
    """
    problems: list[str] = []
    low, high = float(anchor_lambda_min), float(anchor_lambda_max)
    _rule(problems, 0.0 <= low < high <= 1.0, "[anchor_lambda_min, anchor_lambda_max]",
          "0 <= min < max <= 1", [low, high])
    _rule(problems, low <= float(anchor_lambda) <= high, "anchor_lambda", f"in [{low}, {high}]", anchor_lambda)
    _rule(problems, anchor_mode in ANCHOR_MODES, "anchor_mode", f"one of {ANCHOR_MODES}", anchor_mode)
    return problems


def loss_problems(temperature: float = DEFAULTS.temperature, margin: float = DEFAULTS.margin,
                  w_rank: float = DEFAULTS.w_rank, w_margin: float = DEFAULTS.w_margin,
                  w_teacher: float = DEFAULTS.w_teacher, floor_threshold: float = DEFAULTS.floor_threshold,
                  gate_threshold: float = DEFAULTS.gate_threshold,
                  gate_weak_weight: float = DEFAULTS.gate_weak_weight,
                  gate_mode: str = DEFAULTS.gate_mode, warmup_epochs: int = DEFAULTS.warmup_epochs,
                  context_negatives: str = DEFAULTS.context_negatives,
                  negative_queue: int = DEFAULTS.negative_queue,
                  negatives: str = DEFAULTS.negatives) -> list[str]:
    """What is wrong with the loss settings (spec section 4).

    Args:
        temperature, margin, w_rank, w_margin, w_teacher, floor_threshold, gate_threshold,
        gate_weak_weight, gate_mode, warmup_epochs: the loss parameters.
        context_negatives: which context chunks are InfoNCE negatives (``prev``, ``none``, ``all``).
        negative_queue: targets of earlier batches kept as extra negatives (0: no queue).
        negatives: the InfoNCE pool's source, one of ``NEGATIVE_SOURCES`` (``corpus``: plus every training chunk).

    Returns:
        One message per problem.
    """
    problems: list[str] = []
    _rule(problems, float(temperature) > 0, "temperature", "> 0", temperature)
    for name, value in (("margin", margin), ("w_rank", w_rank), ("w_margin", w_margin),
                        ("w_teacher", w_teacher), ("floor_threshold", floor_threshold)):
        _rule(problems, float(value) >= 0, name, ">= 0", value)
    _rule(problems, float(w_rank) + float(w_margin) > 0, "w_rank + w_margin", "> 0", float(w_rank) + float(w_margin))
    _rule(problems, 0.0 <= float(gate_weak_weight) <= 1.0, "gate_weak_weight", "in [0, 1]", gate_weak_weight)
    _rule(problems, gate_mode in GATE_MODES, "gate_mode", f"one of {GATE_MODES}", gate_mode)
    _rule(problems, int(warmup_epochs) >= 0, "warmup_epochs", ">= 0", warmup_epochs)
    _rule(problems, context_negatives in CONTEXT_NEGATIVES, "context_negatives", f"one of {CONTEXT_NEGATIVES}",
          context_negatives)
    _rule(problems, int(negative_queue) >= 0, "negative_queue", ">= 0", negative_queue)
    _rule(problems, negatives in NEGATIVE_SOURCES, "negatives", f"one of {NEGATIVE_SOURCES}", negatives)
    return problems


def run_problems(batch_size: int = DEFAULTS.batch_size, epochs: int = DEFAULTS.epochs,
                 learning_rate: float = DEFAULTS.learning_rate, weight_decay: float = DEFAULTS.weight_decay,
                 hard_negatives: int = DEFAULTS.hard_negatives, device: str = DEFAULTS.device,
                 backend: str | None = None, select: str = DEFAULTS.select,
                 patience: int = DEFAULTS.patience, keep: str = DEFAULTS.keep,
                 jit_compile: str = "auto", precision: str = "float32") -> list[str]:
    """What is wrong with a run's optimiser and batching settings (spec section 5).

    Args:
        batch_size: >= 2 (in-batch negatives need other samples).
        epochs, learning_rate, weight_decay, hard_negatives, device, backend: the run settings.
        select: the metric that picks the best epoch, one of ``SELECT_METRICS``.
        patience: epochs without a new best ``select`` before the run stops, >= 0 (0: never).
        keep: the models a finished run keeps, one of ``KEEP_CHOICES``.
        jit_compile: how the train step is compiled, one of ``JIT_COMPILE_CHOICES``.
        precision: the Keras dtype policy of training, one of ``TRAIN_PRECISIONS`` (``auto``: chosen per machine).

    Returns:
        One message per problem.
    """
    problems: list[str] = []
    _rule(problems, int(batch_size) >= 2, "batch_size", ">= 2 (in-batch negatives need other samples)", batch_size)
    _rule(problems, int(epochs) >= 1, "epochs", ">= 1", epochs)
    _rule(problems, float(learning_rate) > 0, "learning_rate", "> 0", learning_rate)
    _rule(problems, float(weight_decay) >= 0, "weight_decay", ">= 0", weight_decay)
    _rule(problems, int(hard_negatives) >= 0, "hard_negatives", ">= 0", hard_negatives)
    _rule(problems, device in DEVICES, "device", f"one of {DEVICES}", device)
    _rule(problems, backend is None or backend in BACKENDS, "backend", f"one of {BACKENDS}", backend)
    _rule(problems, select in SELECT_METRICS, "select", f"one of {SELECT_METRICS}", select)
    _rule(problems, int(patience) >= 0, "patience", ">= 0 (0: no early stopping)", patience)
    _rule(problems, keep in KEEP_CHOICES, "keep", f"one of {KEEP_CHOICES}", keep)
    _rule(problems, jit_compile in JIT_COMPILE_CHOICES, "jit_compile", f"one of {JIT_COMPILE_CHOICES}", jit_compile)
    _rule(problems, precision in TRAIN_PRECISIONS, "precision", f"one of {TRAIN_PRECISIONS}", precision)
    return problems


def quantize_problems(quantize: str | None) -> list[str]:
    """What is wrong with a reduced-precision mode for inference (None: none asked for).

    Returns:
        One message per problem.
    """
    problems: list[str] = []
    _rule(problems, quantize is None or quantize in QUANTIZE_MODES, "quantize", f"one of {QUANTIZE_MODES}", quantize)
    return problems


def onnx_problems(quantize: str | None = None) -> list[str]:
    """What stops an ONNX export here, without importing any of it: missing packages, a mode ONNX lacks.

    Example:

    >>> onnx_problems("bfloat16")[-1]
    '--quantize bfloat16 cannot be written as ONNX (ONNX Runtime has no bfloat16 CPU kernels): use int8, or a .keras file or SavedModel'

    Args:
        quantize: the reduced precision asked for (None: float32).

    Returns:
        One line per problem; empty when the export can run.
    """
    problems = []
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        problems.append(f"ONNX export needs {', '.join(missing)}: pip install \"p7keras[onnx]\"")
    if quantize is not None and quantize not in ONNX_QUANTIZE_MODES:
        problems.append(f"--quantize {quantize} cannot be written as ONNX (ONNX Runtime has no {quantize} CPU "
                        "kernels): use int8, or a .keras file or SavedModel")
    return problems


def export_problems(export: bool = True) -> list[str]:
    """Why a run's SavedModel export cannot be written here (checked before a run starts); empty when it can.

    The export itself is ``p7keras.models.saving``; this check stays here, without Keras, because it runs
    before the backend is chosen.

    Args:
        export: whether the run will export.

    Returns:
        One line per problem: TensorFlow missing (a JAX or PyTorch install on a GPU image, say).
    """
    if export and importlib.util.find_spec("tensorflow") is None:
        return ["the SavedModel export needs TensorFlow, which is not installed here: install it or pass "
                "--no-export"]
    return []


def raise_problems(problems: list[str]) -> None:
    """Raises one ``ValueError`` naming every problem (``; ``-separated), or returns when there is none.

    Args:
        problems: messages from the ``*_problems`` functions.

    Raises:
        ValueError: when ``problems`` is not empty.
    """
    if problems:
        raise ValueError("; ".join(problems))
