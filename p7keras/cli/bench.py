"""``p7keras bench``: training throughput and prediction latency of one configuration."""

from __future__ import annotations

import argparse
import json

from p7keras.cli.main import add_backend_argument
from p7keras.config import DEFAULTS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure training sequences/s and single-sequence prediction latency",
        description="Trains on random unit data and prints sequences/s and predict latency (p50, p95).",
    )
    parser.add_argument("--model-type", choices=("transformer", "lstm"), default="transformer")
    parser.add_argument("--dim", type=int, default=768, help="embedding width D (default 768)")
    parser.add_argument("--context", type=int, default=DEFAULTS.context_length, help="K (default 5)")
    parser.add_argument("--d-model", type=int, default=DEFAULTS.d_model)
    parser.add_argument("--num-layers", type=int, default=DEFAULTS.num_layers)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    parser.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto")
    add_backend_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from p7keras.bench import benchmark  # noqa: PLC0415 (imports keras; keep --help fast)
    from p7keras.io import atomic_path  # noqa: PLC0415

    result = benchmark(
        model_type=args.model_type,
        dim=args.dim,
        context_length=args.context,
        d_model=args.d_model,
        num_layers=args.num_layers,
        batch_size=args.batch_size,
        train_steps=args.steps,
        jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
    )
    print(
        f"backend {result['backend']}  {result['model_type']} D={result['dim']} K={result['context_length']} "
        f"d_model={result['d_model']} layers={result['num_layers']} batch={result['batch_size']} "
        f"jit={result['jit_compile']}"
    )
    print(f"train      {result['train_seq_per_s']:8.1f} sequences/s")
    print(f"predict    p50 {result['predict_p50_ms']:.2f} ms   p95 {result['predict_p95_ms']:.2f} ms  (1 sequence)")
    if args.json:
        with atomic_path(args.json) as tmp:
            with open(tmp, "w") as f:
                json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return 0
