"""Issue 22: ``p7keras tune`` and its trial processes start TensorFlow without its start-up lines, whether or
not the user set ``TF_CPP_MIN_LOG_LEVEL`` (a trial process inherits the parent's, which it took for the
user's and imported TensorFlow plainly)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tests.tuner.conftest import ROOT, search_flags
from tuner.config import SearchConfig
from tuner.search import CHILD_COMMAND

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

# What TensorFlow (and absl, CUDA) print natively at start-up.
START_UP = ("oneDNN", "cuInit", "absl", "cpu_feature_guard", "WARNING: All log messages before absl", "cudart_stub")
LEVELS = pytest.mark.parametrize("level", [None, "3"], ids=["TF_CPP_MIN_LOG_LEVEL unset", "TF_CPP_MIN_LOG_LEVEL=3"])


def _env(level: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONPATH=str(ROOT), KERAS_BACKEND="tensorflow")
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    return env


def _start_up_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(mark in line for mark in START_UP)]


@LEVELS
def test_a_trial_process_starts_tensorflow_quietly(level, tmp_path):
    """The trial-process launch path of ``run_search`` (its child command), up to the first thing it reads."""
    config = SearchConfig(grid="recommended", directory=str(tmp_path / "tuning"),
                          train={"data": str(tmp_path / "nope.npz"), "export": False})
    job, answer = tmp_path / "job.json", tmp_path / "answer.json"
    job.write_text(json.dumps({"config": dataclasses.asdict(config), "quota": 1, "first": True}))
    report = "import atexit, sys; atexit.register(lambda: print('TENSORFLOW', 'tensorflow' in sys.modules))\n"
    done = subprocess.run([sys.executable, "-u", "-c", report + CHILD_COMMAND, str(job), str(answer), str(os.getpid())],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env(level))
    assert done.returncode == 0 and "TENSORFLOW True" in done.stdout, done.stdout + done.stderr
    assert json.loads(answer.read_text()) == {"kind": "error", "type": "FileNotFoundError",
                                              "message": f"{tmp_path / 'nope.npz'}: no such file"}
    assert _start_up_lines(done.stderr) == [], done.stderr


@pytest.mark.slow  # two tiny searches of one trial in a trial process: about 80 s each on 2 shared cores
@LEVELS
def test_tune_with_a_trial_process_prints_no_start_up_line(level, tmp_path):
    flags = search_flags(tmp_path, "--grid", "recommended", "--max-trials", "1")
    flags[flags.index("--trials-per-process") + 1] = "1"  # the trial in a child process, as on TensorFlow
    done = subprocess.run([sys.executable, "-m", "p7keras", "tune", *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=_env(level))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Best model:" in done.stdout
    assert _start_up_lines(done.stderr) == [], done.stderr
