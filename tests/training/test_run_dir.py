"""The run directory's lock and its removal when a run is refused before its first epoch (issue 22)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.data import make_synthetic_corpus, save_corpus
from p7keras.locks import FolderInUseError
from p7keras.training import TrainConfig, train
from p7keras.training.distribute import PROCESS_ENV, process_lock
from p7keras.training.run_dir import RunDirectory
from tests.faults.cases import TINY, _shards
from tests.test_locks import hold, kill

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

TRAIN_MODULE = importlib.import_module("p7keras.training.train")  # the package exports its function `train`


def _corpus(folder: Path) -> Path:
    path = folder / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=20, chunks_per_article=10, dim=16, seed=3), path)
    return path


def _nan_shards(folder: Path) -> Path:
    """A sharded corpus with a NaN in one row (same size and header: found when the row is read)."""
    path = _shards(folder) / "shard-00000.vectors.npy"  # the first articles: training ones
    vectors = np.load(path)
    vectors[7, 0] = np.nan
    np.save(path, vectors)
    return folder / "shards"


def test_a_run_refused_for_a_nan_shard_row_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    """The row is read in the first epoch, once the run directory exists: it is removed, with the output folder."""
    shards = _nan_shards(tmp_path)
    discarded = []
    real_discard = RunDirectory.discard
    monkeypatch.setattr(RunDirectory, "discard", lambda self: discarded.append(self.path.exists()) or real_discard(self))
    code = main(["train", "--data", str(shards), *TINY, "--epochs", "1", "--output-dir", str(tmp_path / "runs"),
                 "--no-export"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "holds NaN or inf" in err and len(err.splitlines()) == 1, err
    assert discarded == [True] and not (tmp_path / "runs").exists()


def test_a_refused_resumed_run_directory_is_kept(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path / "runs")).to_dict()
    first = RunDirectory.open(str(tmp_path / "runs"), "p7", config)
    first.close()  # as a killed run leaves it: running, with its settings
    with pytest.raises(ValueError, match="refused"), RunDirectory.open(str(tmp_path / "runs"), "p7", config) as again:
        assert again.resumed and again.path == first.path
        raise ValueError("refused")
    assert (first.path / "config.json").exists()  # never removed: it may hold an earlier run's checkpoints
    with pytest.raises(KeyboardInterrupt), RunDirectory.open(str(tmp_path / "runs"), "p8", config) as new:
        raise KeyboardInterrupt  # not a refusal: kept, to resume
    assert new.path.exists() and not new.resumed


def test_a_live_run_directory_is_refused_in_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    """Another process holds the run directory the same command would resume: exit 2, the owner named, the
    data never read and nothing written; killed, its run is resumed."""
    corpus = _corpus(tmp_path)
    argv = ["train", "--data", str(corpus), *TINY, "--epochs", "1", "--output-dir", str(tmp_path / "runs"),
            "--no-export", "--run-name", "fixed"]
    config = TrainConfig(data=str(corpus), d_model=16, num_heads=2, num_layers=1, batch_size=32, context_length=4,
                         epochs=1, output_dir=str(tmp_path / "runs"), export=False, run_name="fixed")
    config = dataclasses.replace(config, precision=config.resolved_precision()[0])  # as the run records it
    RunDirectory.open(config.output_dir, config.exp_name, config.to_dict(), run_name="fixed").close()
    run = tmp_path / "runs" / "fixed"
    assert json.loads((run / "config.json").read_text()) == config.to_dict()  # the command's own settings
    holder = hold(run)
    read = []
    monkeypatch.setattr(TRAIN_MODULE, "load_data", lambda config: read.append(config))
    try:
        before = sorted(p.name for p in run.iterdir())
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert re.fullmatch(rf"p7keras train: error: run directory {re.escape(str(run))} is in use by another process "
                            rf"\(pid {holder.pid} on host .+, started .+: python -c … .+\); wait for it to finish or "
                            r"stop it \(a lock left by a killed process is taken over\)", err), err
        assert read == [] and sorted(p.name for p in run.iterdir()) == before
    finally:
        kill(holder)
    monkeypatch.undo()
    assert main(argv) in (0, 1)  # the killed owner's lock is taken over and its run resumed
    assert f"Resuming {run} after epoch 0 of 1" in capsys.readouterr().out
    assert json.loads((run / "state.json").read_text())["status"] == "finished"


def test_a_process_id_given_twice_is_refused_before_it_joins_the_run(tmp_path, monkeypatch):
    env = {PROCESS_ENV[0]: "127.0.0.1:1", PROCESS_ENV[1]: "2", PROCESS_ENV[2]: "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = TrainConfig(output_dir=str(tmp_path / "runs"), distribute="data-parallel", backend="jax", epochs=1)
    lock = process_lock(config.output_dir, config.to_dict())
    holder = hold(tmp_path, lock.path, env)
    joined = []
    monkeypatch.setattr(TRAIN_MODULE, "preflight", lambda config: joined.append(config))
    try:
        with pytest.raises(FolderInUseError, match=rf"^--process-id 1 of the run into {re.escape(config.output_dir)} "
                                                  rf"is in use by another process \(pid {holder.pid} on host "):
            train(config)
        assert joined == []  # refused before joining JAX's runtime
    finally:
        kill(holder)
    monkeypatch.setenv(PROCESS_ENV[2], "0")  # another id of the same run: its own lock
    with process_lock(config.output_dir, config.to_dict()) as other:
        assert other.held and other.path != lock.path
