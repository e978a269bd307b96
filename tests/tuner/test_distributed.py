"""KerasTuner's chief/worker mode through tuner/launch_distributed.sh: a chief and two workers on one host."""

import json
import subprocess
from collections import Counter

import pytest

from tests.tuner.conftest import PROCESS_MACHINERY, ROOT, events, search_flags, subprocess_env

# KerasTuner's chief/worker protocol; trials train as test_train does on every backend
pytestmark = pytest.mark.one_backend

SCRIPT = ROOT / "tuner" / "launch_distributed.sh"


def _launch(*args: str, timeout: int = 900, **env: str) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=subprocess_env(PYTHON=sys.executable, **env))


def test_launcher_refuses_a_bad_worker_count():
    done = _launch("-n", "0", "--", "--grid", "recommended")
    assert done.returncode == 2 and "-n needs a number of workers >= 1, got '0'" in done.stderr


@pytest.mark.slow  # CI time: three processes on a 2-core machine (~115 s)
@PROCESS_MACHINERY
def test_chief_and_two_workers_finish_a_small_grid_without_running_a_trial_twice(tmp_path):
    """The issue's check: a chief and two workers on 127.0.0.1 finish a small grid, no trial run twice."""
    # Each worker runs one trial per child process (the TensorFlow way, here on every backend): a worker's
    # next child asks the chief for the next trial under the same tuner id.
    flags = search_flags(tmp_path, "--grid", "recommended", "--max-trials", "4", "--trials-per-process", "1")
    done = _launch("-n", "2", "--", *flags, LOG_DIR=str(tmp_path / "logs"))
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + logs[-3000:]
    project = tmp_path / "tuning" / "recommended-grid"
    log = events(project)
    starts = [e for e in log if e["event"] == "start"]
    assert Counter(e["trial_id"] for e in starts) == Counter({t: 1 for t in {e["trial_id"] for e in starts}})
    assert len(starts) == 4 and len({json.dumps(e["values"], sort_keys=True) for e in starts}) == 4
    assert {e["tuner_id"] for e in log} <= {"tuner1", "tuner2"}  # the chief serves, the workers train
    assert sorted(e["trial_id"] for e in log if e["event"] == "end") == sorted(e["trial_id"] for e in starts)
    assert len({e["pid"] for e in log if e["event"] == "end"}) == 4  # one child process per trial
    result = json.loads((project / "results.json").read_text())
    assert result["completed"] == 4 and (tmp_path / "models").is_dir()
    assert "Ranked trials" in done.stdout and "chief on 127.0.0.1:" in done.stdout
