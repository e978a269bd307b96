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
import os
import subprocess
import sys

# Subcommand modules, in the order ``p7keras --help`` lists them.
SUBCOMMANDS = ("train", "evaluate", "data", "tune", "bench")


# Set P7KERAS_DEBUG=1 to see the traceback behind a one-line error.


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p7keras",
        description="Train and evaluate P7 directional-ranker latent vector models (Keras 3).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"p7keras.cli.{name}").register(subparsers)
    return parser


BACKENDS = ("tensorflow", "jax", "torch")


def add_backend_argument(parser) -> None:
    """Adds ``--backend``; ``main`` reads it before Keras runs (see ``_backend_from_argv``)."""
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: KERAS_BACKEND)")


def _backend_from_argv(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    backend = _backend_from_argv(argv)
    if backend:
        import keras  # noqa: PLC0415 (importing p7keras already imported it)

        if backend != keras.backend.backend() and backend in BACKENDS:
            # Keras fixes its backend at import: run the command again on the requested one.
            env = {**os.environ, "KERAS_BACKEND": backend}
            return subprocess.call([sys.executable, "-m", "p7keras", *argv], env=env)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, KeyError, OSError, RuntimeError) as exc:
        if os.environ.get("P7KERAS_DEBUG"):
            raise
        print(f"p7keras {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"p7keras {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
