"""``p7keras data inspect | synth | from-text``: argparse front end, files, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.data import load_corpus
from tests.data.conftest import TOY_ENCODER

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_synth_then_inspect(tmp_path, capsys):
    out = os.fspath(tmp_path / "synth.npz")
    code = main(["data", "synth", "--out", out, "--dim", "32", "--num-articles", "12", "--chunks-per-article", "15",
                 "--similarity", "0.6", "--seed", "3"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    corpus = load_corpus(out)
    assert corpus.vectors.shape == (180, 32) and corpus.num_articles == 12
    report_path = os.fspath(tmp_path / "report.json")
    assert main(["data", "inspect", out, "--context", "3", "--json", report_path]) == 0
    text = capsys.readouterr().out
    assert "histogram of delta" in text and "verdict" in text
    with open(report_path) as handle:
        report = json.load(handle)
    assert report["chunks"] == 180 and report["context"] == 3 and report["sequences"] == 12 * 12
    assert report["cos_last_next"] == pytest.approx(0.6, abs=0.03)
    assert report["verdict"] in ("ok", "weak")


def test_synth_strength_zero_is_reported_weak(tmp_path, capsys):
    out = os.fspath(tmp_path / "flat.npz")
    assert main(["data", "synth", "--out", out, "--dim", "64", "--num-articles", "30", "--forward-strength", "0"]) == 0
    assert main(["data", "inspect", out, "--split", "train", "--json", os.fspath(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "weak"
    assert "verdict: weak" in capsys.readouterr().out


def test_inspect_on_degenerate_data_says_so_before_the_verdict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    one = rng.standard_normal(16).astype(np.float32)
    np.savez(tmp_path / "c.npz", vectors=np.tile(one / np.linalg.norm(one), (400, 1)),
             article_ids=np.repeat(np.arange(20), 20))
    assert main(["data", "inspect", str(tmp_path / "c.npz"), "--json", str(tmp_path / "r.json")]) == 1  # as FAIL
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:-1] == [
        f"  warning: {tmp_path}/c.npz: 1 distinct vector among 400 rows: every chunk is the same; nothing can be "
        "learned and retrieval figures would mean nothing",
        "  verdict: unusable: every chunk is the same; training refuses this data"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["verdict"], report["distinct_vectors"], report["identical_vectors"]) == ("unusable", 1, True)


def test_inspect_on_the_synthetic_corpus_does_not_suggest_the_real_text_preset(tmp_path, capsys):
    out = os.fspath(tmp_path / "flat.npz")
    assert main(["data", "synth", "--out", out, "--dim", "16", "--num-articles", "20", "--chunks-per-article", "12",
                 "--forward-strength", "0", "--seed", "3"]) == 0
    assert main(["data", "inspect", out]) == 0
    text = capsys.readouterr().out
    assert "prev-repel will push" in text and "try p7keras train --preset real-text" not in text
    assert "this is p7keras's synthetic corpus" in text


def test_from_text(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraph = "Ownership rules decide when memory is freed, and moves transfer it. " * 3
    for name in ("one.md", "two.txt"):
        (docs / name).write_text("\n\n".join([paragraph] * 8))
    out = os.fspath(tmp_path / "docs.npz")
    assert main(["data", "from-text", os.fspath(docs), "--encoder", f"{TOY_ENCODER}:encode", "--out", out]) == 0
    assert "2 articles" in capsys.readouterr().out
    corpus = load_corpus(out)
    assert corpus.article_names.tolist() == ["one.md", "two.txt"] and corpus.dim == 32
    assert len(corpus.texts) == corpus.num_chunks and corpus.texts[0].startswith("Ownership rules")


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, vectors=np.zeros((4, 3), np.float32), article_ids=np.zeros(4, np.int64))
    assert main(["data", "inspect", os.fspath(tmp_path / "absent.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["data", "synth", "--out", os.fspath(tmp_path / "x.npz"), "--similarity", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "similarity out of range" in err and len(err.strip().splitlines()) == 1
    out = os.fspath(tmp_path / "y.npz")
    assert main(["data", "from-text", os.fspath(tmp_path), "--encoder", "nope", "--out", out]) == 2
    assert "no .txt or .md files" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "y.npz").exists()
    assert main(["data"]) == 2  # no sub-command: help


def test_subprocess_exit_code_without_traceback(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"")
    path = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "p7keras", "data", "inspect", os.fspath(bad)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "the file is empty" in result.stderr and "Traceback" not in result.stderr


def test_articles_is_a_deprecated_spelling_of_num_articles(tmp_path, capsys):
    old, new = str(tmp_path / "old.npz"), str(tmp_path / "new.npz")
    assert main(["data", "synth", "--out", old, "--dim", "8", "--articles", "7", "--chunks-per-article", "6"]) == 0
    err = capsys.readouterr().err
    assert "--articles is deprecated" in err and "use --num-articles" in err
    assert main(["data", "synth", "--out", new, "--dim", "8", "--num-articles", "7", "--chunks-per-article", "6"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    a, b = np.load(old), np.load(new)
    assert np.array_equal(a["vectors"], b["vectors"]) and len(np.unique(a["article_ids"])) == 7
