"""The real-text study runner: rows per recipe × size × seed, resumable, with the table and the plot."""

import json
import os

import pytest

from p7keras.data import make_synthetic_corpus, save_corpus
from tuner import study

pytestmark = pytest.mark.one_backend  # study tables and reruns; its runs train as test_train does on every backend


def test_study_writes_rows_table_and_plot_and_skips_finished_rows(tmp_path, monkeypatch, capsys):
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=10, dim=16, seed=1), data)
    tiny = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "batch_size": 16}
    monkeypatch.setitem(study.RECIPES, "tiny", tiny)
    out = tmp_path / "docs" / "real-text.md"
    other = tmp_path / "other.npz"
    save_corpus(make_synthetic_corpus(num_articles=12, chunks_per_article=10, dim=16, seed=7), other)
    argv = ["--data", str(data), "--recipes", "tiny", "--train-chunks", "100", "0", "--seeds", "0", "--epochs", "1",
            "--folder", str(tmp_path / "study"), "--out", str(out), "--transfer", str(other), str(data)]
    assert study.main(argv) == 0
    transfers = [r for r in study.read_rows(str(tmp_path / "study")) if r.get("kind") == "transfer"]
    assert sorted(str(r["train_chunks"]) for r in transfers) == ["100", "all"]  # the corpus itself is no transfer
    for row in transfers:
        assert (row["evaluated on"], row["trained on"], row["sequences"], row["articles"]) == ("other", "corpus", 12 * 5, 12)
        assert row["command"].endswith(f"--data {other} --split all --allow-small --backend {study_backend()}")
    rows = [r for r in study.read_rows(str(tmp_path / "study")) if r.get("kind") != "transfer"]
    rows = sorted(rows, key=lambda r: r["train_sequences"])  # run largest first
    assert [(r["recipe"], r["train_chunks"]) for r in rows] == [("tiny", 100), ("tiny", "all")]
    assert rows[0]["train_sequences"] < rows[1]["train_sequences"]
    for row in rows:
        assert abs(row["gain R@5"] - (row["R@5"] - row["DIRECT R@5"])) < 1e-12
        low, high = row["gain R@5 interval"]
        assert low <= row["gain R@5"] <= high
        assert row["learned gain"] == ("yes" if low > 0 else "worse than DIRECT" if high < 0 else "no evidence of a gain")
        train_part, evaluate_part = row["command"].split("; ")
        assert train_part.startswith(f"p7keras train --data {data}") and f"--backend {study_backend()}" in train_part
        name = f"tiny-corpus-{row['train_chunks']}-s0-e1"
        assert f"--run-name {name}" in train_part and row["run_dir"] == str(tmp_path / "study" / name)
        assert evaluate_part == f"p7keras evaluate {tmp_path / 'study' / name} --allow-small --backend {study_backend()}"
    assert "--d-model 16" in rows[0]["command"] and "--train-chunks 100" in rows[0]["command"]
    assert rows[0]["device"] == f"{os.cpu_count()}-core CPU ({study_backend()})"
    table = out.read_text()
    assert table.count("| tiny | float32 | corpus |") == 4 and "real-text-gain.png" in table  # 2 runs, 2 transfers
    low, high = rows[0]["gain R@5 interval"]
    assert f"| {rows[0]['gain R@5']:+.4f} [{low:+.4f}, {high:+.4f}] |" in table
    # the mean-over-seeds lines
    assert "| corpus | tiny | float32 | 100 |" in table and "| corpus | tiny | float32 | all |" in table
    out.write_text(table + "What we conclude.\n")  # the written analysis below the mark survives a rewrite
    assert (out.parent / "real-text-gain.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert study.main(argv) == 0  # nothing left to run: the rows are kept, the table rewritten
    assert "[1/2]" not in capsys.readouterr().out and len(study.read_rows(str(tmp_path / "study"))) == 4
    assert {json.loads(line)["key"] for line in (tmp_path / "study" / "rows.jsonl").read_text().splitlines()} == \
        {r["key"] for r in [*rows, *transfers]}
    rewritten = out.read_text()
    assert rewritten.count("| tiny | float32 | corpus |") == 4 and rewritten.rstrip().endswith("What we conclude.")
    assert rewritten.count(study.ANALYSIS_MARK) == 1
    assert "## Transfer" in rewritten and rewritten.count("| tiny | float32 | corpus | 0 | other |") == 2


@pytest.mark.slow
def test_rerun_reproduces_a_row_and_says_when_it_does_not(tmp_path, monkeypatch, capsys):
    """--rerun N runs row N's two commands as a user would (child processes) and compares its figures."""
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=10, dim=16, seed=1), data)
    monkeypatch.setitem(study.RECIPES, "real-text", {"preset": "real-text", "d_model": 16, "batch_size": 32})
    argv = ["--data", str(data), "--recipes", "real-text", "--seeds", "0", "--epochs", "2",
            "--folder", str(tmp_path / "study"), "--out", str(tmp_path / "t.md")]
    assert study.main(argv) == 0
    capsys.readouterr()
    assert study.main([*argv, "--rerun", "1"]) == 0
    out = capsys.readouterr().out
    assert "row 1: reproduced" in out and out.count(" same") == 4
    rows = study.read_rows(str(tmp_path / "study"))
    rows[0]["R@5"] += 0.01
    (tmp_path / "study" / "rows.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert study.main([*argv, "--rerun", "1"]) == 1
    assert "row 1: NOT reproduced" in capsys.readouterr().out
    assert study.main([*argv, "--rerun", "2"]) == 2


def test_sizes_beyond_a_corpus_training_share_are_not_run_twice(tmp_path, monkeypatch):
    """--train-chunks at or above the training share of a corpus is the whole set: only the 0 row runs."""
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=10, chunks_per_article=10, dim=8, seed=1), data)
    seen = []
    fake = {"R@5": 0.0, "DIRECT R@5": 0.0, "MRR@10": 0.0, "DIRECT MRR@10": 0.0, "minutes": 0.0, "gain R@5": 0.0,
            "gain R@5 interval": [0.0, 0.0], "learned gain": "no evidence of a gain"}
    monkeypatch.setattr(study, "run_one", lambda run, stream, device=None: seen.append(run.train_chunks) or fake)
    monkeypatch.setattr(study, "append_row", lambda folder, row: None)
    monkeypatch.setattr(study, "write_report", lambda rows, out: out)
    assert study.main(["--data", str(data), "--recipes", "real-text", "--train-chunks", "50", "80", "0",
                       "--seeds", "0", "--folder", str(tmp_path / "s"), "--out", str(tmp_path / "x.md")]) == 0
    assert sorted(seen) == [0, 50]  # 80 >= 0.8 x 100 chunks: the whole training set, the 0 row


def test_missing_corpus_is_one_line(tmp_path, capsys):
    assert study.main(["--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.md")]) == 2
    assert capsys.readouterr().err.strip() == f"python -m tuner.study: error: {tmp_path / 'nope.npz'}: no such corpus file"


def study_backend():
    import keras

    return keras.backend.backend()


@pytest.mark.slow  # CI time: ~30 s
def test_workers_share_the_runs_and_the_rows_file(tmp_path, monkeypatch, capsys):
    """--workers 2: two processes, each its share (the largest run first), one rows.jsonl, one table."""
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=10, dim=16, seed=1), data)
    out = tmp_path / "real-text.md"
    argv = ["--data", str(data), "--recipes", "real-text", "--train-chunks", "100", "0", "--seeds", "0",
            "--epochs", "1", "--folder", str(tmp_path / "study"), "--out", str(out), "--workers", "2",
            "--device-note", "test box"]
    assert study.main(argv) == 0
    rows = study.read_rows(str(tmp_path / "study"))
    assert sorted(str(r["train_chunks"]) for r in rows) == ["100", "all"]
    assert {r["device"] for r in rows} == {"test box"}
    assert out.read_text().count("| real-text | float32 | corpus |") == 2
    printed = capsys.readouterr()
    assert "wrote" in printed.out


def test_worker_arguments_and_shards():
    argv = ["--data", "a.npz", "--workers", "3", "--seeds", "0"]
    assert study._worker_argv(argv, 1, 3) == ["--data", "a.npz", "--seeds", "0", "--shard", "1/3"]
    assert study._worker_argv(["--workers=2"], 0, 2) == ["--shard", "0/2"]
    assert study._shard("1/3") == (1, 3) and study._shard(None) == (0, 1)
    with pytest.raises(ValueError, match=r"--shard must be I/N with 0 <= I < N, got '3/3'"):
        study._shard("3/3")
    runs = [study.StudyRun(r, "x.npz", size, 0, 1, "f") for r in ("real-text", "spec") for size in (5000, 0)]
    ordered = sorted(runs, key=lambda run: run.cost(80_000), reverse=True)
    assert [(r.recipe, r.train_chunks) for r in ordered] == [("spec", 0), ("real-text", 0), ("spec", 5000),
                                                               ("real-text", 5000)]
    # a corpus under 5000 chunks: both sizes are all of it
    ordered = sorted(runs, key=lambda run: run.cost(3000), reverse=True)
    assert [(r.recipe, r.train_chunks) for r in ordered][:2] == [("spec", 5000), ("spec", 0)]


def test_corpus_chunks_reads_the_header_only(tmp_path):
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=7, chunks_per_article=9, dim=8, seed=1), data)
    assert study.corpus_chunks(str(data)) == 63


def test_bad_worker_count_is_one_line(tmp_path, capsys):
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=6, chunks_per_article=8, dim=8, seed=1), data)
    assert study.main(["--data", str(data), "--workers", "0", "--out", str(tmp_path / "x.md")]) == 2
    assert capsys.readouterr().err.strip() == "python -m tuner.study: error: --workers must be >= 1, got 0"


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("recipe", sorted(study.RECIPES))
def test_every_row_command_parses_back_to_the_run(recipe, precision):
    """Each row's `p7keras train` command, given to the real parser, makes exactly the study's run."""
    import argparse
    import shlex

    from p7keras.training.config import TrainConfig, add_train_arguments, train_settings

    run = study.StudyRun(recipe, "../shared/data/techprose_minilm384.npz", 5000, 1, 8, "saved_models/study",
                         precision=precision)
    words = shlex.split(run.train_command())
    assert words[:2] == ["p7keras", "train"]
    parser = argparse.ArgumentParser()
    add_train_arguments(parser, unset=True)
    assert TrainConfig(**train_settings(parser.parse_args(words[2:]))) == run.config()
    assert words[words.index("--backend") + 1] == run.backend and "--run-name" in words


def test_without_data_or_rerun_is_one_line(tmp_path, capsys):
    assert study.main(["--out", str(tmp_path / "x.md")]) == 2
    assert capsys.readouterr().err.strip() == ("python -m tuner.study: error: --data is required: the corpora to "
                                               "study (or --rerun N, a row of the study folder)")
    assert study.main(["--rerun", "1", "--folder", str(tmp_path / "empty")]) == 2
    assert "--rerun must be a row number from 1 to 0, got 1" in capsys.readouterr().err


def test_precisions_are_rows_of_their_own_beside_float32(tmp_path, monkeypatch):
    """--precisions: one run per training precision, named apart, trained under it, a column of the tables."""
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=20, chunks_per_article=8, dim=16, seed=3), data)
    monkeypatch.setitem(study.RECIPES, "tiny", {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32,
                                                "batch_size": 16})
    out, folder = tmp_path / "table.md", tmp_path / "study"
    assert study.main(["--data", str(data), "--recipes", "tiny", "--seeds", "0", "--epochs", "1", "--folder",
                       str(folder), "--out", str(out), "--precisions", "float32", "mixed_bfloat16"]) == 0
    rows = {r["precision"]: r for r in study.read_rows(str(folder))}
    assert sorted(rows) == ["float32", "mixed_bfloat16"]
    assert rows["mixed_bfloat16"]["run_dir"] == str(folder / "tiny-corpus-all-s0-e1-bf16")
    assert rows["float32"]["run_dir"] == str(folder / "tiny-corpus-all-s0-e1")  # the older rows' names
    assert rows["mixed_bfloat16"]["key"] == rows["float32"]["key"] + "|mixed_bfloat16"
    assert "--precision mixed_bfloat16" in rows["mixed_bfloat16"]["command"]
    assert "--precision" not in rows["float32"]["command"]
    with open(folder / "tiny-corpus-all-s0-e1-bf16" / "config.json", encoding="utf-8") as handle:
        assert json.load(handle)["precision"] == "mixed_bfloat16"
    table = out.read_text()
    assert table.count("| tiny | mixed_bfloat16 | corpus |") == 1 and table.count("| tiny | float32 | corpus |") == 1
    assert "| corpus | tiny | mixed_bfloat16 | all |" in table and "| corpus | tiny | float32 | all |" in table


def test_a_precision_the_backend_cannot_train_is_refused_before_any_run(tmp_path, capsys):
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("mixed_float16 is refused on JAX's CPU backend only")
    data = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=6, chunks_per_article=8, dim=8, seed=1), data)
    assert study.main(["--data", str(data), "--precisions", "mixed_float16", "--folder", str(tmp_path / "s"),
                       "--out", str(tmp_path / "x.md")]) == 2
    assert "--precision mixed_float16 needs a GPU on the jax backend" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
