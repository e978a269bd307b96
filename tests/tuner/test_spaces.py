"""The search spaces of spec section 7 (tuner/spaces.py)."""

import itertools

import keras_tuner
import pytest

from p7keras.config import DEFAULTS
from tuner.spaces import SPACES, Axis, get_space

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


def test_priority1_is_the_27_point_grid_with_the_baseline_first():
    space = get_space("priority1")
    assert space.size == 27 == len(space.points())
    expected = set(itertools.product((3, 5, 7), (0.05, 0.07, 0.10), (0.6, 0.8, 0.9)))
    assert {(p["context_length"], p["margin"], p["anchor_lambda"]) for p in space.points()} == expected
    hp = keras_tuner.HyperParameters()
    assert space.declare(hp) == {"context_length": DEFAULTS.context_length, "margin": DEFAULTS.margin,
                                 "anchor_lambda": DEFAULTS.anchor_lambda}


def test_priority2_and_3_cover_the_spec_ranges_and_fix_w_rank():
    p2, p3 = get_space("priority2"), get_space("priority3")
    assert p2.fixed == {"w_rank": DEFAULTS.w_rank} and p2.sets == ("w_margin", "w_teacher", "w_rank")
    values = {axis.field: axis.values for axis in (*p2.axes, *p3.axes)}
    assert values["w_margin"] == (0.3, 0.4, 0.5, 0.6, 0.7)
    assert values["w_teacher"] == (0.1, 0.15, 0.2, 0.25, 0.3)
    assert values["gate_threshold"] == (0.02, 0.03, 0.04, 0.05)
    assert values["gate_weak_weight"] == (0.1, 0.2, 0.25, 0.3, 0.4, 0.5)  # the default 0.25 added
    assert values["floor_threshold"] == (0.15, 0.2, 0.25, 0.3)
    assert (p2.size, p3.size) == (25, 96)
    hp = keras_tuner.HyperParameters()
    assert p3.declare(hp) == {"gate_threshold": DEFAULTS.gate_threshold, "gate_weak_weight": DEFAULTS.gate_weak_weight,
                              "floor_threshold": DEFAULTS.floor_threshold}


def test_recommended_preset_holds_the_five_first_runs():
    preset = get_space("recommended")
    runs = [tuple(preset.resolve(p).values()) for p in preset.points()]
    assert runs == [(5, 0.07, 0.8), (5, 0.07, 0.6), (5, 0.07, 0.9), (7, 0.07, 0.8), (5, 0.10, 0.8)]
    assert preset.columns == ("run", "context_length", "margin", "anchor_lambda") and preset.size == 5
    assert preset.declare(keras_tuner.HyperParameters()) == {"context_length": 5, "margin": 0.07, "anchor_lambda": 0.8}


def test_unknown_grid_and_bad_axes_are_refused():
    with pytest.raises(ValueError, match="unknown grid 'priority9'; choose one of: priority1, priority2"):
        get_space("priority9")
    with pytest.raises(ValueError, match="not a TrainConfig field"):
        Axis("learning_speed", (1, 2))
    assert set(SPACES) == {"priority1", "priority2", "priority3", "real-text", "real-text-objective", "recommended"}
