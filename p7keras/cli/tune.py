"""``p7keras tune``: a KerasTuner search over the P7 grids (argparse only; the work is in ``tuner/``).

The flags are defined once, in :mod:`tuner.arguments`, and shared with ``python -m tuner.search``, whose
``run_command`` runs the search; ``tuner`` is imported only when this subcommand is registered (it loads
Keras and KerasTuner only when a search runs, after the grid, the flags and the data are checked).

Example:

    $ p7keras tune --grid priority1 --data corpus.npz --epochs 5
    $ p7keras tune --grid recommended --objective val_R@5 --tuner bayesian --max-trials 4
"""

from __future__ import annotations


def register(subparsers) -> None:
    """Adds the ``tune`` subcommand to the ``p7keras`` parser."""
    from tuner.arguments import TUNE_DESCRIPTION, add_arguments  # noqa: PLC0415 (p7keras hands over to tuner lazily)
    from tuner.search import run_command  # noqa: PLC0415

    parser = subparsers.add_parser(
        "tune",
        help="hyperparameter search (KerasTuner) over the P7 grids; saves a ranked table and the best run",
        description=TUNE_DESCRIPTION,
        epilog="example: p7keras tune --grid priority1 --data corpus.npz --epochs 5",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_command, uses_keras=False)  # run_search imports Keras once the data is checked
