"""``p7keras train``: train a P7 ranker (every flag of the design; logic in ``p7keras.training``)."""

from __future__ import annotations

import argparse

from p7keras.config import ANCHOR_MODES, GATE_MODES
from p7keras.cli.main import add_backend_argument
from p7keras.training.config import DEVICES, MODEL_TYPES, TrainConfig

D = TrainConfig()


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a P7 ranker and write its run directory",
        description="Train a P7 directional ranker. With no data flag it trains on the embedded synthetic "
        "corpus. Started again with the same command, an interrupted run resumes.",
        epilog="example: p7keras train --context 7 --margin 0.10 --lambda 0.9 --epochs 12",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="one chunk corpus or sequence file (.npz), split by article")
    data.add_argument("--train", help="training file (with --val: no split)")
    data.add_argument("--val", help="validation file")
    data.add_argument("--context-length", "--context", dest="context_length", type=int, default=D.context_length,
                      help=f"K, context chunks per sequence (default {D.context_length})")
    data.add_argument("--hard-negatives", type=int, default=D.hard_negatives,
                      help=f"M in-article hard negatives per sample (default {D.hard_negatives})")

    model = parser.add_argument_group("model")
    model.add_argument("--model-type", choices=MODEL_TYPES, default=D.model_type)
    model.add_argument("--d-model", type=int, default=D.d_model, help=f"(default {D.d_model})")
    model.add_argument("--nhead", type=int, default=D.nhead, help=f"attention heads (default {D.nhead})")
    model.add_argument("--num-layers", type=int, default=None, help="(default 4 transformer, 2 lstm)")
    model.add_argument("--dropout", type=float, default=D.dropout, help=f"(default {D.dropout})")
    model.add_argument("--anchor-lambda", "--lambda", dest="anchor_lambda", type=float, default=D.anchor_lambda,
                       help=f"start (or fixed) λ in [{D.anchor_lambda_min}, {D.anchor_lambda_max}] "
                       f"(default {D.anchor_lambda})")
    model.add_argument("--anchor-learnable", action=argparse.BooleanOptionalAction, default=D.anchor_learnable,
                       help="learn λ (default) or keep it fixed")
    model.add_argument("--anchor-mode", choices=ANCHOR_MODES, default=D.anchor_mode)

    loss = parser.add_argument_group("loss")
    for flag, field, text in (
        ("--w-rank", "w_rank", "InfoNCE weight"),
        ("--w-margin", "w_margin", "prev-repel weight"),
        ("--w-teacher", "w_teacher", "teacher weight"),
        ("--margin", "margin", "prev-repel margin m"),
        ("--temperature", "temperature", "InfoNCE temperature τ"),
        ("--gate-threshold", "gate_threshold", "Δ needed for full weight"),
        ("--gate-weak-weight", "gate_weak_weight", "weight of weak sequences"),
        ("--floor-threshold", "floor_threshold", "teacher cosine floor"),
    ):
        loss.add_argument(flag, dest=field, type=float, default=getattr(D, field),
                          help=f"{text} (default {getattr(D, field)})")
    loss.add_argument("--gate-mode", choices=GATE_MODES, default=D.gate_mode)

    run = parser.add_argument_group("run")
    run.add_argument("--batch-size", type=int, default=D.batch_size, help=f"(default {D.batch_size})")
    run.add_argument("--epochs", type=int, default=D.epochs, help=f"(default {D.epochs})")
    run.add_argument("--lr", type=float, default=D.lr, help=f"AdamW learning rate (default {D.lr})")
    run.add_argument("--warmup-epochs", type=int, default=D.warmup_epochs,
                     help=f"epochs with the teacher term (default {D.warmup_epochs})")
    run.add_argument("--device", choices=DEVICES, default=D.device)
    add_backend_argument(run)
    run.add_argument("--seed", type=int, default=D.seed)
    run.add_argument("--exp-name", default=D.exp_name, help=f"run folder prefix (default {D.exp_name})")
    run.add_argument("--output-dir", default=D.output_dir, help=f"(default {D.output_dir}/)")
    run.add_argument("--no-export", dest="export", action="store_false", help="skip the SavedModel export")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from p7keras.training import train  # noqa: PLC0415

    fields = {name for name in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    config.check()
    result = train(config)
    return 0 if result.verdict["status"] in ("PASS", "MARGINAL") else 1
