"""``p7keras train``: train a P7 ranker (every flag of the design; logic in ``p7keras.training``)."""

from __future__ import annotations

import argparse

from p7keras.config import ANCHOR_MODES, GATE_MODES
from p7keras.cli.main import add_backend_argument
from p7keras.training.config import DEVICES, MODEL_TYPES, TrainConfig

D = TrainConfig()

# Every TrainConfig flag, defined once for `p7keras train` and `p7keras tune`:
# (group, flags, TrainConfig field, help, extra argparse keywords); the first flag is the field's own.
TRAIN_FLAGS = (
    ("data", ("--data",), "data", "one chunk corpus or sequence file (.npz), split by article "
     "(default: the embedded synthetic corpus)", {}),
    ("data", ("--train",), "train", "training file (with --val: no split)", {}),
    ("data", ("--val",), "val", "validation file", {}),
    ("data", ("--context-length", "--context"), "context_length", "K, context chunks per sequence", {}),
    ("data", ("--hard-negatives",), "hard_negatives", "M in-article hard negatives per sample", {}),
    ("model", ("--model-type",), "model_type", "", {"choices": MODEL_TYPES}),
    ("model", ("--d-model",), "d_model", "", {}),
    ("model", ("--nhead",), "nhead", "attention heads", {}),
    ("model", ("--num-layers",), "num_layers", "(default 4 transformer, 2 lstm)", {"type": int}),
    ("model", ("--ff-dim",), "ff_dim", "transformer feed-forward width", {}),
    ("model", ("--dropout",), "dropout", "", {}),
    ("model", ("--anchor-lambda", "--lambda"), "anchor_lambda",
     f"start (or fixed) λ in [{D.anchor_lambda_min}, {D.anchor_lambda_max}]", {}),
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
    ("run", ("--lr",), "lr", "AdamW learning rate", {}),
    ("run", ("--weight-decay",), "weight_decay", "AdamW weight decay", {}),
    ("run", ("--warmup-epochs",), "warmup_epochs", "epochs with the teacher term", {}),
    ("run", ("--device",), "device", "", {"choices": DEVICES}),
    ("run", ("--seed",), "seed", "split and initialisation seed", {}),
    ("run", ("--exp-name",), "exp_name", "run folder prefix", {"type": str}),
    ("run", ("--output-dir",), "output_dir", "where the run directory goes", {}),
    ("run", ("--no-export",), "export", "skip the SavedModel export", {"action": "store_false"}),
)


def add_train_arguments(parser: argparse.ArgumentParser, unset: bool = False,
                        texts: dict[str, str] | None = None) -> dict[str, argparse._ArgumentGroup]:
    """Adds every ``TrainConfig`` flag (and ``--backend``) to ``parser``, in groups data/model/loss/run.

    Example:

    >>> parser = argparse.ArgumentParser()
    >>> _ = add_train_arguments(parser, unset=True)
    >>> train_settings(parser.parse_args(["--epochs", "3"]))
    {'epochs': 3}

    Args:
        parser: the (sub)command's parser.
        unset: every default None, so only the flags given are set (``p7keras tune``); else the
            ``TrainConfig`` defaults.
        texts: help texts that replace the table's, by field.

    Returns:
        The argument groups by name (a command adds its own flags to them).
    """
    groups = {name: parser.add_argument_group(name) for name in ("data", "model", "loss", "run")}
    for group, flags, field, text, extra in TRAIN_FLAGS:
        default = getattr(D, field)
        text = (texts or {}).get(field, text)
        keywords = {"dest": field, "default": None if unset else default, **extra}
        if extra.get("action") == "store_false":
            keywords.update(default=None, action="store_const", const=False) if unset else keywords.pop("default")
        elif "action" not in extra:
            keywords.setdefault("type", type(default) if default is not None else str)
        shown = "" if default is None or "default" in text or "action" in extra else f" (default {default})"
        groups[group].add_argument(*flags, help=(text + shown).strip(), **keywords)
    add_backend_argument(groups["run"])
    return groups


def train_settings(args: argparse.Namespace) -> dict:
    """The ``TrainConfig`` fields of parsed flags (without the ones left None by ``unset``)."""
    values = vars(args)
    fields = [field for _, _, field, _, _ in TRAIN_FLAGS] + ["backend"]
    return {field: values[field] for field in fields if values.get(field) is not None}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a P7 ranker and write its run directory",
        description="Train a P7 directional ranker. With no data flag it trains on the embedded synthetic "
        "corpus. Started again with the same command, an interrupted run resumes.",
        epilog="example: p7keras train --context 7 --margin 0.10 --lambda 0.9 --epochs 12",
    )
    add_train_arguments(parser)
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from p7keras.training import train  # noqa: PLC0415

    config = TrainConfig(**train_settings(args))
    config.check()
    result = train(config)
    return 0 if result.verdict["status"] in ("PASS", "MARGINAL") else 1
