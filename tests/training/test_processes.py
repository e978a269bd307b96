"""Training over several processes (issue 14): JAX's distributed runtime through ``keras.distribution``.

The real runs start two ``p7keras train`` processes on 127.0.0.1 (JAX only; CPU collectives).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.data import SequenceSet
from p7keras.training.distribute import free_port, process_problems

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND = keras.backend.backend()
TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--ff-dim", "32", "--num-articles", "40",
        "--dim", "16", "--batch-size", "32", "--no-export", "--distribute", "data-parallel"]
only_jax = pytest.mark.skipif(BACKEND != "jax", reason="several processes run on JAX's distributed runtime")


def test_process_settings_are_checked_before_any_work():
    assert process_problems(None, None, None, "tensorflow", "none") == []
    assert process_problems("127.0.0.1:1234", 2, 1, "jax", "data-parallel") == []
    (missing,) = process_problems("127.0.0.1:1234", 2, None, "jax", "data-parallel")
    assert missing.endswith("missing --process-id")
    assert process_problems("localhost", 2, 0, "jax", "data-parallel") == [
        "--coordinator must be HOST:PORT (process 0's address, a free port), got 'localhost'"]
    assert process_problems("h:1", 2, 2, "jax", "data-parallel") == [
        "--process-id must be 0 to 1 for --num-processes 2, got 2"]
    (backend,) = process_problems("h:1", 2, 0, "torch", "data-parallel")
    assert "the torch backend cannot use them (use --backend jax)" in backend
    assert process_problems("h:1", 2, 0, "jax", "none") == [
        "several processes train together only with --distribute data-parallel"]


def test_the_command_refuses_bad_process_flags_in_one_line(tmp_path, capsys):
    code = main(["train", "--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "5",
                 "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["p7keras train: error: --process-id must be 0 to 1 for --num-processes 2, got 5"]
    assert list(tmp_path.iterdir()) == []


def _sequences(n=20, k=3, d=4) -> SequenceSet:
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(n + k, d)).astype(np.float32)
    contexts = np.stack([np.arange(i, i + k) for i in range(n)])
    return SequenceSet(bank / np.linalg.norm(bank, axis=1, keepdims=True), contexts, np.arange(k, n + k), source="test", split="train")


def test_each_process_reads_its_slice_of_every_global_batch():
    sequences = _sequences()
    whole = sequences.as_dataset(8, 0, shuffle=True, seed=3, drop_remainder=True)
    parts = [sequences.as_dataset(8, 0, shuffle=True, seed=3, drop_remainder=True, process=(i, 2)) for i in (0, 1)]
    assert len(parts[0]) == len(whole) == 2
    for index in range(len(whole)):
        joined = np.concatenate([part[index]["target"] for part in parts])
        np.testing.assert_array_equal(joined, whole[index]["target"])
        assert parts[0][index]["context"].shape == (4, 3, 4)
    with pytest.raises(ValueError, match=r"a batch of 8 splits across 3 processes only"):
        sequences.as_dataset(8, 0, drop_remainder=True, process=(0, 3))
    with pytest.raises(ValueError, match="drop_remainder=True"):
        sequences.as_dataset(8, 0, process=(1, 2))


def _start(tmp_path, epochs: int) -> list[subprocess.Popen]:
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    port = free_port()
    command = [sys.executable, "-m", "p7keras", "train", *TINY, "--epochs", str(epochs), "--output-dir",
               str(tmp_path / "runs"), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    return [subprocess.Popen([*command, "--process-id", str(i)], cwd=ROOT, env=env, text=True,
                             stdout=open(tmp_path / f"out{i}.txt", "w"), stderr=open(tmp_path / f"err{i}.txt", "w"),
                             start_new_session=True)
            for i in (0, 1)]


def _finish(tmp_path, processes) -> list[str]:
    for process in processes:
        process.wait(timeout=600)
    outs = [(tmp_path / f"out{i}.txt").read_text() for i in (0, 1)]
    for i, process in enumerate(processes):
        assert process.returncode in (0, 1), (tmp_path / f"err{i}.txt").read_text()[-2000:]
    return outs


def _digest(out: str, index: int) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(f"process {index} of 2: weights sha256 ")]
    return line.rsplit(" ", 1)[1]


def _scratch_left(run) -> bool:
    return os.path.exists(os.path.join(tempfile.gettempdir(), f"p7keras-process1-{run.name}"))


@only_jax
def test_two_processes_train_two_epochs_to_the_same_weights(tmp_path):
    outs = _finish(tmp_path, _start(tmp_path, epochs=2))
    assert _digest(outs[0], 0) == _digest(outs[1], 1)
    assert "Data-parallel over 2 devices (jax), global batch 32" in outs[0]
    assert "Run directory" not in outs[1]  # process 0 reports
    (run,) = (tmp_path / "runs").iterdir()  # one run directory, process 0's
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1.0, 2.0] and history["loss"][1] < history["loss"][0]
    assert "val_R@5" in history
    assert (run / "best.keras").exists() and (run / "final.keras").exists()
    assert not _scratch_left(run)  # process 1's own copy of the files is gone


@pytest.mark.slow
@only_jax
def test_both_processes_resume_after_a_kill(tmp_path):
    processes = _start(tmp_path, epochs=3)
    deadline = time.time() + 300
    while "Epoch 2/3" not in (tmp_path / "out0.txt").read_text():
        assert time.time() < deadline and processes[0].poll() is None, (tmp_path / "err0.txt").read_text()[-2000:]
        time.sleep(0.5)
    for process in processes:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "state.json").read_text())["status"] == "running"
    outs = _finish(tmp_path, _start(tmp_path, epochs=3))
    assert f"Resuming {run} after epoch 2 of 3" in outs[0]
    assert _digest(outs[0], 0) == _digest(outs[1], 1)
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1.0, 2.0, 3.0]
    assert json.loads((run / "state.json").read_text())["status"] == "finished"
    assert not _scratch_left(run)


@pytest.fixture
def process_env(monkeypatch):
    """The command sets Keras' KERAS_DISTRIBUTION_* variables: restore them after the test."""
    from p7keras.training.distribute import PROCESS_ENV

    for name in PROCESS_ENV:
        monkeypatch.setenv(name, "")
    return monkeypatch


def test_process_flags_are_refused_on_other_backends_or_a_taken_port(tmp_path, capsys, process_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["train", "--distribute", "data-parallel", "--coordinator", f"127.0.0.1:{port}",
                     "--num-processes", "2", "--process-id", "0", "--output-dir", str(tmp_path)])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    if BACKEND == "jax":  # process 0 would serve the coordinator on a port that is taken
        assert line == (f"p7keras train: error: --coordinator 127.0.0.1:{port}: port {port} is already in use on "
                        "this host (process 0 serves the coordinator there); choose a free port")
    else:
        assert line.endswith(f"the {BACKEND} backend cannot use them (use --backend jax)")
    assert list(tmp_path.iterdir()) == []


def test_a_process_id_in_the_environment_that_is_not_a_number_is_named(process_env):
    from p7keras.training.distribute import start_processes

    process_env.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    process_env.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "first")
    with pytest.raises(ValueError, match=r"^KERAS_DISTRIBUTION_PROCESS_ID must be a whole number, got 'first'$"):
        start_processes("data-parallel")
