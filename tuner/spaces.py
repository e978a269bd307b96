"""The search spaces of spec section 7, as data: the priority 1-3 grids and the recommended first runs.

Every searched name is a :class:`p7keras.training.TrainConfig` field, so a trial's settings are the
base configuration with the searched values replaced. Defaults (the value a grid search tries first)
come from ``TrainConfig()`` (that is, from ``p7keras.config.DEFAULTS``), never from literals here.

The spec gives priority 2 and 3 as ranges; the step of each range is the data below (and the
default is added to a range that contains it but misses it on the step, so the baseline is a trial).

Example:

>>> space = get_space("priority1")
>>> space.size, space.fields
(27, ('context_length', 'margin', 'anchor_lambda'))
>>> get_space("recommended").resolve({"run": "strong-anchor"})
{'context_length': 5, 'margin': 0.07, 'anchor_lambda': 0.6}
"""

from __future__ import annotations

import dataclasses
import itertools
import math

from p7keras.config import DEFAULTS
from p7keras.training.config import TrainConfig

_BASE = TrainConfig()
# Digits kept when a range is stepped through (0.1 + 2 * 0.1 is 0.30000000000000004 otherwise).
_DIGITS = 6


@dataclasses.dataclass(frozen=True)
class Axis:
    """One searched setting: a ``TrainConfig`` field and its candidate values, in grid order.

    Example:

    >>> Axis.span("w_margin", 0.3, 0.7, 0.1).values
    (0.3, 0.4, 0.5, 0.6, 0.7)

    Args:
        field: the ``TrainConfig`` field.
        values: the candidates; the field's default (tried first by a grid search) must be one of
            them when it is given.
    """

    field: str
    values: tuple

    def __post_init__(self):
        if self.field not in TrainConfig.__dataclass_fields__:
            raise ValueError(f"search axis {self.field!r} is not a TrainConfig field")
        if not self.values:
            raise ValueError(f"search axis {self.field!r} has no values")

    @classmethod
    def span(cls, field: str, low: float, high: float, step: float) -> "Axis":
        """``low, low + step, ..., high`` (inclusive), plus the field's default when it lies inside.

        Args:
            field: the ``TrainConfig`` field.
            low, high: the range of the spec.
            step: the distance between candidates.

        Returns:
            An :class:`Axis` with sorted values.
        """
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        values = {round(low + i * step, _DIGITS) for i in range(count)}
        default = getattr(_BASE, field)
        if low <= default <= high:
            values.add(default)
        return cls(field, tuple(sorted(values)))

    @property
    def default(self):
        """The ``TrainConfig`` default when it is a candidate, else the first candidate."""
        default = getattr(_BASE, self.field)
        return default if default in self.values else self.values[0]


@dataclasses.dataclass(frozen=True)
class Grid:
    """A Cartesian grid of axes, with settings the grid fixes.

    Args:
        name: the ``--grid`` name.
        description: one line for ``--help`` and the README.
        axes: the searched settings.
        fixed: ``TrainConfig`` fields the grid pins (e.g. priority 2's ``w_rank = 1.0``).
    """

    name: str
    description: str
    axes: tuple[Axis, ...]
    fixed: dict = dataclasses.field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        """The searched ``TrainConfig`` fields, in declaration order."""
        return tuple(axis.field for axis in self.axes)

    @property
    def sets(self) -> tuple[str, ...]:
        """Every ``TrainConfig`` field the grid sets: the searched ones and the fixed ones."""
        return (*self.fields, *self.fixed)

    @property
    def columns(self) -> tuple[str, ...]:
        """The hyperparameter columns of the ranked table."""
        return self.fields

    @property
    def size(self) -> int:
        """The number of combinations (the trials of a full grid search)."""
        return math.prod(len(axis.values) for axis in self.axes)

    def declare(self, hp) -> dict:
        """Registers the axes on ``hp`` (a ``keras_tuner.HyperParameters``); returns the trial's fields."""
        values = {
            axis.field: hp.Choice(axis.field, list(axis.values), default=axis.default,
                                  ordered=all(isinstance(v, (int, float)) for v in axis.values))  # names: unordered
            for axis in self.axes
        }
        return self.resolve(values)

    def resolve(self, values: dict) -> dict:
        """The ``TrainConfig`` fields of one point (hyperparameter values by name)."""
        return {**{field: values[field] for field in self.fields}, **self.fixed}

    def points(self) -> list[dict]:
        """Every point of the grid as hyperparameter values (for checks and documentation)."""
        return [dict(zip(self.fields, combo)) for combo in itertools.product(*(a.values for a in self.axes))]


@dataclasses.dataclass(frozen=True)
class Preset:
    """Named runs, each a full setting of ``fields`` (not a Cartesian product).

    It is searched as one categorical hyperparameter ``run`` whose values are the run names.

    Args:
        name: the ``--grid`` name.
        description: one line for ``--help`` and the README.
        fields: the ``TrainConfig`` fields every run sets.
        runs: run name -> one value per field; the first run is tried first.
    """

    name: str
    description: str
    fields: tuple[str, ...]
    runs: dict

    HYPERPARAMETER = "run"

    def __post_init__(self):
        for run, values in self.runs.items():
            if len(values) != len(self.fields):
                raise ValueError(f"preset {self.name}: run {run!r} sets {len(values)} values for {self.fields}")

    @property
    def sets(self) -> tuple[str, ...]:
        return self.fields

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.HYPERPARAMETER, *self.fields)

    @property
    def size(self) -> int:
        return len(self.runs)

    def declare(self, hp) -> dict:
        names = list(self.runs)
        return self.resolve({self.HYPERPARAMETER: hp.Choice(self.HYPERPARAMETER, names, default=names[0])})

    def resolve(self, values: dict) -> dict:
        return dict(zip(self.fields, self.runs[values[self.HYPERPARAMETER]]))

    def points(self) -> list[dict]:
        return [{self.HYPERPARAMETER: name} for name in self.runs]


SearchSpace = Grid | Preset

# ----------------------------------------------------------------------------- spec section 7
_P1 = ("context_length", "margin", "anchor_lambda")

SPACES: dict[str, SearchSpace] = {
    space.name: space
    for space in (
        Grid(
            "priority1",
            "context {3, 5, 7} x margin {0.05, 0.07, 0.10} x lambda {0.6, 0.8, 0.9} (27 trials)",
            (Axis("context_length", (3, 5, 7)), Axis("margin", (0.05, 0.07, 0.10)),
             Axis("anchor_lambda", (0.6, 0.8, 0.9))),
        ),
        Grid(
            "priority2",
            "w_margin 0.3-0.7 (step 0.1) x w_teacher 0.1-0.3 (step 0.05), w_rank fixed (25 trials)",
            (Axis.span("w_margin", 0.3, 0.7, 0.1), Axis.span("w_teacher", 0.1, 0.3, 0.05)),
            fixed={"w_rank": DEFAULTS.w_rank},
        ),
        Grid(
            "priority3",
            "gate threshold 0.02-0.05 (step 0.01) x gate weak weight 0.1-0.5 (step 0.1, + 0.25) x "
            "teacher floor 0.15-0.30 (step 0.05) (96 trials)",
            (Axis.span("gate_threshold", 0.02, 0.05, 0.01), Axis.span("gate_weak_weight", 0.1, 0.5, 0.1),
             Axis.span("floor_threshold", 0.15, 0.30, 0.05)),
        ),
        Grid(
            "real-text",
            "around --preset real-text: learning rate {2e-5, 5e-5, 1e-4} x temperature {0.02, 0.03, 0.05} (9 trials)",
            (Axis("learning_rate", (2e-5, 5e-5, 1e-4)), Axis("temperature", (0.02, 0.03, 0.05))),
        ),
        Grid(
            "real-text-objective",
            "around --preset real-text, the options of issue 11: head {mlp, residual} x context negatives {prev, "
            "older, none} x negative queue {0, 4096} (12 trials)",
            (Axis("head", ("mlp", "residual")), Axis("context_negatives", ("prev", "older", "none")),
             Axis("negative_queue", (0, 4096))),
        ),
        Preset(
            "recommended",
            "the five recommended first runs (context, margin, lambda) (5 trials)",
            _P1,
            {
                "baseline": (5, 0.07, 0.8),
                "strong-anchor": (5, 0.07, 0.6),
                "weak-anchor": (5, 0.07, 0.9),
                "larger-context": (7, 0.07, 0.8),
                "higher-margin": (5, 0.10, 0.8),
            },
        ),
    )
}


def get_space(name: str) -> SearchSpace:
    """The search space called ``name``.

    Example:

    >>> get_space("recommended").size
    5

    Args:
        name: a key of :data:`SPACES`.

    Returns:
        A :class:`Grid` or :class:`Preset`.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in SPACES:
        raise ValueError(f"unknown grid {name!r}; choose one of: {', '.join(SPACES)}")
    return SPACES[name]
