"""The oracles of a P7 search: KerasTuner's, with state files that survive a kill, and a grid that resumes.

KerasTuner writes ``oracle.json`` and every ``trial.json`` in place (open, write). A search killed
while one of them is being written leaves it empty, and the next start fails to reload the project
with a bare ``JSONDecodeError``. :class:`AtomicState` writes both through ``p7keras.io.write_json``
(temporary file, then rename), so an interrupted search can always be started again.

``keras_tuner.oracles.GridSearchOracle`` (1.4.8) also keeps two bookkeeping fields outside its saved
state: the trials in grid order (``_ordered_ids``) and the trials whose next grid point is still to
be made (``_populate_next``). Reloaded in a new process they are empty, so a restarted search either
stops at once (nothing queued) or fails with ``KeyError: '<trial id>'`` after its first trial
(keras-team/keras-tuner#1055). :class:`ResumableGridSearchOracle` rebuilds both from the reloaded
trials: the trials in grid order, and every one of them queued, so the next points after each are
found again (a point already tried is skipped by the oracle itself). Every oracle here saves its state once
more after a trial ends (KerasTuner saves before it drops the trial from the running ones, so a
search restarted later would otherwise run the last finished trial again), and forgets, on
reload, a trial whose ``trial.json`` was written but whose start ``oracle.json`` never recorded (a kill
between the two writes): KerasTuner would count it towards ``max_trials`` and never run it.

Example:

>>> import keras_tuner
>>> oracle = make_oracle("grid", keras_tuner.Objective("val_margin", "max"))
>>> type(oracle).__name__
'ResumableGridSearchOracle'
"""

from __future__ import annotations

import functools
import os

from keras_tuner.oracles import BayesianOptimizationOracle, GridSearchOracle, HyperbandOracle
from keras_tuner.src.tuners.gridsearch import LinkedList

from p7keras.io import write_json
from tuner.config import check_tuner

TRIAL_STATE = "trial.json"
# The KerasTuner releases whose private oracle state this module patches (pyproject pins the same).
SUPPORTED_KERAS_TUNER = ("1.4.8",)
# What this module reaches into: attribute or method names of GridSearchOracle and of its LinkedList.
PATCHED_ORACLE_STATE = ("_ordered_ids", "_populate_next", "_compare", "start_order", "_get_oracle_fname",
                        "_get_trial_dir", "_save_trial", "trials", "get_state", "set_state", "end_trial")
PATCHED_LINKED_LIST = ("insert",)


def check_keras_tuner() -> None:
    """Raises ``RuntimeError`` naming what changed when KerasTuner's private oracle state is not what
    this module patches (a KerasTuner other than :data:`SUPPORTED_KERAS_TUNER`).
    """
    import keras_tuner  # noqa: PLC0415

    oracle = GridSearchOracle(objective=keras_tuner.Objective("score", "max"))
    missing = [name for name in PATCHED_ORACLE_STATE if not hasattr(oracle, name)]
    missing += [f"LinkedList.{name}" for name in PATCHED_LINKED_LIST if not hasattr(LinkedList(), name)]
    if missing:
        raise RuntimeError(
            f"keras-tuner {keras_tuner.__version__} lacks the oracle state tuner/oracles.py patches "
            f"({', '.join(missing)}); install keras-tuner {' or '.join(SUPPORTED_KERAS_TUNER)}"
        )
HYPERBAND_FACTOR = 3


class AtomicState:
    """Oracle mixin: ``oracle.json`` and each ``trial.json`` are written atomically."""

    def save(self):
        write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_json(os.path.join(self._get_trial_dir(trial.trial_id), TRIAL_STATE), trial.get_state())

    def end_trial(self, trial):
        super().end_trial(trial)
        self.save()  # KerasTuner saved while the trial was still running: a restart would run it again

    def set_state(self, state):
        super().set_state(state)
        # KerasTuner writes a new trial's trial.json before oracle.json: a kill between the two leaves a
        # trial the saved state never started. Reloaded, it would count towards max_trials and never run
        # (neither running nor queued for retry); forgotten, its id and its point are made again.
        for trial_id in [t for t in self.trials if t not in set(self.start_order)]:
            del self.trials[trial_id]


class ResumableGridSearchOracle(AtomicState, GridSearchOracle):
    """A ``GridSearchOracle`` whose grid bookkeeping is rebuilt when its state is reloaded."""

    def set_state(self, state):
        super().set_state(state)
        # The trials are loaded before the state (Oracle.reload): order them as the grid does.
        tried = [self.trials[trial_id] for trial_id in self.start_order if trial_id in self.trials]
        order = functools.cmp_to_key(lambda a, b: self._compare(a.hyperparameters.values, b.hyperparameters.values))
        tried.sort(key=order)
        self._ordered_ids = LinkedList()
        for trial in tried:
            self._ordered_ids.insert(trial.trial_id)
        self._populate_next = [trial.trial_id for trial in tried]


class AtomicBayesianOptimizationOracle(AtomicState, BayesianOptimizationOracle):
    """KerasTuner's Bayesian oracle (Gaussian process; needs scikit-learn) with atomic state files."""


class AtomicHyperbandOracle(AtomicState, HyperbandOracle):
    """KerasTuner's Hyperband oracle with atomic state files."""


def make_oracle(kind: str, objective, *, max_trials: int | None = None, max_epochs: int = 1, seed: int = 0):
    """The oracle of one tuner kind.

    Example:

    >>> import keras_tuner
    >>> make_oracle("bayesian", keras_tuner.Objective("val_R@5", "max"), max_trials=8).max_trials
    8

    Args:
        kind: ``grid``, ``bayesian`` or ``hyperband``.
        objective: a ``keras_tuner.Objective``.
        max_trials: the most trials (grid: None runs every point; bayesian: required; hyperband: unused).
        max_epochs: Hyperband's largest number of epochs per trial.
        seed: the oracle's random seed.

    Returns:
        A KerasTuner oracle.

    Raises:
        ValueError: an unknown kind, ``max_trials`` < 1 or with Hyperband, or a Bayesian oracle without it.
    """
    check_tuner(kind, max_trials)
    if kind == "grid":
        check_keras_tuner()
        return ResumableGridSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
    if kind == "bayesian":
        if max_trials is None:
            raise ValueError("a Bayesian search needs max_trials")
        return AtomicBayesianOptimizationOracle(objective=objective, max_trials=max_trials, seed=seed)
    return AtomicHyperbandOracle(objective=objective, max_epochs=max_epochs, factor=HYPERBAND_FACTOR, seed=seed)
