"""Faults during a run (issue 13): a full disk mid-training ends in one line, exit code 3, and the same
command resumes the run with nothing lost."""

import errno
import json

from p7keras import io as p7io
from p7keras.cli.main import main
from p7keras.data import make_synthetic_corpus, save_corpus
import pytest

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--batch-size", "32", "--context", "4"]


def test_disk_full_mid_training_is_exit_3_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=12, dim=16, seed=3), data)
    flags = ["train", "--data", str(data), *TINY, "--epochs", "3", "--output-dir", str(tmp_path / "runs"),
             "--no-export"]
    real_write_json, writes = p7io.write_json, []

    def full_after_two_epochs(path, payload):
        if str(path).endswith("history.json"):
            writes.append(path)
            if len(writes) == 3:  # the third epoch's history cannot be written
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write_json(path, payload)

    monkeypatch.setattr("p7keras.callbacks.history.write_json", full_after_two_epochs)
    assert main(flags) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("p7keras train: fault: [Errno 28] No space left on device")
    assert err.endswith("free space and run the same command again to continue")
    (run,) = (tmp_path / "runs").glob("p7_*")
    assert json.loads((run / "history.json").read_text())["epoch"] == [1.0, 2.0]  # nothing written is lost
    monkeypatch.undo()
    assert main(flags) in (0, 1)
    assert f"Resuming {run}" in capsys.readouterr().out
    assert json.loads((run / "history.json").read_text())["epoch"] == [1.0, 2.0, 3.0]
    assert json.loads((run / "state.json").read_text())["status"] == "finished"
