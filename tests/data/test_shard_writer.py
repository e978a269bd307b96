"""The shard folder's lock (issue 22): one writer at a time; a killed writer's lock taken over and its write resumed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.data import load, make_synthetic_corpus, save_corpus
from p7keras.data.shard_writer import PROGRESS, ShardWriter, write_shards
from p7keras.data.text import text_to_shards
from p7keras.locks import FolderInUseError
from tests.test_locks import hold, kill

TOY_ENCODER = "tests.data.toy_encoder:encode"


def _corpus(tmp_path):
    path = tmp_path / "corpus.npz"
    save_corpus(make_synthetic_corpus(num_articles=12, chunks_per_article=10, dim=8, seed=1), path)
    return path


def test_a_second_shard_command_on_a_live_folder_is_refused_before_reading_its_input(tmp_path, capsys, monkeypatch):
    corpus, out = _corpus(tmp_path), tmp_path / "shards"
    holder = hold(out)
    read = []
    monkeypatch.setattr("p7keras.data.load_corpus", lambda path: read.append(path))
    try:
        assert main(["data", "shard", str(corpus), "--out", str(out), "--shard-chunks", "30"]) == 2
        err = capsys.readouterr().err.strip()
        assert re.fullmatch(rf"p7keras data: error: shard folder {re.escape(str(out))} is in use by another process "
                            rf"\(pid {holder.pid} on host .+, started .+\); wait for it to finish or stop it \(a lock "
                            r"left by a killed process is taken over\)", err), err
        assert read == [] and sorted(p.name for p in out.iterdir()) == [".p7keras.lock", ".p7keras.lock.owner"]
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "a.md").write_text("\n\n".join(f"Paragraph {i} of a document about moves and borrows." * 3
                                                for i in range(8)))
        with pytest.raises(FolderInUseError, match="shard folder"):
            text_to_shards(docs, TOY_ENCODER, out)  # from-text's writer: the same lock
    finally:
        kill(holder)


def test_a_killed_writers_lock_is_taken_over_and_its_write_resumed(tmp_path, capsys):
    corpus, out = load(str(_corpus(tmp_path))), tmp_path / "shards"
    settings = {"source": str(tmp_path / "corpus.npz"), "num_chunks": corpus.num_chunks}
    writer = ShardWriter(out, corpus.dim, "float32", 30, settings=settings)
    writer.add(corpus.article_names[0], 0, np.asarray(corpus.vectors[:10]), state={"articles": 1})
    writer.flush(state={"articles": 1})
    writer.release()  # as a killed process leaves it: progress.json, no manifest
    holder = hold(out)  # then a writer killed -9 while it held the lock
    with pytest.raises(FolderInUseError):
        ShardWriter(out, corpus.dim, "float32", 30, settings=settings)
    kill(holder)
    assert json.loads((out / PROGRESS).read_text())["shards"][0]["rows"] == 10
    manifest = write_shards(corpus, out, shard_chunks=30)  # takes the lock over and resumes
    assert manifest["num_chunks"] == corpus.num_chunks and not (out / PROGRESS).exists()
    assert not (out / ".p7keras.lock.owner").exists()  # given back at the end
    np.testing.assert_allclose(load(str(out)).vectors[:], corpus.vectors[:], atol=1e-6)
