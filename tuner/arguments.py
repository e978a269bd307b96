"""The flags of a search and the command's description, defined once for ``python -m tuner.search`` and
``p7keras tune`` (both run :func:`tuner.search.run_command`).

Search flags map onto :class:`tuner.config.SearchConfig`; the training flags (model size, loss
settings that are not searched, epochs, batch size, data...) onto ``TrainConfig`` fields, and only
the ones given on the command line are set (the others keep ``TrainConfig``'s defaults).

This module imports neither Keras nor KerasTuner: ``p7keras tune --help`` parses with it first.

Example:

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(["--grid", "recommended", "--d-model", "16", "--num-heads", "2"]))
    config.grid, config.train       # ('recommended', {'d_model': 16, 'num_heads': 2})
"""

from __future__ import annotations

import argparse

from p7keras.training.config import add_train_arguments, train_settings
from p7keras.training.presets import PRESET_GRIDS
from tuner.config import DEFAULT_DIRECTORY, DEFAULT_GRID, DEFAULT_EXP_NAME, TENSORFLOW_TRIALS_PER_PROCESS, TUNER_KINDS, SearchConfig
from tuner.results import OBJECTIVES
from tuner.spaces import SPACES, get_space

TUNE_DESCRIPTION = (
    "Search the P7 hyperparameter grids with KerasTuner (grid, Bayesian or Hyperband). With no data flag it "
    "searches on the embedded synthetic corpus. Started again with the same command, an interrupted search "
    "runs only the trials that are left."
)

# Help texts of the training flags that say something else for a search.
_TEXTS = {
    "context_length": "K, when the grid does not search it",
    "anchor_lambda": "start λ, when the grid does not search it",
    "epochs": "epochs per trial (Hyperband: its max epochs)",
    "seed": "split, initialisation and oracle seed",
    "exp_name": f"folder prefix of the best model's run directory (default {DEFAULT_EXP_NAME})",
    "output_dir": "where the best model's run directory goes",
    "export": "skip the best model's SavedModel export",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds every flag of a search to ``parser`` (used by ``tuner.search`` and ``p7keras tune``).

    Args:
        parser: an empty parser (or subcommand parser).
    """
    search = parser.add_argument_group("search")
    grids = "; ".join(f"{space.name}: {space.description}" for space in SPACES.values())
    search.add_argument("--grid", default=None,
                        help=f"search space (default priority1; with --preset, the grid around it) — {grids}")
    search.add_argument("--tuner", default="grid", help=f"{' | '.join(TUNER_KINDS)} (default grid)")
    search.add_argument("--objective", default=OBJECTIVES[0],
                        help=f"metric to maximise: {' | '.join(OBJECTIVES)} (default {OBJECTIVES[0]})")
    search.add_argument("--max-trials", type=int, default=None, metavar="N",
                        help="run at most N trials (grid: the whole grid; bayesian: the grid's size)")
    search.add_argument("--directory", default=DEFAULT_DIRECTORY,
                        help=f"folder of search projects (default {DEFAULT_DIRECTORY})")
    search.add_argument("--project-name", default=None, help="project folder (default <grid>-<tuner>)")
    search.add_argument("--overwrite", action="store_true", help="start the project over instead of resuming it")
    search.add_argument("--trials-per-process", type=int, default=None, metavar="N",
                        help="run the trials in fresh processes, N each, so memory stays flat (0: all in this "
                        f"process; default {TENSORFLOW_TRIALS_PER_PROCESS} on TensorFlow, whose memory grows with "
                        "every trained model, 0 on JAX and PyTorch)")
    add_train_arguments(parser, unset=True, texts=_TEXTS)


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The :class:`SearchConfig` of parsed flags (training flags only where given).

    With ``--preset``, the preset's settings are the base of every trial, except those the grid searches
    (a flag given explicitly for a searched setting is still refused).
    """
    train = train_settings(args)
    preset = train.get("preset")
    grid = args.grid or PRESET_GRIDS.get(preset, DEFAULT_GRID)
    if preset is not None:
        given = set(train_settings(argparse.Namespace(**{**vars(args), "preset": None})))
        searched = set(get_space(grid).sets) if grid in SPACES else set()
        train = {k: v for k, v in train.items() if k in given or k not in searched}
    return SearchConfig(grid=grid, tuner=args.tuner, objective=args.objective, max_trials=args.max_trials,
                        directory=args.directory, project_name=args.project_name, overwrite=args.overwrite,
                        trials_per_process=args.trials_per_process, train=train)
