"""``p7keras train``: train a P7 ranker (the flags are ``p7keras.training.config.TRAIN_FLAGS``)."""

from __future__ import annotations

import argparse

from p7keras.training.config import TrainConfig, add_train_arguments, train_settings
from p7keras.training.distribute import process_problems, request_processes


def register(subparsers) -> None:
    """Adds the ``train`` subcommand to the ``p7keras`` parser."""
    parser = subparsers.add_parser(
        "train",
        help="train a P7 ranker and write its run directory",
        description="Train a P7 directional ranker. With no data flag it trains on the embedded synthetic "
        "corpus. Started again with the same command, an interrupted run resumes.",
        epilog="example: p7keras train --context 7 --margin 0.10 --lambda 0.9 --epochs 12",
    )
    add_train_arguments(parser, unset=True)  # only the flags given are set: a --preset fills the others
    processes = parser.add_argument_group(
        "several processes", "JAX: --distribute data-parallel over N processes (one per host, or several on one "
        "host); start the same command in each with its --process-id. Keras' KERAS_DISTRIBUTION_* variables work too")
    processes.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0 (a free port on it)")
    processes.add_argument("--num-processes", type=int, metavar="N", help="processes in the run")
    processes.add_argument("--process-id", type=int, metavar="I", help="this process, 0 to N-1 (0 writes the run "
                           "directory)")
    parser.set_defaults(func=run_command, uses_keras=False)  # train() imports Keras, once flags and data are checked


def run_command(args: argparse.Namespace) -> int:
    """Trains; exit code 0 for a PASS or MARGINAL verdict, 1 for FAIL."""
    from p7keras.training import train  # noqa: PLC0415
    from p7keras.training.presets import describe  # noqa: PLC0415

    config = TrainConfig(**train_settings(args))
    config.check()
    problems = process_problems(args.coordinator, args.num_processes, args.process_id, config.backend,
                                config.distribute)
    if problems:
        raise ValueError(problems[0])
    request_processes(args.coordinator, args.num_processes, args.process_id)
    if config.preset is not None:
        print(describe(config.preset), flush=True)
    result = train(config)
    return 0 if result.verdict["status"] in ("PASS", "MARGINAL") else 1
