"""The ``p7keras`` console command.

Each subcommand lives in its own module of ``p7keras.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code).

Example:

    $ p7keras bench --json bench.json
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order ``p7keras --help`` lists them.
SUBCOMMANDS = ("train", "evaluate", "data", "tune", "bench")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p7keras",
        description="Train and evaluate P7 directional-ranker latent vector models (Keras 3).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"p7keras.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"p7keras.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError, PermissionError, OSError) as exc:
        print(f"p7keras {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
