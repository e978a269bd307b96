"""A tiny search end to end: ranked table (printed, CSV, JSON), best run directory, HParams logs, tuners."""

import csv
import json

import keras
import keras_tuner
import pytest

from p7keras.cli.main import main
from p7keras.jit_compile import CPU_XLA_ENV
from p7keras.training import TrainConfig
from p7keras.training.preflight import preflight
from tuner import search
from tuner.config import SearchConfig
from tuner.oracles import ResumableGridSearchOracle
from tuner.hypermodel import P7HyperModel
from tuner.search import run_search
from tuner.spaces import get_space
from tuner.tuners import TUNERS, make_tuner
from tuner.windows import WindowCache

from tests.tuner.conftest import PROCESS_MACHINERY, MODEL, SYNTHETIC, events, run_module, search_flags

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

RUN_FILES = ("config.json", "best.keras", "final.keras", "history.json", "verdict.json", "curves.png", "tuning.json")


def test_tiny_grid_search_writes_table_best_run_and_hparams(tmp_path, capsys):
    flags = search_flags(tmp_path, "--grid", "recommended", "--max-trials", "2", "--objective", "val_MRR@10")
    assert main(["tune", *flags]) == 0
    out = capsys.readouterr().out
    project = tmp_path / "tuning" / "recommended-grid"
    rows = list(csv.DictReader((project / "results.csv").open()))
    assert [r["run"] for r in sorted(rows, key=lambda r: r["trial"])] == ["baseline", "strong-anchor"]
    assert [int(r["rank"]) for r in rows] == [1, 2]
    assert float(rows[0]["score"]) >= float(rows[1]["score"])
    for row in rows:
        assert row["score"] == row["val_MRR@10"] and row["status"] == "COMPLETED"
        assert row["verdict"] in ("PASS", "MARGINAL", "FAIL")
        for name in ("val_margin", "val_cos_next", "val_cos_anchor", "val_R@5", "context_length", "anchor_lambda"):
            float(row[name])
    result = json.loads((project / "results.json").read_text())
    assert result["objective"] == "val_MRR@10" and result["completed"] == 2
    assert [m["trial"] for m in result["memory"]] == [r["trial"] for r in sorted(rows, key=lambda r: r["trial"])]
    best = result["best_run"]
    assert best["trial"] == rows[0]["trial"]
    run = tmp_path / "models" / best["path"].rsplit("/", 1)[-1]
    assert run.parent == tmp_path / "models" and run.name.startswith("p7-tuned_")
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert (config["context_length"], config["anchor_lambda"], config["d_model"]) == (
        5, float(rows[0]["anchor_lambda"]), 16)
    assert json.loads((run / "verdict.json").read_text())["status"] == rows[0]["verdict"]
    assert keras.saving.load_model(run / "best.keras").context_length == 5
    assert (project / "tensorboard").is_dir() and len(list((project / "tensorboard").rglob("*tfevents*"))) == 3
    assert "Ranked trials" in out and "strong-anchor" in out and str(run) in out

    # The same command again: nothing is run again and the best run directory is kept.
    assert main(["tune", *flags]) == 0
    assert "2 trial(s) already finished" in capsys.readouterr().out
    assert [e["event"] for e in events(project)] == ["start", "end", "start", "end"]
    assert len(list((tmp_path / "models").iterdir())) == 1


def test_a_search_says_once_how_its_trials_compile(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(CPU_XLA_ENV, "on")  # XLA on TensorFlow's CPU, as `p7keras train` says it would
    assert main(["tune", *search_flags(tmp_path, "--grid", "recommended", "--max-trials", "2")]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Compilation:")]
    expected = "Compilation: XLA (auto: XLA on TensorFlow's CPU (P7KERAS_CPU_XLA=on); --jit-compile off for the graph)"
    assert said == ([expected] if keras.backend.backend() == "tensorflow" else [])  # two trials, one line


def test_a_search_runs_preflight_once_and_its_trials_check_nothing(tmp_path, monkeypatch):
    """The search checks its settings and every grid point, then preflight once; the trials check nothing."""
    calls = []
    real_check = TrainConfig.check
    monkeypatch.setattr(search, "preflight", lambda config: (calls.append("preflight"), preflight(config)))
    monkeypatch.setattr(TrainConfig, "check", lambda self: (calls.append("check"), real_check(self)))
    train = {**MODEL, **SYNTHETIC, "output_dir": str(tmp_path / "models")}
    config = SearchConfig(grid="recommended", max_trials=2, directory=str(tmp_path / "tuning"), train=train,
                          trials_per_process=0)
    assert run_search(config).completed == 2
    points = config.space.size
    assert calls == ["check"] * points + ["preflight", "check"]  # every grid point, then the base in preflight


def test_tuner_kinds_are_selectable(tiny_base, tmp_path):
    hypermodel = P7HyperModel(get_space("priority1"), tiny_base, WindowCache.from_config(tiny_base))
    made = {kind: make_tuner(kind, hypermodel, directory=str(tmp_path), project_name=kind) for kind in TUNERS}
    assert isinstance(made["grid"].oracle, ResumableGridSearchOracle) and made["grid"].oracle.max_trials is None
    assert isinstance(made["bayesian"], keras_tuner.BayesianOptimization)
    assert made["bayesian"].oracle.max_trials == 27  # default: the size of the grid
    assert isinstance(made["hyperband"], keras_tuner.Hyperband) and made["hyperband"].oracle.max_epochs == 1
    assert all(t.oracle.objective.name == "val_margin" and t.oracle.objective.direction == "max"
               for t in made.values())


@pytest.mark.slow
@pytest.mark.parametrize("kind, extra", [("bayesian", {"max_trials": 2}), ("hyperband", {})])
def test_bayesian_and_hyperband_searches_finish(kind, extra, tmp_path):
    train = {**MODEL, **SYNTHETIC, "output_dir": str(tmp_path / "models"), "epochs": 2}
    config = SearchConfig(grid="priority1", tuner=kind, directory=str(tmp_path / "tuning"), train=train, **extra)
    result = run_search(config)  # hyperband with --epochs 2: one bracket of two trials
    assert result.project_dir.endswith(f"priority1-{kind}") and result.completed == 2
    assert all(row["status"] == "COMPLETED" for row in result.rows) and result.best_run is not None


@pytest.mark.slow  # CI time: ~55 s; test_an_error_in_a_child_process_is_one_line runs child processes in CI
@PROCESS_MACHINERY
def test_trials_run_in_fresh_processes_and_the_last_one_reports(tmp_path):
    flags = search_flags(tmp_path, "--grid", "recommended", "--max-trials", "3", "--trials-per-process", "2")
    done = run_module(*flags)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    project = tmp_path / "tuning" / "recommended-grid"
    log = events(project)
    pids = [e["pid"] for e in log if e["event"] == "end"]
    assert len(pids) == 3 and pids[0] == pids[1] != pids[2]  # two trials in the first child, one in the next
    assert json.loads((project / "results.json").read_text())["completed"] == 3
    assert "Ranked trials" in done.stdout and "higher-margin" not in done.stdout
    assert "already finished" not in done.stdout  # the second child resumes silently


def test_an_error_in_a_child_process_is_one_line(tmp_path):
    project = tmp_path / "tuning" / "recommended-grid"
    project.mkdir(parents=True)
    (project / "tuner0.json").write_text("{}")
    (project / "oracle.json").write_text("")
    done = run_module(*search_flags(tmp_path, "--grid", "recommended", "--trials-per-process", "2"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("p7keras tune: error: cannot resume the search in")


@pytest.mark.parametrize("exc, kind, text", [
    (ValueError("bad grid"), ValueError, "bad grid"),
    (KeyError("missing key"), KeyError, "missing key"),
    (FileNotFoundError("x.npz: no such file"), FileNotFoundError, "x.npz: no such file"),
    (ZeroDivisionError("division by zero"), RuntimeError, "ZeroDivisionError: division by zero"),
])
def test_child_errors_cross_as_json_and_keep_their_kind(exc, kind, text, tmp_path):
    """The parent/child protocol is JSON: an error comes back as the same kind with the same line."""
    from tuner import search

    path = str(tmp_path / "answer.json")
    search._write_message(path, search._error_message(exc))
    message = json.loads(open(path, encoding="utf-8").read())  # plain JSON, nothing to unpickle
    rebuilt = search._CHILD_ERRORS.get(message["type"], RuntimeError)(message["message"])
    assert type(rebuilt) is kind and (rebuilt.args[0] == text)


def test_a_second_search_on_a_live_folder_is_refused_and_a_killed_ones_lock_taken_over(tmp_path, capsys, monkeypatch):
    """Issue 22: the project folder's lock, beside it (``--overwrite`` removes the folder), taken after the checks
    that need no Keras (a refused search leaves no lock file) and before Keras and any trial start."""
    import re

    from tests.test_locks import hold, kill

    flags = search_flags(tmp_path, "--grid", "recommended", "--max-trials", "1")
    project = tmp_path / "tuning" / "recommended-grid"
    holder = hold(project, tmp_path / "tuning" / ".recommended-grid.p7keras.lock")
    started = []
    monkeypatch.setattr(search, "import_keras_quietly", lambda: started.append(1) or (_ for _ in ()).throw(
        ValueError("past the lock")))
    try:
        assert main(["tune", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert re.fullmatch(rf"p7keras tune: error: search folder {re.escape(str(project))} is in use by another "
                            rf"process \(pid {holder.pid} on host .+, started .+\); wait for it to finish or stop it "
                            r"\(a lock left by a killed process is taken over\)", err), err
        assert started == [] and not project.exists()
    finally:
        kill(holder)
    assert main(["tune", *flags]) == 2  # the killed search's lock is taken over: the search goes on to preflight
    assert capsys.readouterr().err.strip() == "p7keras tune: error: past the lock" and len(started) == 1
    assert not (tmp_path / "tuning" / ".recommended-grid.p7keras.lock.owner").exists()  # given back
