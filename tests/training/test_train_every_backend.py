"""``p7keras train`` end to end on every backend: the run directory and what loads from it.

The rest of the training orchestration (resume, faults, selection) is backend-independent and runs under one
backend (``tests/training/test_train.py``).
"""

import json

import keras
import numpy as np

from p7keras.cli.main import main
from tests.training.test_train import TINY, corpus_file  # noqa: F401 (a pytest fixture)


def test_run_directory_holds_every_file(tmp_path, corpus_file, capsys):
    code = main(["train", "--data", corpus_file, *TINY, "--epochs", "2", "--exp-name", "tiny",
                 "--output-dir", str(tmp_path), "--backend", keras.backend.backend()])
    assert code in (0, 1)  # verdict PASS/MARGINAL -> 0, FAIL -> 1 (2 epochs of a tiny model)
    (run,) = tmp_path.glob("tiny_*")
    for name in ("config.json", "best.keras", "final.keras", "history.json", "curves.png", "verdict.json"):
        assert (run / name).is_file(), name
    assert (run / "export" / "saved_model.pb").is_file()
    assert any((run / "tensorboard").rglob("*tfevents*"))
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1.0, 2.0] and len(history["val_anchor_lambda"]) == 2
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["status"] in ("PASS", "MARGINAL", "FAIL") and verdict["reasons"]
    assert json.loads((run / "config.json").read_text())["context_length"] == 4
    out = capsys.readouterr().out
    assert "Verdict:" in out and str(run / "final.keras") in out
    loaded = keras.saving.load_model(run / "final.keras")
    assert loaded.context_length == 4 and loaded.input_dim == 16
    best = keras.saving.load_model(run / "best.keras")  # weights only: smaller, same predictions
    assert not best.compiled and (run / "best.keras").stat().st_size < 0.6 * (run / "final.keras").stat().st_size
    x = np.random.default_rng(0).normal(size=(3, 4, 16)).astype("float32")
    assert best.predict(x, verbose=0).shape == (3, 16)
