"""`p7keras train` and `p7keras.training.train`: flags, run directory, resume, faults."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from p7keras import callbacks as cb
from p7keras.cli.main import main
from p7keras.data import make_synthetic_corpus, save_corpus
from p7keras.io import read_json
from tests.helpers import rotation_batches

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--batch-size", "32", "--context", "4"]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=12, dim=16, seed=3), path)
    return str(path)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lambda", "0.95"], "anchor_lambda must be in [0.6, 0.9], got 0.95"),
        (["--context", "1"], "context_length must be >= 2, got 1"),
        (["--w-margin", "-0.5"], "w_margin must be >= 0, got -0.5"),
        (["--batch-size", "1"], "in-batch negatives"),
        (["--epochs", "0"], "epochs must be >= 1, got 0"),
        (["--d-model", "10", "--num-heads", "4"], "divisible"),
        (["--data", "x.npz", "--train", "y.npz"], "not both"),
    ],
)
def test_impossible_values_fail_before_any_work(flags, message, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", *flags, "--output-dir", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unknown_flag_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--lamda", "0.8"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --lamda" in capsys.readouterr().err


def test_missing_data_file_and_unwritable_output_are_reported(tmp_path, corpus_file, capsys):
    assert main(["train", "--data", str(tmp_path / "nope.npz"), *TINY, "--output-dir", str(tmp_path)]) == 2
    assert "nope.npz" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["train", "--data", corpus_file, *TINY, "--output-dir", str(blocker / "runs")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_absent_device_is_a_clear_error(tmp_path, corpus_file, capsys):
    from p7keras.training.preflight import _accelerators

    if "gpu" in _accelerators(keras.backend.backend()):
        pytest.skip("this machine has a GPU")
    assert main(["train", "--device", "gpu", "--data", corpus_file, *TINY, "--output-dir", str(tmp_path)]) == 2
    assert "--device gpu requested" in capsys.readouterr().err
    assert list(tmp_path.glob("p7_*")) == []


def test_export_without_tensorflow_fails_before_any_work(tmp_path, corpus_file, capsys, monkeypatch):
    """A GPU image with JAX or PyTorch but no TensorFlow: the export is refused up front, --no-export trains."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    out = tmp_path / "runs"
    assert main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--output-dir", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        "p7keras train: error: the SavedModel export needs TensorFlow, which is not installed here: "
        "install it or pass --no-export")
    assert not out.exists()
    assert main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--output-dir", str(out), "--no-export"]) in (0, 1)
    (run,) = out.glob("p7_*")
    assert (run / "best.keras").exists() and not (run / "export").exists() and not (run / "tensorboard").exists()


@pytest.mark.parametrize("keep, kept, gone", [("best", "best.keras", "final.keras"),
                                              ("final", "final.keras", "best.keras")])
def test_keep_removes_the_other_model(keep, kept, gone, tmp_path, corpus_file, capsys):
    assert main(["train", "--data", corpus_file, *TINY, "--epochs", "1", "--output-dir", str(tmp_path),
                 "--no-export", "--keep", keep]) in (0, 1)
    (run,) = tmp_path.glob("p7_*")
    assert (run / kept).is_file() and not (run / gone).exists()
    assert str(run / gone) not in capsys.readouterr().out


def _interrupt_at_epoch(monkeypatch, stop_epoch):
    """Ctrl-C as epoch ``stop_epoch`` (0-based) begins: the run stays resumable with its backups."""
    real = cb.EpochProgress.on_epoch_begin

    def begin(self, epoch, logs=None):
        if epoch == stop_epoch:
            raise KeyboardInterrupt
        return real(self, epoch, logs)

    monkeypatch.setattr(cb.EpochProgress, "on_epoch_begin", begin)


def _truncate(path):
    path.write_bytes(path.read_bytes()[:200])


def _empty(path):
    path.write_text("")


@pytest.mark.parametrize("name, damage, reason", [
    ("latest.weights.h5", _truncate, ""),  # a crash while the checkpoint was written (h5py names the damage)
    # Keras writes training_metadata.json in place: a crash while it writes leaves it empty
    ("training_metadata.json", _empty, " (not a JSON record of the finished epoch)"),
])
def test_damaged_backup_falls_back_to_the_one_before(name, damage, reason, tmp_path, corpus_file, capsys,
                                                     monkeypatch):
    flags = ["train", "--data", corpus_file, *TINY, "--epochs", "4", "--output-dir", str(tmp_path), "--no-export"]
    _interrupt_at_epoch(monkeypatch, 3)
    assert main(flags) == 130
    (run,) = tmp_path.glob("p7_*")
    damaged = run / "backup" / name
    damage(damaged)
    monkeypatch.undo()
    capsys.readouterr()
    assert main(flags) in (0, 1)
    out = capsys.readouterr().out
    assert f"{damaged} is damaged{reason}" in out and "resuming from the backup before it (epoch 2)" in out
    assert json.loads((run / "history.json").read_text())["epoch"] == [1.0, 2.0, 3.0, 4.0]


def test_no_loadable_backup_says_what_to_remove(tmp_path, corpus_file, capsys, monkeypatch):
    flags = ["train", "--data", corpus_file, *TINY, "--epochs", "3", "--output-dir", str(tmp_path), "--no-export"]
    _interrupt_at_epoch(monkeypatch, 2)
    assert main(flags) == 130
    (run,) = tmp_path.glob("p7_*")
    backup = run / "backup"
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (backup / name).write_bytes(b"\x89HDF\r\n")
    monkeypatch.undo()
    capsys.readouterr()
    assert main(flags) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"p7keras train: fault: {backup / 'latest.weights.h5'} is damaged")
    assert err.endswith(f"remove {backup} and run the same command again to restart this run from epoch 1 "
                        "(its 2 finished epochs are lost; best.keras stays)")
    assert (run / "best.keras").exists()  # nothing that was there is lost


@pytest.mark.slow  # CI time: ~80 s; resuming after Ctrl-C and after a full disk stay in CI (tests/faults)
def test_killed_run_resumes_with_full_history(tmp_path, capsys):
    # Epochs of ~400 small batches take a second or more, so the poll below sees the first backup
    # long before the run could finish.
    corpus_file = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=120, chunks_per_article=40, dim=16, seed=3), corpus_file)
    command = [sys.executable, "-m", "p7keras", "train", "--data", str(corpus_file), *TINY, "--epochs", "4",
               "--batch-size", "8", "--exp-name", "killed", "--output-dir", str(tmp_path), "--no-export"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "first.log", "w")  # a file, not a pipe: a full pipe would stall the run
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    history_file = None
    while time.time() < deadline and first.poll() is None:
        found = list(tmp_path.glob("killed_*/backup/training_metadata.json"))
        # Keras writes this file in place: a poll can catch it half written (read_json then gives None)
        if found and ((read_json(found[0]) or {}).get("epoch") or 0) >= 1:
            history_file = found[0].parent.parent / "history.json"
            break
        time.sleep(0.05)
    # The same command again while the first lives (issue 22): refused in one line naming it, nothing touched.
    capsys.readouterr()
    refused = main(command[3:]) if first.poll() is None else None
    err = capsys.readouterr().err.strip()
    first.send_signal(signal.SIGKILL)  # mid-run, the second epoch under way
    first.wait()
    log.close()
    assert history_file is not None, (tmp_path / "first.log").read_text()[-2000:]
    run = history_file.parent
    assert refused == 2, err
    assert re.fullmatch(rf"p7keras train: error: run directory {re.escape(str(run))} is in use by another process "
                        rf"\(pid {first.pid} on host .+, started .+: p7keras train --data {re.escape(str(corpus_file))} "
                        r".+\); wait for it to finish or stop it \(a lock left by a killed process is taken over\)",
                        err), err
    assert not (run / "verdict.json").exists()
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode in (0, 1), second.stdout[-2000:] + second.stderr[-2000:]
    assert f"Resuming {run}" in second.stdout
    assert len(list(tmp_path.glob("killed_*"))) == 1
    history = json.loads(history_file.read_text())
    assert history["epoch"] == [1.0, 2.0, 3.0, 4.0]
    assert len(history["val_margin"]) == 4
    assert json.loads((run / "state.json").read_text())["status"] == "finished"


def test_nan_loss_stops_naming_epoch_and_batch_and_keeps_checkpoint(tmp_path):
    import p7keras

    model = p7keras.TransformerP7Ranker(context_length=4, d_model=16, num_heads=2, num_layers=1, ff_dim=32)
    model.compile()
    callbacks = cb.default_callbacks(warmup_epochs=1, run_dir=str(tmp_path))
    good, val = rotation_batches(n=128), (rotation_batches(n=64, seed=1),)
    model.fit(good, validation_data=val, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
    best_before = (tmp_path / "best.keras").read_bytes()
    bad = tf_free_batches(good, nan_batch=2)
    with pytest.raises(cb.NonFiniteLossError, match=r"epoch 2, batch 3"):
        model.fit(bad, validation_data=val, initial_epoch=1, epochs=3, verbose=0, callbacks=callbacks,
                  shuffle=False)
    assert (tmp_path / "best.keras").read_bytes() == best_before
    best = keras.saving.load_model(tmp_path / "best.keras")
    assert np.isfinite(best.predict(rotation_batches(n=4)["context"], verbose=0)).all()
    assert json.loads((tmp_path / "history.json").read_text())["epoch"] == [1.0]


def tf_free_batches(data, nan_batch):
    """A PyDataset of 32-sample batches whose batch ``nan_batch`` has NaN targets."""

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(data["context"]) // 32

        def __getitem__(self, i):
            batch = {k: v[i * 32:(i + 1) * 32].copy() for k, v in data.items()}
            if i == nan_batch:
                batch["target"][:] = np.nan
            return batch

    return Batches()


def test_train_chunks_flag_trains_on_a_subset_of_whole_articles():
    import argparse

    from p7keras.training.config import TrainConfig, add_train_arguments, train_settings
    from p7keras.training.train import load_data

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--num-articles", "40", "--chunks-per-article", "10", "--dim", "8",
                              "--train-chunks", "50", "--context", "3"])
    config = TrainConfig(**train_settings(args))
    splits, full = load_data(config), load_data(dataclasses.replace(config, train_chunks=None))
    assert len(splits.train.bank) == 50 and len(full.train.bank) == 320
    assert np.array_equal(splits.ood.bank, full.ood.bank)


def test_best_model_and_verdict_follow_select_and_patience_stops(tmp_path, corpus_file, capsys):
    from p7keras.callbacks import retrieval_scores
    from p7keras.training import TrainConfig
    from p7keras.training.train import load_data

    flags = ["--data", corpus_file, *TINY, "--epochs", "4", "--select", "val_MRR@10", "--patience", "1",
             "--no-export", "--exp-name", "sel", "--output-dir", str(tmp_path), "--backend", keras.backend.backend()]
    assert main(["train", *flags]) in (0, 1)
    (run,) = tmp_path.glob("sel_*")
    history = json.loads((run / "history.json").read_text())
    verdict = json.loads((run / "verdict.json").read_text())
    mrr = history["val_MRR@10"]
    # the selection rule (issue 21): the highest MRR@10 among the epochs whose gain over the starting model is
    # beyond noise, else the starting model (epoch 0)
    candidates = [i for i, low in enumerate(history["val_MRR@10_gain_low"]) if low > 0]
    best = max(candidates, key=lambda i: (mrr[i], -i)) if candidates else -1
    assert verdict["best_by"] == "val_MRR@10" and verdict["best_epoch"] == best + 1
    if best >= 0:
        assert verdict["metrics"]["margin"] == pytest.approx(history["val_margin"][best])
    else:
        assert verdict["kept_start"] and verdict["metrics"]["margin"] == pytest.approx(history["start_margin"][-1])
    # patience 1: the run ends one epoch after its best (or at --epochs)
    assert verdict["epochs_run"] == len(mrr) == min(4, best + 2)
    # how the step ran (the suite pins P7KERAS_CPU_XLA=off: TensorFlow's auto is then Keras' graph)
    assert verdict["compilation"] == {"tensorflow": "tf.function graph", "jax": "jax.jit",
                                      "torch": "eager"}[keras.backend.backend()]
    assert ("stopped_early" in verdict) == (len(mrr) < 4)
    # best.keras is the selected model: its validation MRR@10 is the logged one (the start's when kept)
    config = TrainConfig(**json.loads((run / "config.json").read_text()))
    scores = retrieval_scores(keras.saving.load_model(run / "best.keras"), load_data(config).val)
    assert scores["MRR@10"] == pytest.approx(mrr[best] if best >= 0 else history["start_MRR@10"][-1], abs=1e-6)
    assert "best epoch by val_MRR@10" in capsys.readouterr().out


def test_select_and_patience_are_checked(tmp_path, capsys):
    assert main(["train", "--patience", "-1", "--output-dir", str(tmp_path)]) == 2
    assert "patience must be >= 0 (0: no early stopping), got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--select", "val_R@3"])
    assert "invalid choice: 'val_R@3'" in capsys.readouterr().err


def test_lambda_range_reaches_the_model_and_the_verdict_notes_it(tmp_path, corpus_file, capsys):
    flags = ["--data", corpus_file, *TINY, "--epochs", "1", "--lambda-range", "0.3", "0.95", "--no-export",
             "--exp-name", "lam", "--output-dir", str(tmp_path), "--backend", keras.backend.backend()]
    assert main(["train", *flags]) in (0, 1)
    (run,) = tmp_path.glob("lam_*")
    config = json.loads((run / "config.json").read_text())
    assert (config["anchor_lambda_min"], config["anchor_lambda_max"]) == (0.3, 0.95)
    model = keras.saving.load_model(run / "final.keras")
    assert (model.anchor.anchor_lambda_min, model.anchor.anchor_lambda_max) == (0.3, 0.95)
    note = "λ range [0.3, 0.95] is outside the spec's [0.6, 0.9]"
    assert note in json.loads((run / "verdict.json").read_text())["notes"][0]
    assert f"note: {note}" in capsys.readouterr().out


def test_train_with_corpus_negatives_end_to_end(tmp_path, capsys, backend):
    flags = ["train", "--negatives", "corpus", "--num-articles", "20", "--chunks-per-article", "10", "--dim", "16",
             "--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--epochs", "1", "--no-export",
             "--output-dir", str(tmp_path), "--backend", backend]
    assert main(flags) in (0, 1)  # 1: the verdict of one epoch may fail; the run itself finished
    (run,) = tmp_path.glob("p7_*")
    assert json.loads((run / "config.json").read_text())["negatives"] == "corpus"
    best = keras.saving.load_model(run / "best.keras")
    assert best.negatives == "corpus" and best.negative_bank is None
    history = json.loads((run / "history.json").read_text())
    assert np.isfinite(history["loss"][0])


def test_resumed_run_keeps_the_warnings_of_the_epochs_before_and_counts_epochs_from_1(
        tmp_path, corpus_file, capsys, monkeypatch):
    flags = ["train", "--data", corpus_file, *TINY, "--epochs", "3", "--output-dir", str(tmp_path), "--no-export"]
    _interrupt_at_epoch(monkeypatch, 2)
    assert main(flags) == 130
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[p7keras] epoch")]
    assert printed, "the tiny run should warn in its first epochs (val margin < 0)"
    monkeypatch.undo()
    assert main(flags) in (0, 1)
    (run,) = tmp_path.glob("p7_*")
    recorded = json.loads((run / "verdict.json").read_text())["warnings"]
    as_console = {f"[p7keras] epoch {w['epoch']}: {w['message']}. Suggested action: {w['action']}." for w in recorded}
    assert set(printed) <= as_console  # every warning printed before the interruption is in the verdict


def test_run_name_fixes_the_folder_resumes_it_and_refuses_a_finished_one(tmp_path, corpus_file, capsys):
    flags = ["train", "--data", corpus_file, *TINY, "--epochs", "1", "--no-export", "--run-name", "fixed",
             "--output-dir", str(tmp_path), "--backend", keras.backend.backend()]
    assert main(flags) in (0, 1)
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["fixed"]
    assert read_json(tmp_path / "fixed" / "state.json")["status"] == "finished"
    assert (tmp_path / "fixed" / "best.keras").is_file()
    capsys.readouterr()
    assert main(flags) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"p7keras train: error: {tmp_path / 'fixed'} already exists (a finished run); choose another "
                   "--run-name or remove it")
    assert main(["train", "--run-name", "a/b", "--output-dir", str(tmp_path)]) == 2
    assert "run_name must be a plain folder name, got 'a/b'" in capsys.readouterr().err


def test_a_run_where_training_cannot_help_keeps_the_starting_model_and_says_so(tmp_path, capsys):
    """Issue 21: i.i.d. random chunks (nothing to learn); selecting on R@5, the residual head starts as
    DIRECT, no epoch beats it beyond noise, and best.keras is the starting model."""
    from p7keras.data import ChunkCorpus
    from p7keras.evaluation import evaluate
    from p7keras.verdict import KEPT_START

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((600, 16)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path / "random.npz"
    save_corpus(ChunkCorpus(vectors, np.repeat(np.arange(40), 15)), path)
    code = main(["train", "--data", str(path), "--preset", "real-text", "--d-model", "16", "--batch-size", "32",
                 "--epochs", "2", "--learning-rate", "0.01", "--no-export", "--run-name", "random",
                 "--output-dir", str(tmp_path), "--backend", keras.backend.backend()])
    assert code in (0, 1)
    out = capsys.readouterr().out
    assert f"  - {KEPT_START}" in out and "learned gain over the starting model on validation: no learned gain" in out
    run = tmp_path / "random"
    verdict = read_json(run / "verdict.json")
    assert verdict["best_epoch"] == 0 and verdict["kept_start"] is True
    assert verdict["learned_gain"]["judgement"] == "no learned gain"
    history = read_json(run / "history.json")
    assert all(low <= 0 for low in history["val_R@5_gain_low"])
    assert history["val_R@5_selected"] == history["start_R@5"]
    # best.keras is the starting model: the residual head at its start predicts DIRECT exactly (λ = 1)
    result = evaluate(str(run / "best.keras"), str(path), split="val", strict_gate=False, latency_calls=1,
                      diagnostics=False)
    (model,) = result["models"].values()
    assert model["retrieval"]["all"] == result["baselines"]["DIRECT"]["all"]
    assert history["start_R@5"][0] == pytest.approx(model["retrieval"]["all"]["R@5"])
