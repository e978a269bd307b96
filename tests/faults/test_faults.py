"""The fault suite (issue 13): every case of ``tests/faults/cases.py`` ends in its exit code and its one line,
loses nothing that was there, and the README shows the same table."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from p7keras.cli.main import main
from p7keras.data import make_synthetic_corpus, save_corpus
from p7keras.io import read_json
from tests.faults.cases import FAULTS, TINY, render_table

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = Path(__file__).resolve().parents[2]
IN_PROCESS = [fault for fault in FAULTS if fault.make is not None]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fault", IN_PROCESS, ids=[f.name for f in IN_PROCESS])
def test_fault_case(fault, tmp_path, capsys):
    argv = fault.make(tmp_path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit for a bad flag
        code = exc.code
    err = capsys.readouterr().err
    assert code == fault.code, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines[-1] == fault.message.format(dir=tmp_path)
    assert len(lines) == 1 or lines[0].startswith("usage: ")  # argparse prints its usage line first
    assert _snapshot(tmp_path) == before  # nothing that was there changed, nothing new was written
    assert not list(tmp_path.rglob("p7_*"))  # no run directory was started


def test_the_readme_shows_this_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- fault-table -->\n(.*?)\n<!-- /fault-table -->", readme, re.S)
    assert table, "README.md has no <!-- fault-table --> section"
    assert table.group(1).strip() == render_table().strip(), "regenerate it: python -m tests.faults.cases"


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_every_case_names_a_test_that_exists(fault):
    path, name = fault.test.split("::")
    assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), fault.test


def test_an_output_folder_too_full_for_the_run_stops_before_it(tmp_path, capsys, monkeypatch):
    """Refused before its first epoch: no run directory, not even the output folder, is left behind; the
    line names what was counted (issue 22)."""
    import shutil

    corpus = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=20, chunks_per_article=10, dim=16, seed=3), corpus)
    free = shutil.disk_usage(tmp_path)._replace(free=1 * 2**20)
    monkeypatch.setattr("p7keras.training.footprint.shutil.disk_usage", lambda path: free)
    before = _snapshot(tmp_path)
    code = main(["train", "--data", str(corpus), *TINY, "--output-dir", str(tmp_path / "runs"), "--no-export"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert re.fullmatch(rf"p7keras train: error: output folder {re.escape(str(tmp_path / 'runs'))} has 1 MiB free; "
                        r"this run needs about \d+ MiB \(best\.keras [\d.]+ \+ final\.keras [\d.]+ \+ backup \(2 "
                        r"epochs\) [\d.]+ \+ a file being replaced [\d.]+ \+ logs and plots [\d.]+ MiB for [\d,]+ "
                        r"weights, \+ 25% margin; no export \(--no-export\)\)", err), err
    assert _snapshot(tmp_path) == before and not (tmp_path / "runs").exists()


def _run_command(tmp_path: Path, epochs: int = 5) -> list[str]:
    corpus = tmp_path / "corpus.npz"
    if not corpus.exists():
        save_corpus(make_synthetic_corpus(num_articles=120, chunks_per_article=40, dim=16, seed=3), corpus)
    return [sys.executable, "-m", "p7keras", "train", "--data", str(corpus), *TINY, "--epochs", str(epochs),
            "--batch-size", "8", "--exp-name", "stopped", "--output-dir", str(tmp_path), "--no-export"]


def _terminal_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_mid_training_stops_in_one_line_and_resumes(tmp_path):
    """A real process gets SIGINT (a terminal's Ctrl-C, to its process group) once its first epoch is saved.

    Epochs of ~460 small batches last a second or more; a backend may take that long to reach Python
    code that sees the signal, so four epochs are left when it is sent.
    """
    command = _run_command(tmp_path)
    # As a user starts it: TensorFlow's start-up lines left to p7keras to hide.
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "out.log", "w") as out, open(tmp_path / "err.log", "w") as err:
        run = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=err, start_new_session=True,
                               preexec_fn=_terminal_signals)
        deadline = time.time() + 600
        while time.time() < deadline and run.poll() is None:
            found = list(tmp_path.glob("stopped_*/backup/training_metadata.json"))
            if found and (read_json(found[0]) or {}).get("epoch") is not None:  # Keras counts from 0
                break
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGINT)
        code = run.wait(timeout=300)
    stderr = (tmp_path / "err.log").read_text()
    assert code == 130, f"exit {code}: {stderr[-2000:]}"
    lines = stderr.strip().splitlines()
    assert lines == ["p7keras train: interrupted; run the same command again to continue where it stopped"], stderr
    (run_dir,) = tmp_path.glob("stopped_*")
    assert not (run_dir / "verdict.json").exists()
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode in (0, 1), second.stderr[-2000:]
    assert f"Resuming {run_dir}" in second.stdout
    assert json.loads((run_dir / "history.json").read_text())["epoch"] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_saved_model_loads_in_a_fresh_process(tmp_path):
    """``p7keras.load_model``, or ``keras.saving.load_model`` after ``import p7keras.models``, in a new process."""
    import p7keras

    model = p7keras.TransformerP7Ranker(context_length=4, input_dim=16, d_model=16, num_heads=2, num_layers=1)
    model.save(tmp_path / "m.keras")
    code = ("import sys, keras, p7keras; m = p7keras.load_model(sys.argv[1]); import p7keras.models; "
            "n = keras.saving.load_model(sys.argv[1]); print(type(m).__name__, type(n).__name__)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["TransformerP7Ranker", "TransformerP7Ranker"]
