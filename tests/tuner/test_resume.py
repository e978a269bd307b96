"""An interrupted search, started again with the same command, runs only the trials that are left."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.tuner.conftest import PROCESS_MACHINERY, ROOT, events, module_command, run_module, search_flags, subprocess_env

# search orchestration (kill, resume); trials train as test_train does on every backend
pytestmark = pytest.mark.one_backend


@PROCESS_MACHINERY
@pytest.mark.parametrize("per_process", ["0", pytest.param("1", marks=pytest.mark.slow)])  # "1": ~65 s
def test_killed_search_reruns_only_the_trials_left(tmp_path, per_process):
    """Killed after its first trial: in one process (0), or its parent while trials run in children (1)."""
    flags = [*search_flags(tmp_path, "--grid", "recommended", "--max-trials", "2"), "--trials-per-process", per_process]
    project = tmp_path / "tuning" / "recommended-grid"
    first = subprocess.Popen(module_command(*flags), cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and first.poll() is None:
        if any(e["event"] == "end" for e in events(project)):
            break
        time.sleep(0.02)
    assert first.poll() is None, first.communicate()[0].decode()[-3000:]
    first.send_signal(signal.SIGKILL)  # after the first trial, mid-search
    first.wait()
    time.sleep(1)  # a child process dies with its parent (PR_SET_PDEATHSIG): nothing may still write
    finished_before = {e["trial_id"] for e in events(project) if e["event"] == "end"}
    assert finished_before and not (project / "results.json").exists()

    second = run_module(*flags)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"{len(finished_before)} trial(s) already finished" in second.stdout
    log = events(project)
    second_pid = {e["pid"] for e in log} - {e["pid"] for e in log if e["trial_id"] in finished_before}
    rerun = {e["trial_id"] for e in log if e["event"] == "start" and e["pid"] in second_pid}
    assert not rerun & finished_before, "a finished trial ran again"
    ended = [e["trial_id"] for e in log if e["event"] == "end"]
    assert sorted(ended) == sorted(set(ended)) and len(ended) == 2
    result = json.loads((project / "results.json").read_text())
    assert result["completed"] == 2 and len(result["trials"]) == 2
    assert {t["run"] for t in result["trials"]} == {"baseline", "strong-anchor"}


def _terminal_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_stops_a_search_and_its_child_with_one_line(tmp_path):
    flags = [*search_flags(tmp_path, "--grid", "recommended", "--max-trials", "2"), "--trials-per-process", "1"]
    project = tmp_path / "tuning" / "recommended-grid"
    err = tmp_path / "stderr.txt"
    with open(err, "w") as handle:
        # The search starts as from a terminal: SIGINT handled and not blocked, whatever this test process's
        # libraries did to its own signal state (a child inherits the disposition and the mask).
        inherited = (signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []))
        search = subprocess.Popen(module_command(*flags), cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL,
                                  stderr=handle, start_new_session=True, preexec_fn=_terminal_signals)
        deadline = time.time() + 300
        while time.time() < deadline and not any(e["event"] == "start" for e in events(project)):
            time.sleep(0.05)
        os.killpg(search.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        code = search.wait(timeout=120)
    assert code == 130, f"exit {code}; this process's SIGINT state {inherited}; stderr: {err.read_text()[-2000:]}"
    lines = err.read_text().strip().splitlines()
    assert lines[-1] == "p7keras tune: interrupted; run the same command again to continue where it stopped" and "Traceback" not in err.read_text()
    logged = events(project)
    time.sleep(2)
    assert events(project) == logged and not any(e["event"] == "end" for e in logged)  # the child is gone
