"""The best trial of a search, saved as a training run directory (the layout ``p7keras train`` writes).

``<output_dir>/<exp-name>_<timestamp>/`` receives ``config.json`` (the trial's ``TrainConfig``),
``best.keras`` (the trial's best epoch by the search objective, from KerasTuner's checkpoint), then
what every run ends with (``RunDirectory.finish``): ``final.keras`` (after its last epoch),
``history.json``, ``curves.png``, ``verdict.json`` (the verdict of the best epoch) and, when asked,
``export/`` (SavedModel); plus ``tuning.json`` (which search and trial it came from).
``p7keras evaluate RUN_DIR`` reads it like any training run.

Example:

    save_best_run(tuner, "0003", summary, {"grid": "priority1"})   # 'saved_models/p7-tuned_20260101-120000'
"""

from __future__ import annotations

import os
import warnings

from p7keras.io import save_model, write_json
from p7keras.training.config import TrainConfig
from p7keras.training.footprint import disk_need
from p7keras.training.run_dir import RunDirectory
from p7keras.verdict import lambda_range_notes
from tuner.results import FINAL_WEIGHTS


def save_best_run(tuner, trial_id: str, summary: dict, search: dict) -> str:
    """Writes the run directory of one finished trial; returns its path.

    Args:
        tuner: the search's tuner (its ``load_model`` restores the trial's best checkpoint).
        trial_id: the trial to save.
        summary: the trial's ``p7_trial.json``.
        search: what identifies the search (written to ``tuning.json``).

    Returns:
        The run folder.

    Raises:
        PermissionError / OSError: an unwritable or full output folder.
        FileNotFoundError: the trial's checkpoint or final weights are missing.
    """
    config = TrainConfig.from_dict(summary["config"])
    trial = tuner.oracle.get_trial(trial_id)
    final_weights = os.path.join(tuner.get_trial_dir(trial_id), FINAL_WEIGHTS)
    if not os.path.exists(final_weights):
        raise FileNotFoundError(f"trial {trial_id} has no {FINAL_WEIGHTS} in {os.path.dirname(final_weights)}")
    with warnings.catch_warnings():
        # KerasTuner restores the checkpoint into a model whose optimizer is not built: the optimizer
        # state is skipped (best.keras gets a fresh one; final.keras gets the trained one).
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.load_model(trial)
    model.optimizer.build(model.trainable_variables)
    with RunDirectory.open(config.output_dir, config.exp_name, config.to_dict(),
                           disk_need(config, model.input_dim)) as run:
        save_model(model, run.file("best.keras"), optimizer=False)
        model.load_weights(final_weights)
        write_json(run.file("tuning.json"), {**search, "trial": trial_id, "score": trial.score,
                                             "settings": summary["settings"]})
        verdict = dict(summary["verdict"], best_epoch=summary["best_epoch"], best_by=summary["objective"],
                       warnings=summary.get("warnings", []))
        notes = lambda_range_notes(config.anchor_lambda_min, config.anchor_lambda_max)
        if notes:
            verdict["notes"] = notes
        run.finish(model, summary["history"], verdict, config.export, config.keep)
    return str(run.path)
