"""``SearchConfig``: every setting of a search, its checks, and what identifies it on disk.

A search is a grid (or preset), a tuner, an objective and a base ``TrainConfig`` holding everything
that is not searched. Its project folder ``<directory>/<project>`` keeps ``search.json``; started
again with other settings on the same folder, the search stops with one line naming what differs
(instead of mixing trials of two searches).

Example:

    config = SearchConfig(grid="priority1", train={"epochs": 3, "d_model": 64, "num_heads": 4})
    config.check()
    config.project, config.base.epochs      # ('priority1-grid', 3)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

from p7keras.io import read_json
from p7keras.training.config import RENAMED_FIELDS, TrainConfig, flag_of
from tuner.results import OBJECTIVES
from tuner.spaces import SearchSpace, get_space

TUNER_KINDS = ("grid", "bayesian", "hyperband")
DEFAULT_GRID = "priority1"
DEFAULT_DIRECTORY = os.path.join("saved_models", "tuning")
DEFAULT_EXP_NAME = "p7-tuned"
SETTINGS_FILE = "search.json"
# Trials per process on TensorFlow by default: Keras 3 on TensorFlow keeps memory of every model it has
# trained (keras-team/keras#17458, #20552; about 35 MiB a trial for a tiny model here), so a search
# there runs its trials in fresh processes, this many each. JAX and PyTorch stay flat in one process.
TENSORFLOW_TRIALS_PER_PROCESS = 5
# TrainConfig fields that may change between a search and its resumption (where results go, which device).
RUN_ONLY_FIELDS = ("output_dir", "exp_name", "export", "keep", "device", "backend")


def check_tuner(kind: str, max_trials: int | None) -> None:
    """Raises ``ValueError`` for an unknown tuner kind or a ``max_trials`` it cannot take.

    Example:

        check_tuner("hyperband", 3)   # ValueError: --max-trials does not apply to the hyperband tuner: ...
    """
    if kind not in TUNER_KINDS:
        raise ValueError(f"unknown tuner {kind!r}; choose one of: {', '.join(TUNER_KINDS)}")
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max trials must be >= 1, got {max_trials}")
    if kind == "hyperband" and max_trials is not None:
        raise ValueError("--max-trials does not apply to the hyperband tuner: its brackets are sized by --epochs")
    if kind == "bayesian" and importlib.util.find_spec("sklearn") is None:
        raise ValueError("--tuner bayesian needs scikit-learn (KerasTuner's Gaussian process): pip install scikit-learn")


@dataclasses.dataclass
class SearchConfig:
    """Settings of one search; ``python -m tuner.search`` / ``p7keras tune`` flags map onto these fields.

    Args:
        grid: a name of ``tuner.spaces.SPACES``.
        tuner: ``grid``, ``bayesian`` or ``hyperband``.
        objective: ``val_margin``, ``val_R@5`` or ``val_MRR@10`` (maximised).
        max_trials: the most trials (grid: the first N points; bayesian: default the grid's size).
        directory: the folder of search projects.
        project_name: the project folder (default ``<grid>-<tuner>``).
        overwrite: start the project over instead of resuming it.
        trials_per_process: run the trials in fresh processes, this many each (the search resumes in
            the next one), so memory cannot grow with the number of trials; 0 runs every trial in this
            process; None (default) is ``TENSORFLOW_TRIALS_PER_PROCESS`` on TensorFlow and 0 elsewhere.
        train: ``TrainConfig`` fields set explicitly (the rest keep their defaults, the synthetic
            corpus's size included); a field the grid searches or fixes cannot be set.
    """

    grid: str = DEFAULT_GRID
    tuner: str = "grid"
    objective: str = OBJECTIVES[0]
    max_trials: int | None = None
    directory: str = DEFAULT_DIRECTORY
    project_name: str | None = None
    overwrite: bool = False
    trials_per_process: int | None = None
    train: dict = dataclasses.field(default_factory=dict)

    @property
    def space(self) -> SearchSpace:
        return get_space(self.grid)

    @property
    def base(self) -> TrainConfig:
        """The settings every trial shares (``exp_name`` defaults to ``p7-tuned``; ``precision`` as resolved on
        this machine, :attr:`base_precision`, so ``search.json`` and each trial's ``config.json`` record it)."""
        return dataclasses.replace(self._given_base(), precision=self.base_precision[0])

    @property
    def base_precision(self) -> tuple[str, str]:
        """``(policy, reason)``: the training precision of every trial (``auto`` resolved as a run does)."""
        return self._given_base().resolved_precision()

    def _given_base(self) -> TrainConfig:
        return TrainConfig.from_dict({"exp_name": DEFAULT_EXP_NAME, **self.train})

    @property
    def project(self) -> str:
        return self.project_name or f"{self.grid}-{self.tuner}"

    @property
    def project_dir(self) -> str:
        return os.path.join(self.directory, self.project)

    def check(self) -> None:
        """Raises ``ValueError`` naming the first impossible setting of the search, before any data is read.

        Every grid point is checked with the base settings (each trial's config is one of them), so the
        trials do not check again; the base config itself is checked, with the machine, by
        :func:`p7keras.training.preflight.preflight` (``run_search`` calls both).
        """
        space = self.space
        check_tuner(self.tuner, self.max_trials)
        if self.trials_per_process is not None and self.trials_per_process < 0:
            raise ValueError(f"trials per process must be >= 0 (0: all in one process), got {self.trials_per_process}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        searched = [field for field in space.sets if field in self.train]
        if searched:
            raise ValueError(f"{flag_of(searched[0])} is set by grid {self.grid}: drop it or choose another grid")
        base = self.base
        for point in space.points():
            dataclasses.replace(base, **space.resolve(point)).check()

    def process_quota(self, backend: str) -> int:
        """Trials per process on ``backend`` (0: all in this one).

        Example:

            SearchConfig().process_quota("tensorflow"), SearchConfig().process_quota("jax")   # (5, 0)
        """
        if self.trials_per_process is not None:
            return self.trials_per_process
        return TENSORFLOW_TRIALS_PER_PROCESS if backend == "tensorflow" else 0

    def settings(self) -> dict:
        """What must not change when the search is resumed (stored in ``search.json``)."""
        config = {k: v for k, v in self.base.to_dict().items() if k not in RUN_ONLY_FIELDS}
        return {"grid": self.grid, "tuner": self.tuner, "objective": self.objective, "config": config}

    def check_resumable(self) -> None:
        """Raises ``ValueError`` when the project folder holds a search with other settings.

        Nothing is checked with ``overwrite`` (the folder is started over) or when there is no
        ``search.json`` yet.
        """
        path = os.path.join(self.project_dir, SETTINGS_FILE)
        if self.overwrite or not os.path.exists(path):
            return
        saved = read_json(path)
        if not isinstance(saved, dict):
            raise ValueError(f"{path} is damaged (not a JSON object): pass --overwrite to start the search over")
        mine = self.settings()
        old = {RENAMED_FIELDS.get(key, key): value for key, value in saved.get("config", {}).items()}
        new = mine.pop("config")
        differ = [flag_of(key) for key in mine if saved.get(key) != mine[key]]
        differ += [flag_of(key) for key in new if old.get(key) != new[key]]
        if differ:
            raise ValueError(
                f"{self.project_dir} holds a search with other settings ({', '.join(differ)}): run it "
                "with its own settings to resume it, or pass --overwrite or another --project-name"
            )
