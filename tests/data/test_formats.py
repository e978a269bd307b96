"""Loading both formats of spec section 9 and every input check."""

import os

import numpy as np
import pytest

from p7keras.data import (
    ChunkCorpus,
    DataError,
    SequenceFile,
    load,
    load_corpus,
    load_sequence_file,
    load_splits,
    save_corpus,
    save_sequence_file,
)
from p7keras.io import atomic_path

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _sequence_arrays(n=12, k=3, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "contexts": _unit(rng.standard_normal((n, k, d))),
        "targets": _unit(rng.standard_normal((n, d))),
        "article_ids": np.repeat(np.arange(n // 3), 3),
    }


def test_corpus_round_trip(corpus_arrays, write_npz, tmp_path):
    corpus = load_corpus(write_npz("c.npz", **corpus_arrays))
    assert isinstance(corpus, ChunkCorpus)
    assert corpus.vectors.dtype == np.float32 and corpus.vectors.shape == (21, 8)
    assert corpus.num_articles == 4 and corpus.article_lengths.tolist() == [4, 6, 3, 8]
    assert corpus.article_names.tolist() == ["a.md", "b.md", "c.md", "d.md"]
    assert corpus.non_unit == 0
    np.testing.assert_array_equal(corpus.vectors, corpus_arrays["vectors"])  # unit input untouched
    out = os.path.join(tmp_path, "copy.npz")
    save_corpus(corpus, out)
    again = load_corpus(out)
    np.testing.assert_array_equal(again.vectors, corpus.vectors)
    np.testing.assert_array_equal(again.positions, corpus.positions)


def test_optional_keys_get_defaults(corpus_arrays, write_npz):
    path = write_npz("c.npz", vectors=corpus_arrays["vectors"], article_ids=corpus_arrays["article_ids"])
    corpus = load_corpus(path)
    assert corpus.positions.tolist()[:6] == [0, 1, 2, 3, 0, 1]
    assert corpus.article_names.tolist() == ["10", "11", "12", "13"]


def test_non_unit_vectors_are_normalised_and_counted(corpus_arrays, write_npz):
    corpus_arrays["vectors"][[1, 5]] *= 3.0
    corpus = load_corpus(write_npz("c.npz", **corpus_arrays))
    assert corpus.non_unit == 2
    np.testing.assert_allclose(np.linalg.norm(corpus.vectors, axis=1), 1.0, atol=1e-6)


def test_sequence_file_round_trip(write_npz, tmp_path):
    arrays = _sequence_arrays()
    arrays["targets"][0] *= 2.0
    data = load(write_npz("s.npz", **arrays))
    assert isinstance(data, SequenceFile)
    assert (data.num_sequences, data.context_length, data.dim) == (12, 3, 8)
    assert data.non_unit == 1
    out = os.path.join(tmp_path, "s2.npz")
    save_sequence_file(data, out)
    np.testing.assert_array_equal(load_sequence_file(out).contexts, data.contexts)


def test_sequence_file_without_article_ids(write_npz):
    arrays = _sequence_arrays()
    del arrays["article_ids"]
    assert load_sequence_file(write_npz("s.npz", **arrays)).article_ids is None


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda a: a.pop("vectors"), "missing key 'vectors'"),
        (lambda a: a.pop("article_ids"), "missing key 'article_ids'"),
        (lambda a: a.update(vectors=a["vectors"].astype(np.int64)), "key 'vectors' must be a float array"),
        (lambda a: a.update(article_ids=a["article_ids"].astype(np.float32)), "key 'article_ids' must be a int"),
        (lambda a: a.update(vectors=a["vectors"][None]), "key 'vectors' must have rank 2"),
        (lambda a: a.update(article_ids=a["article_ids"][:-1]), "'article_ids' has 20 rows but 'vectors' has 21"),
        (lambda a: a["vectors"].__setitem__((3, 2), np.nan), "key 'vectors' has 1 vectors with NaN or inf"),
        (lambda a: a["vectors"].__setitem__((4, 0), np.inf), "(first at row 4)"),
        (lambda a: a["vectors"].__setitem__(7, 0.0), "key 'vectors' has 1 zero vectors (first at row 7)"),
        (lambda a: (a.update(vectors=a["vectors"].astype(np.float64)), a["vectors"].__setitem__((5, 1), 1e39)),
         "key 'vectors' has 1 vectors with values beyond float32's range (first at row 5, |value| up to 1e+39)"),
        (lambda a: a["article_ids"].__setitem__(0, 13), "not contiguous: article 13 comes back at row"),
        (lambda a: a["positions"].__setitem__(2, 0), "key 'positions' does not increase inside article 10"),
        (lambda a: a.update(article_names=a["article_names"][:3]), "'article_names' has 3 names but"),
        (lambda a: a.update(article_names=np.array([1, 2, 3, 4])), "key 'article_names' must be a str"),
    ],
)
def test_bad_corpus_raises_naming_file_key_problem(corpus_arrays, write_npz, edit, message):
    edit(corpus_arrays)
    path = write_npz("bad.npz", **corpus_arrays)
    with pytest.raises(DataError) as info:
        load_corpus(path)
    assert message in str(info.value)
    assert str(info.value).startswith(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda a: a.pop("targets"), "missing key 'targets'"),
        (lambda a: a.update(contexts=a["contexts"][:, :1]), "K = 1; K must be at least 2"),
        (lambda a: a.update(targets=a["targets"][:, :4]), "'contexts' has D = 8 but 'targets' has D = 4"),
        (lambda a: a.update(targets=a["targets"][:5]), "'targets' has 5 rows but 'contexts' has 12"),
        (lambda a: a.update(contexts=a["contexts"][0]), "key 'contexts' must have rank 3"),
        (lambda a: a["contexts"].__setitem__((2, 1), 0.0),
         "key 'contexts' has 1 zero vectors (first at row (2, 1))"),
        (lambda a: a["targets"].__setitem__((0, 0), np.nan), "key 'targets' has 1 vectors with NaN"),
        (lambda a: (a.update(contexts=a["contexts"].astype(np.float64)), a["contexts"].__setitem__((3, 0, 2), -4e38)),
         "key 'contexts' has 1 vectors with values beyond float32's range (first at row (3, 0)"),
    ],
)
def test_bad_sequence_file_raises(write_npz, edit, message):
    arrays = _sequence_arrays()
    edit(arrays)
    with pytest.raises(DataError, match=None) as info:
        load(write_npz("bad.npz", **arrays))
    assert message in str(info.value)


def test_object_array_needing_pickle(corpus_arrays, tmp_path):
    path = os.path.join(tmp_path, "pickled.npz")
    corpus_arrays["article_names"] = np.array(["a", None, "c", "d"], dtype=object)
    np.savez(path, **corpus_arrays)
    with pytest.raises(DataError, match="key 'article_names' is an object array that needs pickle"):
        load_corpus(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"just some text, not an archive\n",
         "not an .npz archive \\(it does not start as a zip file does; its first bytes are b'just s'\\)"),
        (b"PK\x03\x04 broken zip", "not a readable .npz archive"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    path = os.path.join(tmp_path, "x.npz")
    with open(path, "wb") as handle:
        handle.write(content)
    with pytest.raises(DataError, match=message):
        load(path)


def test_npy_folder_missing_and_unknown_keys(tmp_path, write_npz):
    npy = os.path.join(tmp_path, "x.npy")
    np.save(npy, np.zeros((3, 4), np.float32))
    with pytest.raises(DataError, match="single .npy array"):
        load(npy)
    with pytest.raises(DataError, match="is a folder"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(os.path.join(tmp_path, "absent.npz"))
    with pytest.raises(DataError, match=r"neither a chunk corpus .* found keys \['foo'\]"):
        load(write_npz("foo.npz", foo=np.zeros(3)))


def test_wrong_format_for_specific_loader(corpus_arrays, write_npz):
    path = write_npz("c.npz", **corpus_arrays)
    with pytest.raises(DataError, match="is a chunk corpus, expected a SequenceFile"):
        load_sequence_file(path)


def test_dimension_differing_between_files(corpus_arrays, write_npz):
    train = write_npz("train.npz", **corpus_arrays)
    corpus_arrays["vectors"] = np.ascontiguousarray(corpus_arrays["vectors"][:, :4])
    corpus_arrays["vectors"] /= np.linalg.norm(corpus_arrays["vectors"], axis=1, keepdims=True)
    val = write_npz("val.npz", **corpus_arrays)
    with pytest.raises(DataError, match=r"train.npz has D = 8 but .*val.npz has D = 4"):
        load_splits(train, context_length=2, val=val)


def test_context_longer_than_every_article(corpus_arrays, write_npz):
    path = write_npz("c.npz", **corpus_arrays)
    with pytest.raises(DataError, match=r"at least K \+ 1 = 9 chunks, but the longest article has 8"):
        load_splits(path, context_length=8)


def test_atomic_write_leaves_nothing_on_failure(tmp_path, small_corpus):
    out = os.path.join(tmp_path, "out.npz")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".npz")
            with open(tmp, "wb") as handle:
                handle.write(b"half")
            raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == []
    save_corpus(small_corpus, out)
    assert os.listdir(tmp_path) == ["out.npz"]


# ------------------------------------------------------------------------------- texts (issue 12)
def _texts(n: int) -> np.ndarray:
    return np.array([f"chunk {i}: ownership — naïve café" for i in range(n)])


def test_texts_round_trip_and_absence(corpus_arrays, write_npz, tmp_path):
    with_texts = load_corpus(write_npz("t.npz", **corpus_arrays, texts=_texts(21)))
    assert with_texts.texts.tolist() == _texts(21).tolist()
    out = os.path.join(tmp_path, "copy.npz")
    save_corpus(with_texts, out)
    assert load_corpus(out).texts.tolist() == _texts(21).tolist()
    without = load_corpus(write_npz("v.npz", **corpus_arrays))
    assert without.texts is None
    save_corpus(without, out)
    assert "texts" not in np.load(out).files and load_corpus(out).texts is None


def test_utf8_byte_texts_are_decoded(corpus_arrays, write_npz):
    encoded = np.char.encode(_texts(21), "utf-8")
    assert load_corpus(write_npz("b.npz", **corpus_arrays, texts=encoded)).texts[3] == _texts(21)[3]


@pytest.mark.parametrize(
    "texts, message",
    [
        (_texts(20), "key 'texts' has 20 rows but 'vectors' has 21"),
        (np.arange(21), "key 'texts' must be a str array, got dtype int64"),
        (_texts(21).reshape(3, 7), "key 'texts' must have rank 1, got shape (3, 7)"),
        (np.array([b"\xff\xfe"] * 21), "key 'texts' holds bytes that are not UTF-8 text"),
    ],
)
def test_bad_texts_are_one_line_naming_file_and_key(corpus_arrays, write_npz, texts, message):
    path = write_npz("bad.npz", **corpus_arrays, texts=texts)
    with pytest.raises(DataError) as info:
        load_corpus(path)
    assert message in str(info.value) and str(info.value).startswith(path)
    assert "\n" not in str(info.value)


def test_pickled_texts_are_refused_without_unpickling(corpus_arrays, tmp_path):
    path = os.path.join(tmp_path, "pickled.npz")
    np.savez(path, **corpus_arrays, texts=np.array(list(_texts(21)), dtype=object))
    with pytest.raises(DataError) as info:
        load_corpus(path)
    assert str(info.value).startswith(f"{path}: key 'texts' is an object array that needs pickle")


def test_texts_reach_every_bank_row_of_a_split(corpus_arrays, write_npz):
    corpus = load_corpus(write_npz("t.npz", **corpus_arrays, texts=_texts(21)))
    name_of = dict(zip([10, 11, 12, 13], corpus.article_names.tolist()))
    for split, seqs in load_splits(corpus, context_length=2, seed=0).items():
        np.testing.assert_array_equal(seqs.bank_texts, corpus.texts[seqs.corpus_rows])
        row = int(seqs.target_rows[-1])
        source_row = int(seqs.corpus_rows[row])
        assert seqs.chunk(row) == {
            "row": row,
            "article": name_of[int(corpus.article_ids[source_row])],
            "position": int(corpus.positions[source_row]),
            "text": str(corpus.texts[source_row]),
        }, split


def test_without_texts_a_bank_row_is_known_by_article_and_position(corpus_arrays, write_npz):
    seqs = load_splits(load_corpus(write_npz("v.npz", **corpus_arrays)), context_length=2, seed=0).train
    assert seqs.bank_texts is None
    chunk = seqs.chunk(int(seqs.target_rows[0]))
    assert chunk["text"] is None and chunk["article"] in ("a.md", "b.md", "c.md", "d.md")
    assert chunk["position"] == 2  # the first target of an article follows its K = 2 first chunks


def test_read_texts_reads_plain_and_gzipped_json_into_python_strings(tmp_path):
    import gzip
    import json

    from p7keras.data.formats import read_texts, with_texts

    texts = ["first chunk", "zweiter Abschnitt é", "x" * 900]
    plain, zipped = tmp_path / "t.json", tmp_path / "t.json.gz"
    plain.write_text(json.dumps(texts), encoding="utf-8")
    zipped.write_bytes(gzip.compress(json.dumps(texts).encode("utf-8")))
    for path in (plain, zipped):
        read = read_texts(path, rows=3)
        assert read.dtype == object and list(read) == texts
    corpus = ChunkCorpus(np.eye(3, dtype=np.float32), np.array([0, 0, 1]))
    attached = with_texts(corpus, zipped)
    assert attached.texts[2] == "x" * 900 and corpus.texts is None
    assert attached.vectors is corpus.vectors and list(attached.positions) == [0, 1, 0]
    with pytest.raises(DataError, match="holds 3 texts but the corpus has 4 chunks"):
        read_texts(plain, rows=4)
    with pytest.raises(DataError, match="is a folder"):
        read_texts(tmp_path)
