"""The ``p7keras`` console command.

Each subcommand lives in its own module of ``p7keras.cli`` and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an
exit code). Parsers are built from light modules only (no Keras, no TensorFlow): ``p7keras --help``
and a bad flag answer at once; a command imports the library when it runs. What happens around
every command (backend, quiet TensorFlow, one-line errors, exit codes) is ``p7keras.console``.

Example:

    $ p7keras bench --json bench.json
"""

from __future__ import annotations

import argparse
import importlib
import sys

from p7keras.console import CLIError, quiet_tensorflow, run_console_command
from p7keras.training.config import add_backend_argument

__all__ = ["CLIError", "SUBCOMMANDS", "add_backend_argument", "build_parser", "main"]

# Subcommand modules, in the order ``p7keras --help`` lists them.
SUBCOMMANDS = ("train", "evaluate", "predict", "export", "serve", "data", "tune", "bench")

EPILOG = (
    "exit codes: 0 success (training verdict PASS or MARGINAL), 1 FAIL verdict or failed gate, "
    "2 bad input or usage, 3 a fault during the run (full disk, failed write, non-finite loss, anything "
    "unexpected), 130 interrupted. Set P7KERAS_DEBUG=1 to see the traceback behind a one-line error."
)


def build_parser() -> argparse.ArgumentParser:
    """The ``p7keras`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="p7keras",
        description="Train and evaluate P7 directional-ranker latent vector models (Keras 3).",
        epilog=EPILOG,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"p7keras.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs ``p7keras ARGS``; returns the exit code."""
    quiet_tensorflow()
    return run_console_command(build_parser(), sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
