"""Degenerate data before training (issue 22): identical vectors refuse the run, other problems warn."""

import io
import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.data import ChunkCorpus, DataError, make_synthetic_corpus, save_corpus
from p7keras.training import TrainConfig, train
from p7keras.training.preflight import check_data

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

TINY = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "batch_size": 8, "context_length": 4,
        "export": False}
TINY_FLAGS = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--batch-size", "32", "--context", "4",
              "--no-export"]


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _identical(path):
    one = _unit(np.random.default_rng(0).standard_normal(16))
    save_corpus(ChunkCorpus(np.tile(one, (200, 1)), np.repeat(np.arange(20), 10)), path)
    return path


def _drifting(path):
    """Articles whose chunks move by a tiny step: DIRECT is exact for every sequence, every vector distinct."""
    rng = np.random.default_rng(2)
    start = _unit(rng.standard_normal((20, 1, 16)))
    step = 3e-4 * _unit(rng.standard_normal((20, 1, 16)))
    vectors = _unit(start + step * np.arange(12)[None, :, None]).reshape(240, 16)
    save_corpus(ChunkCorpus(vectors, np.repeat(np.arange(20), 12)), path)
    return path


def test_identical_vectors_refuse_the_run_before_a_run_directory(tmp_path, capsys):
    data = _identical(str(tmp_path / "same.npz"))
    code = main(["train", "--data", data, *TINY_FLAGS, "--epochs", "1", "--output-dir", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.strip().splitlines() == [
        f"p7keras train: error: {data}: 1 distinct vector among 200 rows: every chunk is the same; nothing can be "
        "learned and retrieval figures would mean nothing"]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_identical_validation_file_refuses_too(tmp_path):
    good = str(tmp_path / "good.npz")
    save_corpus(make_synthetic_corpus(num_articles=10, chunks_per_article=12, dim=16), good)
    same = _identical(str(tmp_path / "same.npz"))
    with pytest.raises(DataError, match=r"same.npz: 1 distinct vector among 200 rows"):
        train(TrainConfig(**TINY, train=good, val=same, epochs=1, output_dir=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()


def test_direct_perfect_data_warns_then_trains(tmp_path, monkeypatch):
    import importlib

    train_module = importlib.import_module("p7keras.training.train")
    reached = []
    # the run itself is the same as on any data (tests/training/test_train.py): here, that it is reached
    monkeypatch.setattr(train_module, "_train", lambda config, splits, replicas, stream, *run_and_problem: (
        reached.append(len(splits.train)), print("training", file=stream)))
    data = _drifting(str(tmp_path / "drift.npz"))
    out = io.StringIO()
    train(TrainConfig(**TINY, data=data, epochs=1, output_dir=str(tmp_path / "runs")), stream=out)
    assert out.getvalue().splitlines() == [
        f"warning: {data}: the next chunk equals the last context chunk in 160 of 160 sequences (100%): DIRECT "
        "(reusing the last chunk) is already perfect, so a model can at best match it and retrieval figures will "
        "say little", "training"]
    assert reached and reached[0] > 0


def test_check_data_warns_on_few_distinct_vectors_and_is_silent_on_healthy_data():
    healthy = make_synthetic_corpus(num_articles=10, chunks_per_article=12, dim=16)
    out = io.StringIO()
    check_data(healthy, 4, out)
    assert out.getvalue() == ""
    repeated = ChunkCorpus(np.concatenate([healthy.vectors] * 3), np.repeat(np.arange(30), 12), source="r.npz")
    check_data(repeated, 4, out)
    assert out.getvalue() == ("warning: r.npz: 120 distinct vectors among 360 rows (33.3%): most chunks repeat "
                              "others, and a target's duplicates in the bank make retrieval figures unreliable\n")
