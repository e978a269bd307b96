"""The TFDS builders p7_synthetic and p7_corpus: offline, versioned, split by article."""

import os

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from p7keras.data import DataError, SequenceFile, load_sequences, save_corpus, save_sequence_file  # noqa: E402
from p7keras.data import tfds_builders  # noqa: E402  (registers the builders)
from p7keras.data.windows import window_rows  # noqa: E402


def _manual(folder):
    return {"download_config": tfds.download.DownloadConfig(manual_dir=os.fspath(folder))}


def _numpy(split):
    rows = list(tfds.as_numpy(split))
    contexts, targets = np.stack([r["context"] for r in rows]), np.stack([r["target"] for r in rows])
    return contexts, targets, np.array([r["article_id"] for r in rows])


def test_builders_are_registered():
    assert {"p7_synthetic", "p7_corpus"} <= set(tfds.list_builders(with_community_datasets=False))


def test_p7_synthetic_tiny(tmp_path):
    splits, info = tfds.load("p7_synthetic/tiny", split=["train", "validation", "ood"],
                             data_dir=os.fspath(tmp_path), with_info=True)
    assert str(info.version) == "1.0.0"
    assert {name: info.splits[name].num_examples for name in ("train", "validation", "ood")} == {
        "train": 70, "validation": 7, "ood": 7}
    contexts, targets, ids = _numpy(splits[0])
    assert contexts.shape == (70, 3, 32) and targets.shape == (70, 32) and contexts.dtype == np.float32
    articles = [set(_numpy(s)[2].tolist()) for s in splits]
    assert not (articles[0] & articles[1] or articles[0] & articles[2] or articles[1] & articles[2])
    # the same sequences as the library's own split of the same corpus
    config = tfds_builders.P7Synthetic.builder_configs["tiny"]
    assert config.context_length == 3
    seqs = tfds_builders.tfds_to_sequences(splits[1])
    assert len(seqs) == 7 and seqs.has_article_ids
    batch = seqs.as_dataset(batch_size=4, hard_negatives=2)[0]
    assert batch["hard_negatives"].shape == (4, 2, 32)


def test_p7_corpus_from_manual_dir(tmp_path, small_corpus):
    manual = tmp_path / "manual"
    save_corpus(small_corpus, os.fspath(manual / "corpus.npz"))
    builder = tfds.builder("p7_corpus/k3", data_dir=os.fspath(tmp_path / "data"))
    builder.download_and_prepare(**_manual(manual))
    sizes = {name: builder.info.splits[name].num_examples for name in ("train", "validation", "ood")}
    assert sizes == {"train": 16 * 9, "validation": 2 * 9, "ood": 2 * 9}
    contexts, targets, ids = _numpy(builder.as_dataset(split="validation"))
    expected = load_sequences(small_corpus, context_length=3, split="val")
    assert set(ids.tolist()) == set(expected.article_ids.tolist())
    assert contexts.shape == (18, 3, 16)
    rows = {t.tobytes() for t in expected.targets}
    assert all(t.tobytes() in rows for t in targets)


def test_p7_corpus_loads_through_tfds_load(tmp_path):
    rng = np.random.default_rng(0)
    chunks = rng.standard_normal((60, 8)).astype(np.float32)
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    context_rows, target_rows = window_rows(np.repeat(np.arange(6), 10), 5)
    data = SequenceFile(chunks[context_rows], chunks[target_rows])  # no article ids
    save_sequence_file(data, os.fspath(tmp_path / "m" / "seq.npz"))
    ood = tfds.load("p7_corpus", split="ood", data_dir=os.fspath(tmp_path / "d"),
                    download_and_prepare_kwargs=_manual(tmp_path / "m"))
    contexts, targets, ids = _numpy(ood)
    assert contexts.shape == (3, 5, 8) and np.all(ids == -1)  # 30 rows split by row (no ids)


def test_p7_corpus_needs_one_file(tmp_path, small_corpus):
    manual = tmp_path / "manual"
    for name in ("a.npz", "b.npz"):
        save_corpus(small_corpus, os.fspath(manual / name))
    builder = tfds.builder("p7_corpus", data_dir=os.fspath(tmp_path / "data"))
    with pytest.raises(DataError, match="exactly one .npz file"):
        builder.download_and_prepare(**_manual(manual))
