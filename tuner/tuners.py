"""The KerasTuner tuners of a P7 search (grid, Bayesian, Hyperband) and their trial log.

Each tuner is the KerasTuner class with one mixin, :class:`TrialLog`, and an oracle of
:mod:`tuner.oracles` (state files written atomically; the grid one resumes where KerasTuner's does
not). The mixin

* hands the trial's folder to ``P7HyperModel.fit`` (for ``p7_trial.json`` and the final weights),
* appends a ``start`` and an ``end`` line per trial to ``<project>/trial_events.jsonl`` (one
  ``O_APPEND`` write per line, so the chief-less process and every worker can share the file),
* writes the tuner's own state file atomically too,
* drops Keras' global state after each trial and logs the RSS then (memory must stay flat),
* prints one line for a failed trial (its traceback stays in its ``trial.json``).

Resuming is KerasTuner's own: a tuner made with ``overwrite=False`` on an existing project reloads the
oracle, so finished trials are not run again and an interrupted one is run again.

Example:

    tuner = make_tuner("grid", hypermodel, directory="saved_models/tuning", project_name="p1")
    tuner.search()
"""

from __future__ import annotations

import json
import os
import sys
import time

import keras_tuner

from p7keras.callbacks.retrieval import RETRIEVAL_METRICS
from p7keras.io import write_json
from p7keras.verdict import SELECTED_SUFFIX
from tuner.config import check_tuner
from tuner.hypermodel import P7HyperModel
from tuner.memory import release_memory
from tuner.oracles import make_oracle
from tuner.results import COMPLETED, error_line

TUNERS = {"grid": keras_tuner.GridSearch, "bayesian": keras_tuner.BayesianOptimization,
          "hyperband": keras_tuner.Hyperband}
EVENTS_FILE = "trial_events.jsonl"


class QuotaReached(Exception):
    """This process ran the trials it was given (``TrialLog.stop_after``); the search goes on in another."""


def objective_metric(objective: str) -> str:
    """The logged metric a trial's score is the best of.

    On a retrieval objective it is ``<objective>_selected`` (``RetrievalMetrics``): the value of the model
    the run's own selection rule keeps, the starting model's until an epoch beats it beyond noise
    (issue 21), so a search ranks trials by the model each trial would ship. On ``val_margin``, itself.

    Example: ``objective_metric("val_R@5")`` -> ``'val_R@5_selected'``.
    """
    return objective + SELECTED_SUFFIX if objective in RETRIEVAL_METRICS else objective


def log_event(project_dir: str, **event) -> None:
    """Appends one JSON line to ``<project_dir>/trial_events.jsonl`` in a single ``O_APPEND`` write."""
    line = json.dumps({"time": round(time.time(), 3), "pid": os.getpid(), **event}) + "\n"
    fd = os.open(os.path.join(project_dir, EVENTS_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def read_events(project_dir: str) -> list[dict]:
    """Every line of ``trial_events.jsonl`` (oldest first); an empty list when there is none.

    Example:

        [e["trial_id"] for e in read_events("saved_models/tuning/priority1-grid") if e["event"] == "end"]
        # ['0000', '0001']
    """
    try:
        with open(os.path.join(project_dir, EVENTS_FILE), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


class TrialLog:
    """Mixin for a ``keras_tuner`` tuner: trial folder to the hypermodel, event log, memory release.

    It takes the oracle ready-made (KerasTuner's ``BayesianOptimization`` and ``Hyperband`` make their
    own, whose state files are not written atomically).
    """

    def __init__(self, oracle, **kwargs):
        keras_tuner.Tuner.__init__(self, oracle=oracle, **kwargs)
        self.trials_left: int | None = None  # None: no limit; see ``stop_after``

    def stop_after(self, trials: int | None) -> None:
        """Makes ``search()`` raise :class:`QuotaReached` once ``trials`` trials ended in this process."""
        self.trials_left = trials

    def pre_create_trial(self):
        if self.trials_left == 0:
            raise QuotaReached
        super().pre_create_trial()

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_json(self._get_tuner_fname(), self.get_state())

    def run_trial(self, trial, *args, **kwargs):
        return super().run_trial(trial, *args, trial_dir=self.get_trial_dir(trial.trial_id), **kwargs)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        log_event(self.project_dir, event="start", trial_id=trial.trial_id, tuner_id=self.tuner_id,
                  values=trial.hyperparameters.values)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.trials_left is not None:
            self.trials_left -= 1
        log_event(self.project_dir, event="end", trial_id=trial.trial_id, tuner_id=self.tuner_id,
                  status=trial.status, rss_mib=round(release_memory(), 1))
        if trial.status != COMPLETED:
            print(f"[p7keras] trial {trial.trial_id} {trial.status.lower()}: {error_line(trial.message)} "
                  f"(traceback in {self.get_trial_dir(trial.trial_id)}/trial.json)", file=sys.stderr, flush=True)


def make_tuner(
    kind: str,
    hypermodel: P7HyperModel,
    *,
    directory: str,
    project_name: str,
    max_trials: int | None = None,
    overwrite: bool = False,
    seed: int = 0,
) -> keras_tuner.Tuner:
    """A KerasTuner tuner of ``kind`` over the hypermodel's space, maximising its objective.

    Example:

        make_tuner("bayesian", hypermodel, directory="runs", project_name="p1", max_trials=8)

    Args:
        kind: ``grid`` (every point, in order; ``max_trials`` cuts it), ``bayesian`` (``max_trials``
            trials, default the size of the space) or ``hyperband`` (brackets sized by the base
            ``epochs`` as its ``max_epochs``; ``max_trials`` does not apply).
        hypermodel: the P7 hypermodel.
        directory: the folder of the search's projects.
        project_name: the project folder (the same name resumes the search).
        max_trials: the most trials to run.
        overwrite: start the project over instead of resuming it.
        seed: seed of the oracle.

    Returns:
        The tuner (with the :class:`TrialLog` mixin).

    Raises:
        ValueError: an unknown kind, ``max_trials`` < 1, or ``max_trials`` with Hyperband.
    """
    check_tuner(kind, max_trials)
    if kind == "bayesian":
        max_trials = max_trials or hypermodel.space.size
    objective = keras_tuner.Objective(objective_metric(hypermodel.objective), direction="max")
    oracle = make_oracle(kind, objective, max_trials=max_trials, max_epochs=hypermodel.base.epochs, seed=seed)
    base = TUNERS[kind]
    return type(f"P7{base.__name__}", (TrialLog, base), {})(
        oracle=oracle, hypermodel=hypermodel, directory=directory, project_name=project_name, overwrite=overwrite)
