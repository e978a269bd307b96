"""``TrainConfig``: every setting of a training run, its flags, its defaults and its checks.

The flag table ``TRAIN_FLAGS`` lives here, beside the fields it sets: ``p7keras train``, ``p7keras tune``
and ``python -m tuner.search`` all add their training flags with :func:`add_train_arguments`. Every
default comes from ``p7keras.config.DEFAULTS`` and every check from the parameter-group functions of
``p7keras.config``. This module imports no Keras (the command line parses flags with it first).

Example:

    from p7keras.training import TrainConfig
    config = TrainConfig(context_length=7, margin=0.10, anchor_lambda=0.9, epochs=12)
    config.check()                      # raises ValueError naming every impossible setting
    config.to_dict()["num_heads"]       # 8
"""

from __future__ import annotations

import argparse
import dataclasses

from p7keras.config import (
    ANCHOR_MODES,
    BACKENDS,
    CONTEXT_NEGATIVES,
    DEFAULTS,
    DEVICES,
    GATE_MODES,
    HEADS,
    JIT_COMPILE_CHOICES,
    KEEP_CHOICES,
    MODEL_TYPES,
    NEGATIVE_SOURCES,
    SELECT_METRICS,
    TRAIN_PRECISIONS,
    anchor_problems,
    loss_problems,
    model_problems,
    raise_problems,
    run_problems,
)
from p7keras.training.distribute import DISTRIBUTE_CHOICES, distribute_problems
from p7keras.training.presets import PRESETS, preset_settings

__all__ = ["BACKENDS", "DEVICES", "MODEL_TYPES", "TRAIN_FLAGS", "TrainConfig", "add_train_arguments",
           "train_settings"]

# Names that older run directories and searches wrote to config.json, and the field each is now.
RENAMED_FIELDS = {"nhead": "num_heads", "lr": "learning_rate"}


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; the ``p7keras train`` flags map one to one onto these fields.

    ``data`` is one file split by article; ``train``/``val`` are separate files; with neither, the run
    uses the embedded synthetic corpus, sized by ``num_articles``, ``chunks_per_article`` and ``dim``
    (None: ``p7keras.data.make_synthetic_corpus``'s defaults).

    Example:

        config = TrainConfig(context_length=7, margin=0.10, anchor_lambda=0.9, epochs=12)
        config.check()
    """

    data: str | None = None
    train: str | None = None
    val: str | None = None
    num_articles: int | None = None
    chunks_per_article: int | None = None
    dim: int | None = None
    train_chunks: int | None = None  # a seeded subset of whole training articles with at most this many chunks
    context_length: int = DEFAULTS.context_length
    model_type: str = DEFAULTS.model_type
    d_model: int = DEFAULTS.d_model
    num_heads: int = DEFAULTS.num_heads
    num_layers: int | None = None  # DEFAULTS.num_layers for the transformer, DEFAULTS.lstm_layers for the LSTM
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
    learning_rate: float = DEFAULTS.learning_rate
    weight_decay: float = DEFAULTS.weight_decay
    warmup_epochs: int = DEFAULTS.warmup_epochs
    device: str = DEFAULTS.device
    backend: str | None = None
    seed: int = DEFAULTS.seed
    exp_name: str = DEFAULTS.exp_name
    run_name: str | None = None  # a fixed run folder <output_dir>/<run_name> instead of <exp_name>_<timestamp>
    output_dir: str = DEFAULTS.output_dir
    export: bool = True
    preset: str | None = None  # the named recipe the run started from (p7keras.training.presets)
    # issue 11: selection and λ range
    select: str = DEFAULTS.select
    patience: int = DEFAULTS.patience
    keep: str = DEFAULTS.keep
    # issue 11: negatives and head
    head: str = DEFAULTS.head
    context_negatives: str = DEFAULTS.context_negatives
    negative_queue: int = DEFAULTS.negative_queue
    negatives: str = DEFAULTS.negatives
    jit_compile: str = "auto"  # issue 12: auto / on / off (p7keras.training.train.jit_compile_setting)
    # issue 23: the Keras dtype policy of training (p7keras.config.PRECISIONS), or auto: the one this machine's
    # backend and CPU were measured fastest in (p7keras.training.default_precision)
    precision: str = "float32"
    # issue 14: data-parallel training (p7keras.training.distribute)
    distribute: str = "none"
    cpu_devices: int | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """The config of a ``config.json`` (older runs' field names are read too).

        Args:
            values: field -> value, as ``to_dict`` wrote it.

        Returns:
            A ``TrainConfig``.

        Raises:
            ValueError: a key that is no field.
        """
        values = {RENAMED_FIELDS.get(key, key): value for key, value in values.items()}
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**values)

    @property
    def synthetic(self) -> dict:
        """The synthetic corpus's size settings that were given (``make_synthetic_corpus`` keywords)."""
        sizes = {"num_articles": self.num_articles, "chunks_per_article": self.chunks_per_article, "dim": self.dim}
        return {key: value for key, value in sizes.items() if value is not None}

    def data_source(self):
        """The run's data, as ``p7keras.data.load_splits`` takes it: ``(source, val)``.

        ``source`` is the ``--train`` or ``--data`` path, or the synthetic corpus of this config's
        size; ``val`` is the ``--val`` path or None. The one place that decides where a run's (and a
        search's) data comes from.

        Returns:
            ``(path or ChunkCorpus, path or None)``.
        """
        if self.train is not None:
            return self.train, self.val
        if self.data is not None:
            return self.data, None
        from p7keras.data import make_synthetic_corpus  # noqa: PLC0415 (numpy work only when data is needed)

        return make_synthetic_corpus(**self.synthetic), None

    def problems(self) -> list[str]:
        """Every impossible setting, one message each (the wording of ``p7keras.config``)."""
        problems = []
        if self.data is not None and self.train is not None:
            problems.append("give either data (--data) or train/val (--train/--val), not both")
        if self.val is not None and self.train is None:
            problems.append("val (--val) needs train (--train)")
        if self.synthetic and (self.data is not None or self.train is not None):
            flags = ", ".join(flag_of(name) for name in self.synthetic)
            problems.append(f"{flags} size the synthetic corpus and cannot be used with a data file "
                            f"({self.data or self.train})")
        if self.train_chunks is not None and int(self.train_chunks) < 1:
            problems.append(f"train_chunks must be >= 1, got {self.train_chunks!r}")
        for name, value in self.synthetic.items():
            if int(value) < 1:
                problems.append(f"{name} must be >= 1, got {value!r}")
        problems += model_problems(self.context_length, self.d_model,
                                   self.num_heads if self.model_type == "transformer" else None,
                                   self.num_layers, self.ff_dim, self.dropout, model_type=self.model_type,
                                   head=self.head)
        problems += anchor_problems(self.anchor_lambda, self.anchor_lambda_min, self.anchor_lambda_max,
                                    self.anchor_mode)
        problems += loss_problems(self.temperature, self.margin, self.w_rank, self.w_margin, self.w_teacher,
                                  self.floor_threshold, self.gate_threshold, self.gate_weak_weight,
                                  self.gate_mode, self.warmup_epochs, self.context_negatives,
                                  self.negative_queue, self.negatives)
        problems += run_problems(self.batch_size, self.epochs, self.learning_rate, self.weight_decay,
                                 self.hard_negatives, self.device, self.backend, self.select, self.patience,
                                 self.keep, self.jit_compile, self.precision)
        problems += distribute_problems(self.distribute, self.cpu_devices, self.backend, self.negatives,
                                        self.negative_queue)
        precision = self.precision
        if precision in TRAIN_PRECISIONS:
            try:
                precision = self.resolved_precision()[0]
            except ValueError as exc:  # P7KERAS_PRECISION names no policy
                problems.append(str(exc))
        if precision == "mixed_float16" and self.distribute != "none":
            problems.append("precision mixed_float16 (loss scaling) cannot be combined with --distribute "
                            f"{self.distribute} yet; use mixed_bfloat16 or float32")
        if self.preset is not None and self.preset not in PRESETS:
            problems.append(f"preset must be one of {tuple(PRESETS)}, got {self.preset!r}")
        if not (self.exp_name and "/" not in self.exp_name and self.exp_name not in (".", "..")):
            problems.append(f"exp_name must be a plain folder-name prefix, got {self.exp_name!r}")
        if self.run_name is not None and not (self.run_name and "/" not in self.run_name
                                              and self.run_name not in (".", "..")):
            problems.append(f"run_name must be a plain folder name, got {self.run_name!r}")
        return problems

    def check(self) -> None:
        """Raises ``ValueError`` naming every impossible setting, before any work starts."""
        raise_problems(self.problems())

    def model_kwargs(self) -> dict:
        """Constructor arguments of the model this config describes (the same names as the fields)."""
        names = ["context_length", "d_model", "dropout", "anchor_lambda", "anchor_lambda_min", "anchor_lambda_max",
                 "anchor_learnable", "anchor_mode", "warmup_epochs", "temperature", "margin", "w_rank",
                 "w_margin", "w_teacher", "floor_threshold", "gate_threshold", "gate_weak_weight", "gate_mode",
                 "head", "context_negatives", "negative_queue", "negatives"]
        if self.num_layers is not None and self.model_type in ("transformer", "lstm"):
            names.append("num_layers")
        if self.model_type == "transformer":
            names += ["num_heads", "ff_dim"]
        kwargs = {name: getattr(self, name) for name in names}
        precision = self.resolved_precision()[0]
        if precision != "float32":
            kwargs["dtype"] = precision  # Keras' dtype policy (p7keras.models.precision)
        return kwargs

    def resolved_precision(self) -> tuple[str, str]:
        """``(policy, reason)``: the Keras dtype policy this config trains under on this machine.

        ``precision`` itself, or for ``auto`` what :func:`p7keras.training.default_precision.resolve_precision`
        chooses for this config's backend, device and ``distribute``.
        """
        from p7keras.training.default_precision import resolve_precision  # noqa: PLC0415 (imports this module)

        return resolve_precision(self.precision, self.backend, self.device, self.distribute)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def flag_of(field: str) -> str:
    """The command-line flag of a ``TrainConfig`` field (``w_margin`` -> ``--w-margin``)."""
    return "--" + field.replace("_", "-")


_D = TrainConfig()

# Every TrainConfig flag, defined once for `p7keras train`, `p7keras tune` and `python -m tuner.search`:
# (group, flags, TrainConfig field, help, extra argparse keywords). The first flag is the field's own
# name; the others are short or older spellings that keep working. A flag that sets several fields at
# once (``--lambda-range LO HI``) names them as a tuple and takes one value per field (``nargs``).
TRAIN_FLAGS = (
    ("data", ("--data",), "data", "one chunk corpus or sequence file (.npz) or sharded corpus folder, split by article "
     "(default: the embedded synthetic corpus)", {}),
    ("data", ("--train",), "train", "training file (with --val: no split)", {}),
    ("data", ("--val",), "val", "validation file", {}),
    ("data", ("--num-articles",), "num_articles", "articles of the synthetic corpus (without a data file; "
     f"default {DEFAULTS.synthetic_num_articles})", {"type": int}),
    ("data", ("--chunks-per-article",), "chunks_per_article", "chunks per article of the synthetic corpus "
     f"(default {DEFAULTS.synthetic_chunks_per_article})", {"type": int}),
    ("data", ("--dim",), "dim", f"embedding width D of the synthetic corpus (default {DEFAULTS.synthetic_dim})", {"type": int}),
    ("data", ("--train-chunks",), "train_chunks", "train on a seeded subset of whole training articles holding "
     "at most N chunks (val and ood unchanged: for data-scaling studies)", {"type": int, "metavar": "N"}),
    ("data", ("--context-length", "--context"), "context_length", "K, context chunks per sequence", {}),
    ("data", ("--hard-negatives",), "hard_negatives", "M in-article hard negatives per sample", {}),
    ("model", ("--model-type",), "model_type", "", {"choices": MODEL_TYPES}),
    ("model", ("--d-model",), "d_model", "", {}),
    ("model", ("--num-heads", "--nhead"), "num_heads", "attention heads", {}),
    ("model", ("--num-layers",), "num_layers",
     f"(default {DEFAULTS.num_layers} transformer, {DEFAULTS.lstm_layers} lstm)", {"type": int}),
    ("model", ("--ff-dim",), "ff_dim", "transformer feed-forward width", {}),
    ("model", ("--dropout",), "dropout", "", {}),
    ("model", ("--anchor-lambda", "--lambda"), "anchor_lambda",
     f"start (or fixed) λ in [{DEFAULTS.anchor_lambda_min}, {DEFAULTS.anchor_lambda_max}]", {}),
    ("model", ("--anchor-learnable",), "anchor_learnable", "learn λ or keep it fixed",
     {"action": argparse.BooleanOptionalAction}),
    ("model", ("--anchor-mode",), "anchor_mode", "", {"choices": ANCHOR_MODES}),
    ("loss", ("--w-rank",), "w_rank", "InfoNCE weight", {}),
    ("loss", ("--w-margin",), "w_margin", "prev-repel weight", {}),
    ("loss", ("--w-teacher",), "w_teacher", "teacher weight", {}),
    ("loss", ("--margin",), "margin", "prev-repel margin m", {}),
    ("loss", ("--temperature",), "temperature", "InfoNCE temperature τ", {}),
    ("loss", ("--gate-threshold",), "gate_threshold", "Δ needed for full weight", {}),
    ("loss", ("--gate-weak-weight",), "gate_weak_weight", "weight of weak sequences", {}),
    ("loss", ("--floor-threshold",), "floor_threshold", "teacher cosine floor", {}),
    ("loss", ("--gate-mode",), "gate_mode", "", {"choices": GATE_MODES}),
    ("run", ("--batch-size",), "batch_size", "", {}),
    ("run", ("--epochs",), "epochs", "", {}),
    ("run", ("--learning-rate", "--lr"), "learning_rate", "AdamW learning rate", {}),
    ("run", ("--weight-decay",), "weight_decay", "AdamW weight decay", {}),
    ("run", ("--warmup-epochs",), "warmup_epochs", "epochs with the teacher term", {}),
    ("run", ("--device",), "device", "", {"choices": DEVICES}),
    ("run", ("--seed",), "seed", "split and initialisation seed", {}),
    ("run", ("--exp-name",), "exp_name", "run folder prefix", {"type": str}),
    ("run", ("--run-name",), "run_name", "the run folder's exact name, <output-dir>/NAME, instead of "
     "<exp-name>_<timestamp> (for scripts: the folder is known before the run; the same command resumes it "
     "while unfinished, and a finished one is refused)", {"type": str, "metavar": "NAME"}),
    ("run", ("--output-dir",), "output_dir", "where the run directory goes", {}),
    ("run", ("--no-export",), "export", "skip the SavedModel export", {"action": "store_false"}),
    ("run", ("--keep",), "keep", "the models a finished run keeps: all (best.keras without optimizer state + "
     "final.keras with it, to train on), best, or final", {"choices": KEEP_CHOICES}),
    ("run", ("--preset",), "preset", "start from a named recipe (flags given with it override it): "
     "real-text = a small MLP started at DIRECT, for real chunk embeddings", {"choices": tuple(PRESETS)}),
    # issue 11: selection and λ range
    ("run", ("--select",), "select", "the validation metric that picks the best model (best.keras, the "
     "verdict's epoch); R@5 / MRR@10 are retrieval under protocol all against the split's bank",
     {"choices": SELECT_METRICS}),
    ("run", ("--jit-compile",), "jit_compile", "compile the train step: auto (TensorFlow: XLA, on a CPU too for the "
     "float32 transformer and flat models, where it was measured faster, else as Keras decides; JAX: jit; PyTorch: "
     "eager, its compiled step was measured no faster), on (PyTorch: torch.compile, the ragged last batch dropped so "
     "it compiles once), off", {"choices": JIT_COMPILE_CHOICES}),
    ("run", ("--precision",), "precision", "the Keras dtype policy of training: float32, or mixed_bfloat16 / "
     "mixed_float16 (float32 variables and loss, the encoder computed in 16 bits; mixed_float16 with loss "
     "scaling), or auto: mixed_bfloat16 for TensorFlow on a CPU with bfloat16 units (avx512_bf16 or amx_bf16) and "
     "PyTorch on one with AMX (amx_bf16), no GPU and no --distribute, float32 elsewhere (P7KERAS_PRECISION sets what auto means). Default float32", {"choices": TRAIN_PRECISIONS}),
    ("run", ("--distribute",), "distribute", "none, or data-parallel: every device of this machine (JAX: Keras "
     "DataParallel, TensorFlow: MirroredStrategy); --batch-size is the global batch and in-batch negatives are "
     "the global batch's", {"choices": DISTRIBUTE_CHOICES}),
    ("run", ("--cpu-devices",), "cpu_devices", "split the CPU into N devices (to try --distribute without "
     "accelerators)", {"type": int, "metavar": "N"}),
    ("run", ("--patience",), "patience", "stop after N epochs without a new best --select value, keeping "
     "the best model (0: no early stopping)", {}),
    ("model", ("--lambda-range",), ("anchor_lambda_min", "anchor_lambda_max"), "λ bounds [LO, HI] of the "
     "anchor (a range outside the spec's is noted in the verdict)", {"type": float, "metavar": ("LO", "HI")}),
    # issue 11: negatives and head
    ("model", ("--head",), "head", "mlp: the spec's head; residual: c_K + head(h), last layer zero at the start "
     "(an untrained model predicts the anchored c_K)", {"choices": HEADS}),
    ("loss", ("--context-negatives",), "context_negatives", "context chunks among the InfoNCE negatives: prev "
     "(c_K, the spec's), none, older (c_1..c_{K-1}) or all (the prev-repel term keeps c_K; see --w-margin)", {"choices": CONTEXT_NEGATIVES}),
    ("loss", ("--negative-queue",), "negative_queue", "N, targets of earlier training batches kept (first in, "
     "first out) as extra negatives of every sample (0: none)", {}),
    ("loss", ("--negatives",), "negatives", ("the InfoNCE pool: batch (the spec's) or corpus (plus every "
     "training-split chunk, false negatives masked; at most 2 GiB of them)"), {"choices": NEGATIVE_SOURCES}),
)
TRAIN_GROUPS = ("data", "model", "loss", "run")


# ``--backend`` as a TRAIN_FLAGS row (added by :func:`add_backend_argument`, shared with the other commands)
BACKEND_FLAG = ("run", ("--backend",), "backend", "", {})


def add_backend_argument(parser) -> None:
    """Adds ``--backend`` (the command line sets ``KERAS_BACKEND`` from it before Keras is imported)."""
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: KERAS_BACKEND)")


def add_train_arguments(parser: argparse.ArgumentParser, unset: bool = False,
                        texts: dict[str, str] | None = None) -> dict[str, argparse._ArgumentGroup]:
    """Adds every ``TrainConfig`` flag (and ``--backend``) to ``parser``, in groups data/model/loss/run.

    Example:

        parser = argparse.ArgumentParser()
        add_train_arguments(parser, unset=True)
        train_settings(parser.parse_args(["--epochs", "3"]))    # {'epochs': 3}

    Args:
        parser: the (sub)command's parser.
        unset: every default None, so only the flags given are set (``p7keras tune``); else the
            ``TrainConfig`` defaults.
        texts: help texts that replace the table's, by field.

    Returns:
        The argument groups by name (a command adds its own flags to them).
    """
    groups = {name: parser.add_argument_group(name) for name in TRAIN_GROUPS}
    for group, flags, field, text, extra in TRAIN_FLAGS:
        if isinstance(field, tuple):  # one value per field
            default = [getattr(_D, name) for name in field]
            extra = {"nargs": len(field), **extra}
        else:
            default = getattr(_D, field)
        text = (texts or {}).get(field, text)
        keywords = {"dest": _dest(flags, field), "default": None if unset else default, **extra}
        if extra.get("action") == "store_false":
            keywords.update(default=None, action="store_const", const=False) if unset else keywords.pop("default")
        elif "action" not in extra:
            keywords.setdefault("type", type(default) if default is not None else str)
        shown = "" if default is None or "default" in text or "action" in extra else f" (default {default})"
        groups[group].add_argument(*flags, help=(text + shown).strip(), **keywords)
    add_backend_argument(groups["run"])
    return groups


def train_settings(args: argparse.Namespace) -> dict:
    """The ``TrainConfig`` fields of parsed flags (without the ones left None by ``unset``).

    Args:
        args: flags parsed by a parser that :func:`add_train_arguments` filled.

    Returns:
        Field -> value; with ``--preset``, the preset's settings under the flags given.
    """
    values = vars(args)
    settings = {}
    for _, flags, field, _, _ in (*TRAIN_FLAGS, BACKEND_FLAG):
        value = values.get(_dest(flags, field))
        if value is not None:
            settings.update(zip(field, value) if isinstance(field, tuple) else {field: value})
    return preset_settings(settings.get("preset"), settings)


def train_flags(config: "TrainConfig", always: tuple[str, ...] = ("data", "seed")) -> list[str]:
    """The ``p7keras train`` flags that make ``config``: the inverse of :func:`train_settings`.

    With ``config.preset`` set, ``--preset NAME`` and the flags that differ from the preset; otherwise the
    flags that differ from the defaults. Fields in ``always`` are given even at their default.

    Example:

    >>> " ".join(train_flags(TrainConfig(epochs=3, anchor_learnable=False), always=()))
    '--no-anchor-learnable --epochs 3'

    Args:
        config: the settings to reproduce.
        always: fields to give whatever their value.

    Returns:
        The flags and values, as separate strings.
    """
    base = TrainConfig.from_dict(preset_settings(config.preset, {})) if config.preset else TrainConfig()
    out = ["--preset", config.preset] if config.preset else []
    for _, flags, field, _, extra in (*TRAIN_FLAGS, BACKEND_FLAG):
        fields = field if isinstance(field, tuple) else (field,)
        values = [getattr(config, name) for name in fields]
        if field == "preset" or (values == [getattr(base, name) for name in fields]
                                 and not set(fields) & set(always)) or None in values:
            continue
        action = extra.get("action")
        if action == "store_false":
            out += [] if values[0] else [flags[0]]
        elif action is argparse.BooleanOptionalAction:
            out.append(flags[0] if values[0] else "--no-" + flags[0][2:])
        else:
            out += [flags[0], *map(str, values)]
    return out


def _dest(flags: tuple[str, ...], field: str | tuple[str, ...]) -> str:
    """The argparse destination of a TRAIN_FLAGS row: its field, or for several fields its first flag's name."""
    return flags[0].lstrip("-").replace("-", "_") if isinstance(field, tuple) else field
