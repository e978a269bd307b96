"""tuner.oracles: a reloaded grid search runs every point left, once (keras-tuner#1055); state files are atomic."""

import json

import keras_tuner
import pytest

from tuner.oracles import AtomicState, ResumableGridSearchOracle, make_oracle
from tuner.spaces import get_space

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

GRID = get_space("priority1")


def _oracle(tmp_path, reload: bool):
    oracle = ResumableGridSearchOracle(objective=keras_tuner.Objective("val_margin", "max"))
    oracle._set_project_dir(str(tmp_path), "grid")
    if reload:
        oracle.reload()
    else:
        hp = keras_tuner.HyperParameters()
        GRID.declare(hp)
        oracle.update_space(hp)
    return oracle


def _run(oracle, trials: int | None, leave_open: bool = False) -> list[tuple]:
    """Creates and ends trials; returns their points. ``leave_open``: the last one is not ended."""
    points = []
    while trials is None or len(points) < trials:
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        points.append(tuple(trial.hyperparameters.values[f] for f in GRID.fields))
        if leave_open and len(points) == trials:
            break
        oracle.update_trial(trial.trial_id, {"val_margin": float(len(points))})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return points


@pytest.mark.parametrize("interrupted_mid_trial", [False, True])
def test_reloaded_grid_runs_each_point_left_once(tmp_path, interrupted_mid_trial):
    first = _run(_oracle(tmp_path, reload=False), 10, leave_open=interrupted_mid_trial)
    rest = _run(_oracle(tmp_path, reload=True), None)
    finished = first[:-1] if interrupted_mid_trial else first
    assert len(finished + rest) == GRID.size == len(set(finished + rest))
    if interrupted_mid_trial:
        assert rest[0] == first[-1]  # the interrupted trial runs again, first


@pytest.mark.parametrize("kind", ["grid", "bayesian"])
def test_a_trial_made_but_not_recorded_by_the_oracle_runs_after_a_kill(tmp_path, kind):
    """Killed between a new trial's trial.json and oracle.json: the reloaded search makes that trial again."""
    def oracle():
        made = make_oracle(kind, keras_tuner.Objective("val_margin", "max"), max_trials=4, seed=1)
        made._set_project_dir(str(tmp_path), "search")
        hp = keras_tuner.HyperParameters()
        GRID.declare(hp)
        made.update_space(hp)
        return made

    first = oracle()
    _run(first, 2)

    def killed(*args):
        raise KeyboardInterrupt

    first.save = killed  # the process dies right after trial 2's trial.json is written
    with pytest.raises(KeyboardInterrupt):
        first.create_trial("tuner0")
    assert (tmp_path / "search" / "trial_2" / "trial.json").exists()
    second = oracle()
    second.reload()
    assert sorted(second.trials) == ["0", "1"] and not second.ongoing_trials  # trial 1 is not run again
    ran = []
    while (trial := second.create_trial("tuner0")).status == "RUNNING":
        ran.append(trial.trial_id)
        second.update_trial(trial.trial_id, {"val_margin": 0.5})
        trial.status = "COMPLETED"
        second.end_trial(trial)
    assert ran == ["2", "3"]  # max_trials=4 in all


def test_state_files_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    oracle = _oracle(tmp_path, reload=False)
    _run(oracle, 2)
    state = tmp_path / "grid" / "oracle.json"
    before = state.read_text()

    def killed(*args):
        raise KeyboardInterrupt  # the process stops between writing the new file and renaming it

    monkeypatch.setattr("p7keras.io.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(oracle, 1)
    assert state.read_text() == before and json.loads(before)
    assert not [p for p in (tmp_path / "grid").rglob("*") if p.name.endswith(".tmp.json")]
    monkeypatch.undo()
    assert len(_run(_oracle(tmp_path, reload=True), None)) == GRID.size - 2


@pytest.mark.parametrize("kind", ["grid", "bayesian", "hyperband"])
def test_every_tuner_kind_gets_an_atomic_oracle(kind):
    oracle = make_oracle(kind, keras_tuner.Objective("val_margin", "max"), max_trials=3 if kind != "hyperband" else None)
    assert isinstance(oracle, AtomicState)


def test_installed_keras_tuner_has_the_private_state_the_grid_oracle_patches():
    import keras_tuner

    from tuner.oracles import SUPPORTED_KERAS_TUNER, check_keras_tuner

    assert keras_tuner.__version__ in SUPPORTED_KERAS_TUNER, (
        f"keras-tuner {keras_tuner.__version__} is not one tuner/oracles.py was written for "
        f"({SUPPORTED_KERAS_TUNER}): check its GridSearchOracle state, then update SUPPORTED_KERAS_TUNER and the pin"
    )
    check_keras_tuner()


def test_a_changed_oracle_state_is_named(monkeypatch):
    from keras_tuner.oracles import GridSearchOracle

    from tuner import oracles

    monkeypatch.setattr(oracles, "PATCHED_ORACLE_STATE", (*oracles.PATCHED_ORACLE_STATE, "_no_such_state"))
    assert not hasattr(GridSearchOracle, "_no_such_state")
    with pytest.raises(RuntimeError, match=r"lacks the oracle state tuner/oracles.py patches \(_no_such_state\)"):
        oracles.check_keras_tuner()
