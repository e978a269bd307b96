"""The real-text study runner: rows per recipe × size × seed, resumable, with the table and the plot."""

import json

from p7keras.data import make_synthetic_corpus, save_corpus
from tuner import study


def test_study_writes_rows_table_and_plot_and_skips_finished_rows(tmp_path, monkeypatch, capsys):
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=10, dim=16, seed=1), data)
    tiny = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "batch_size": 16}
    monkeypatch.setitem(study.RECIPES, "tiny", tiny)
    out = tmp_path / "docs" / "real-text.md"
    argv = ["--data", str(data), "--recipes", "tiny", "--train-chunks", "100", "0", "--seeds", "0", "--epochs", "1",
            "--folder", str(tmp_path / "study"), "--out", str(out)]
    assert study.main(argv) == 0
    rows = study.read_rows(str(tmp_path / "study"))
    assert [(r["recipe"], r["train_chunks"]) for r in rows] == [("tiny", 100), ("tiny", "all")]
    assert rows[0]["train_sequences"] < rows[1]["train_sequences"]
    for row in rows:
        assert abs(row["gain R@5"] - (row["R@5"] - row["DIRECT R@5"])) < 1e-12
        assert row["command"].startswith(f"p7keras train --data {data}") and "p7keras evaluate" in row["command"]
    assert "--d-model 16" in rows[0]["command"] and "--train-chunks 100" in rows[0]["command"]
    table = out.read_text()
    assert table.count("| tiny |") == 2 and "real-text-gain.png" in table
    assert (out.parent / "real-text-gain.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert study.main(argv) == 0  # nothing left to run: the rows are kept, the table rewritten
    assert "[1/2]" not in capsys.readouterr().out and len(study.read_rows(str(tmp_path / "study"))) == 2
    assert json.loads((tmp_path / "study" / "rows.jsonl").read_text().splitlines()[0])["key"] == rows[0]["key"]


def test_missing_corpus_is_one_line(tmp_path, capsys):
    assert study.main(["--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.md")]) == 2
    assert capsys.readouterr().err.strip() == f"python -m tuner.study: error: {tmp_path / 'nope.npz'}: no such corpus file"
