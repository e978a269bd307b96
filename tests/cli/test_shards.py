"""``p7keras data shard | verify`` and every command reading a sharded corpus as it reads the ``.npz``."""

import json
import os

import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.data import load
from tests.data.conftest import TOY_ENCODER

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--batch-size", "32", "--context", "4",
        "--no-export", "--seed", "3"]


@pytest.fixture
def corpus_and_shards(tmp_path, capsys):
    npz = str(tmp_path / "c.npz")
    assert main(["data", "synth", "--out", npz, "--dim", "16", "--num-articles", "40", "--chunks-per-article",
                 "12", "--seed", "1"]) == 0
    folder = str(tmp_path / "c_shards")
    assert main(["data", "shard", npz, "--out", folder, "--shard-chunks", "100"]) == 0
    assert f"wrote {folder}: 480 chunks, 40 articles, D = 16, float32, 5 shards" in capsys.readouterr().out
    return npz, folder


def _history(run_dir):
    with open(os.path.join(run_dir, "history.json")) as handle:
        return json.load(handle)


def test_train_and_evaluate_on_shards_equal_the_npz(corpus_and_shards, tmp_path, capsys):
    npz, folder = corpus_and_shards
    runs = {}
    for name, data in (("npz", npz), ("shards", folder)):
        out = tmp_path / f"runs_{name}"
        assert main(["train", "--data", data, *TINY, "--epochs", "2", "--output-dir", str(out),
                     "--exp-name", name]) in (0, 1)
        (runs[name],) = [str(p) for p in out.iterdir()]
    a, b = _history(runs["npz"]), _history(runs["shards"])
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)
    capsys.readouterr()
    reports = {}
    for name, data in (("npz", npz), ("shards", folder)):
        path = str(tmp_path / f"eval_{name}.json")
        assert main(["evaluate", runs["npz"], "--data", data, "--split", "ood", "--allow-small", "--json", path,
                     "--latency-calls", "2"]) in (0, 1)
        with open(path) as handle:
            reports[name] = json.load(handle)
    x, y = reports["npz"], reports["shards"]
    for model in x["models"]:
        for protocol, metrics in x["models"][model]["retrieval"].items():
            for metric, value in metrics.items():
                assert y["models"][model]["retrieval"][protocol][metric] == pytest.approx(value, abs=1e-6)
    for name, protocols in x["baselines"].items():
        for protocol, metrics in protocols.items():
            assert y["baselines"][name][protocol] == pytest.approx(metrics, abs=1e-6)
    assert x["models"][model]["directional"] == pytest.approx(y["models"][model]["directional"], abs=1e-6)


def test_verify_and_inspect(corpus_and_shards, capsys):
    _, folder = corpus_and_shards
    assert main(["data", "verify", folder]) == 0
    out = capsys.readouterr().out
    assert "shard-00004: 96 chunks, 8 articles, checksums and rows ok" in out
    assert out.strip().endswith("every checksum and row checked")
    assert main(["data", "inspect", folder]) == 0
    assert "chunks 480   articles 40" in capsys.readouterr().out


def test_damaged_shard_is_one_line_exit_2(corpus_and_shards, capsys):
    npz, folder = corpus_and_shards
    os.remove(os.path.join(folder, "shard-00003.article_ids.npy"))
    for argv in (["data", "verify", folder], ["data", "inspect", folder],
                 ["train", "--data", folder, *TINY, "--epochs", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].endswith("shard-00003.article_ids.npy: missing (listed in manifest.json)"), err
        assert "Traceback" not in "\n".join(err)
    assert main(["data", "shard", npz, "--out", folder]) == 2
    assert capsys.readouterr().err.strip() == (f"p7keras data: error: {folder}: holds a sharded corpus already "
                                               "(manifest.json); pass --overwrite to replace it")


def test_a_nan_row_train_names_is_listed_by_verify(corpus_and_shards, tmp_path, capsys):
    _, folder = corpus_and_shards
    path = os.path.join(folder, "shard-00003.vectors.npy")
    vectors = np.load(path)
    vectors[7, 0] = np.nan
    vectors[9] = 0.0
    np.save(path, vectors)
    assert main(["train", "--data", folder, *TINY, "--epochs", "1", "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"p7keras train: error: {path}: row 7 holds NaN or inf (a chunk vector must be finite and "
                   f"non-zero; `p7keras data verify {folder}` lists such rows in every shard: how many, and the "
                   "first ones)"]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert main(["data", "verify", folder]) == 2
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert len(out) == 5 and "ok:" not in captured.out
    assert out[3] == ("shard-00003: 96 chunks, 8 articles, DAMAGED: sha256 of shard-00003.vectors.npy differs from "
                      "the manifest's (changed or damaged); 1 row holds NaN or inf (row 7); 1 row is zero (row 9)")
    assert captured.err.strip().splitlines() == [
        f"p7keras data: error: {folder}: 1 of 5 shards damaged: {path}: sha256 of shard-00003.vectors.npy differs "
        "from the manifest's (changed or damaged); 1 row holds NaN or inf (row 7); 1 row is zero (row 9)"]
    assert main(["data", "inspect", folder]) == 1  # an unusable verdict exits 1
    assert "verdict: unusable: 1 vector holds NaN or inf, 1 vector is zero" in capsys.readouterr().out


def test_from_text_into_a_folder(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraph = "Ownership rules decide when memory is freed, and moves transfer it. " * 3
    for i in range(5):
        (docs / f"doc{i}.md").write_text("\n\n".join([paragraph + f" Part {p} of {i}." for p in range(8)]))
    out = str(tmp_path / "docs_shards")
    assert main(["data", "from-text", str(docs), "--encoder", f"{TOY_ENCODER}:encode", "--out", out,
                 "--shard-chunks", "10", "--dtype", "float16"]) == 0
    captured = capsys.readouterr()
    assert "5 articles, D = 32, float16, 5 shards" in captured.out
    assert "shard-00004: 8 chunks, 1 articles (files 5/5, 100%)" in captured.err
    corpus = load(out)
    assert corpus.texts[0].startswith("Ownership rules") and corpus.vectors[:].dtype == np.float32


def test_predict_reads_the_folder(corpus_and_shards, tmp_path, capsys):
    npz, folder = corpus_and_shards
    out = tmp_path / "runs"
    assert main(["train", "--data", folder, *TINY, "--epochs", "1", "--output-dir", str(out)]) in (0, 1)
    (run,) = [str(p) for p in out.iterdir()]
    shown = {}
    for name, data in (("npz", npz), ("shards", folder)):
        path = tmp_path / f"{name}.json"
        assert main(["predict", run, "--data", data, "--split", "val", "--sample", "3", "--top-k", "5",
                     "--json", str(path)]) == 0
        shown[name] = json.loads(path.read_text())
    assert shown["npz"]["examples"] == shown["shards"]["examples"]


@pytest.mark.slow
def test_tune_reads_the_folder(corpus_and_shards, tmp_path):
    from tests.tuner.conftest import search_flags

    _, folder = corpus_and_shards
    assert main(["tune", *search_flags(tmp_path, synthetic=False), "--data", folder]) == 0
    assert len(list((tmp_path / "models").iterdir())) == 1  # the best trial's run directory
