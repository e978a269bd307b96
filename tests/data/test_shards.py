"""Sharded corpora: writing, reading the same data as the .npz, checks naming the shard, resuming."""

import json
import os

import numpy as np
import pytest

from p7keras.data import DataError, format_report, inspect_data, load, load_splits, make_synthetic_corpus, save_corpus
from p7keras.data.shard_writer import PROGRESS, ShardWriter, write_shards
from p7keras.data.shards import MANIFEST, ShardedArray, damage_line, describe_rows, verify_shards
from p7keras.data.text import text_to_shards
from p7keras.evaluation.retrieval import rank_queries
from tests.data.toy_encoder import DIM, dies_on_call, encode

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend


@pytest.fixture
def corpus_npz(tmp_path):
    path = str(tmp_path / "corpus.npz")
    save_corpus(make_synthetic_corpus(num_articles=30, chunks_per_article=14, dim=16, seed=3), path)
    return path


@pytest.fixture
def sharded(corpus_npz, tmp_path):
    folder = str(tmp_path / "shards")
    write_shards(load(corpus_npz), folder, shard_chunks=100)
    return folder


def _manifest(folder):
    with open(os.path.join(folder, MANIFEST)) as handle:
        return json.load(handle)


def test_articles_never_cross_shards_and_rows_match(corpus_npz, sharded):
    manifest = _manifest(sharded)
    assert [s["rows"] for s in manifest["shards"]] == [98] * 4 + [28]  # 7 articles of 14 per shard
    assert manifest["num_chunks"] == 420 and manifest["num_articles"] == 30 and manifest["dtype"] == "float32"
    for shard in manifest["shards"]:
        ids = np.load(os.path.join(sharded, shard["files"]["article_ids"]["file"]))
        assert np.unique(ids).size == shard["articles"]
    a, b = load(corpus_npz), load(sharded)
    assert isinstance(b.vectors, ShardedArray) and b.vectors.shape == (420, 16)
    np.testing.assert_array_equal(b.vectors[:], a.vectors)
    np.testing.assert_array_equal(b.article_ids, a.article_ids)
    np.testing.assert_array_equal(b.positions, a.positions)
    np.testing.assert_array_equal(b.article_names, a.article_names)


def test_indexing_like_numpy(sharded, corpus_npz):
    a, b = load(corpus_npz).vectors, load(sharded).vectors
    rows = np.array([[419, 0, 97], [98, 98, 250]])
    np.testing.assert_array_equal(b[rows], a[rows])  # any shape, across shards, repeats
    np.testing.assert_array_equal(b[5], a[5])
    np.testing.assert_array_equal(b[-1], a[-1])
    np.testing.assert_array_equal(b[90:110], a[90:110])
    mask = np.arange(420) % 3 == 0
    np.testing.assert_array_equal(b[mask], a[mask])
    view = b.view(np.arange(100, 300, 7))
    np.testing.assert_array_equal(view[[0, 3]], a[np.arange(100, 300, 7)][[0, 3]])
    np.testing.assert_array_equal(np.asarray(view), a[100:300:7])
    with pytest.raises(IndexError, match="row 420 is out of range for 420 rows"):
        b[[420]]


def test_splits_equal_the_npz_splits(corpus_npz, sharded):
    a, b = load_splits(corpus_npz, seed=2), load_splits(sharded, seed=2)
    for name in ("train", "val", "ood"):
        x, y = getattr(a, name), getattr(b, name)
        assert isinstance(y.bank, ShardedArray)
        np.testing.assert_array_equal(x.context_rows, y.context_rows)
        np.testing.assert_array_equal(x.contexts, y.contexts)
        np.testing.assert_array_equal(x.targets, y.targets)
        np.testing.assert_array_equal(x.corpus_rows, y.corpus_rows)
        queries = x.contexts[:, -1] + 0.1 * x.contexts[:, 0]
        ranks_x = rank_queries(queries, x.bank, x.target_rows, x.context_rows, x.bank_article_ids, bank_block=64)
        ranks_y = rank_queries(queries, y.bank, y.target_rows, y.context_rows, y.bank_article_ids, bank_block=64)
        for protocol in ranks_x:
            np.testing.assert_array_equal(ranks_x[protocol], ranks_y[protocol])
    small = b.train.subset_articles(150, seed=0)
    assert isinstance(small.bank, ShardedArray) and len(small.bank) <= 150


def test_inspect_equals_the_npz_report(corpus_npz, sharded):
    a, b = inspect_data(corpus_npz), inspect_data(sharded)
    assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}


def test_float16_is_half_the_size_and_unit_when_read(corpus_npz, tmp_path):
    folder = str(tmp_path / "half")
    write_shards(load(corpus_npz), folder, shard_chunks=100, dtype="float16")
    vectors = load(folder).vectors
    first = np.load(os.path.join(folder, "shard-00000.vectors.npy"), mmap_mode="r")
    assert first.dtype == np.float16
    rows = vectors[:]
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(rows, load(corpus_npz).vectors, atol=2e-3)


def test_texts_travel_with_the_shards(tmp_path):
    corpus = make_synthetic_corpus(num_articles=4, chunks_per_article=8, dim=8)
    texts = np.array([f"chunk {i}" for i in range(32)])
    path = str(tmp_path / "t.npz")
    save_corpus(type(corpus)(corpus.vectors, corpus.article_ids, texts=texts), path)
    write_shards(load(path), str(tmp_path / "ts"), shard_chunks=10)
    split = load_splits(str(tmp_path / "ts")).val
    row = int(split.target_rows[0])
    assert split.chunk(row)["text"] == f"chunk {split.corpus_rows[row]}"


# ----------------------------------------------------------------------------------------- damage
def _break_missing(folder):
    os.remove(os.path.join(folder, "shard-00002.vectors.npy"))
    return "shard-00002.vectors.npy: missing (listed in manifest.json)"


def _break_truncated(folder):
    path = os.path.join(folder, "shard-00001.vectors.npy")
    size = os.path.getsize(path)
    assert size == 128 + 98 * 16 * 4  # the .npy header, then the rows
    with open(path, "r+b") as handle:
        handle.truncate(size - 64)
    return f"shard-00001.vectors.npy: {size - 64} bytes, the manifest says {size} (truncated or replaced"


def _break_header(folder):
    path = os.path.join(folder, "shard-00003.positions.npy")
    with open(path, "r+b") as handle:
        handle.write(b"garbage!")
    return "shard-00003.positions.npy: not a readable .npy file"


def _break_dim(folder):
    path = os.path.join(folder, "shard-00000.vectors.npy")
    size = os.path.getsize(path)
    np.save(path, np.ones((49, 32), np.float32))  # same byte count: 98 x 16 float32
    assert os.path.getsize(path) == size
    return "shard-00000.vectors.npy: shape (49, 32), the manifest says (98, 16)"


def _break_dtype(folder):
    manifest = _manifest(folder)
    manifest["dtype"] = "float16"
    with open(os.path.join(folder, MANIFEST), "w") as handle:
        json.dump(manifest, handle)
    return "shard-00000.vectors.npy: dtype float32, the manifest says float16"


def _break_crossing(folder):
    path = os.path.join(folder, "shard-00001.article_ids.npy")
    ids = np.load(path)
    previous_last = np.load(os.path.join(folder, "shard-00000.article_ids.npy"))[-1]
    ids[ids == ids[0]] = previous_last
    np.save(path, ids)
    return f"shard-00001.article_ids.npy: article {previous_last} crosses into this shard from shard shard-00000"


def _break_manifest(folder):
    with open(os.path.join(folder, MANIFEST), "w") as handle:
        handle.write("{not json")
    return "manifest.json: not a readable manifest"


@pytest.mark.parametrize("damage", [_break_missing, _break_truncated, _break_header, _break_dim, _break_dtype,
                                    _break_crossing, _break_manifest], ids=lambda f: f.__name__[7:])
def test_damage_is_one_error_naming_the_shard_before_any_work(sharded, damage):
    expected = damage(sharded)
    with pytest.raises(DataError) as info:
        load_splits(sharded)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_verify_checks_checksums_and_rows(sharded):
    report = verify_shards(sharded)
    assert report["chunks"] == 420 and report["damaged"] == {} and damage_line(report) is None
    path = os.path.join(sharded, "shard-00002.vectors.npy")
    vectors = np.load(path)
    vectors[5] = 0.0  # same size and header: only the checksum and the row tell
    np.save(path, vectors)
    report = verify_shards(sharded)
    assert report["damaged"] == {path: ["sha256 of shard-00002.vectors.npy differs from the manifest's (changed or "
                                        "damaged)", "1 row is zero (row 5)"]}
    assert damage_line(report) == (f"{sharded}: 1 of 5 shards damaged: {path}: sha256 of shard-00002.vectors.npy "
                                   "differs from the manifest's (changed or damaged); 1 row is zero (row 5)")
    corpus = load(sharded)  # opening is cheap and does not read rows; reading the row names it
    with pytest.raises(DataError, match=r"shard-00002.vectors.npy: row 5 is zero"):
        corpus.vectors[[1, 2 * 98 + 5]]
    vectors[5] = np.nan
    np.save(path, vectors)
    with pytest.raises(DataError, match=r"shard-00002.vectors.npy: row 5 holds NaN or inf"):
        load_splits(sharded).train.as_dataset(batch_size=512, hard_negatives=0, shuffle=False)[0]


def test_verify_lists_every_damaged_shard_and_its_rows(sharded, capsys):
    import io

    paths = [os.path.join(sharded, f"shard-0000{i}.vectors.npy") for i in (1, 3)]
    vectors = np.load(paths[0])
    vectors[[7, 40]] = np.nan  # two NaN rows and, in the same shard, one zero row
    vectors[12] = 0.0
    np.save(paths[0], vectors)
    vectors = np.load(paths[1])
    vectors[:8, 0] = np.inf  # eight inf rows: the first five are named
    np.save(paths[1], vectors)
    out = io.StringIO()
    report = verify_shards(sharded, stream=out)
    assert list(report["damaged"]) == paths
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 and lines[0].endswith("checksums and rows ok")
    assert lines[1] == ("shard-00001: 98 chunks, 7 articles, DAMAGED: sha256 of shard-00001.vectors.npy differs from "
                        "the manifest's (changed or damaged); 2 rows hold NaN or inf (rows 7, 40); 1 row is zero "
                        "(row 12)")
    assert lines[3].endswith("8 rows hold NaN or inf (rows 0, 1, 2, 3, 4 and 3 more)")
    assert damage_line(report).endswith("1 row is zero (row 12); 1 more damaged shard listed above")
    assert damage_line(report).startswith(f"{sharded}: 2 of 5 shards damaged: {paths[0]}: ")


def test_verify_still_stops_at_a_shard_it_cannot_open(sharded):
    os.remove(os.path.join(sharded, "shard-00001.positions.npy"))
    with pytest.raises(DataError, match=r"shard-00001.positions.npy: missing \(listed in manifest.json\)"):
        verify_shards(sharded)


def test_describe_rows():
    assert describe_rows(np.array([4]), ("is zero", "are zero")) == "1 row is zero (row 4)"
    assert describe_rows(np.arange(5), ("is zero", "are zero")) == "5 rows are zero (rows 0, 1, 2, 3, 4)"
    assert describe_rows(np.arange(6), ("is zero", "are zero")) == "6 rows are zero (rows 0, 1, 2, 3, 4 and 1 more)"


def test_inspect_on_damaged_shards_is_unusable_and_names_verify(sharded):
    path = os.path.join(sharded, "shard-00002.vectors.npy")
    vectors = np.load(path)
    vectors[5] = np.nan
    vectors[6] = 0.0
    np.save(path, vectors)
    report = inspect_data(sharded)
    assert (report["non_finite"], report["zero_vectors"], report["verdict"]) == (1, 1, "unusable")
    assert format_report(report).splitlines()[-1] == (
        f"  verdict: unusable: 1 vector holds NaN or inf, 1 vector is zero; training refuses this data "
        f"(`p7keras data verify {sharded}` lists the rows)")


def test_a_folder_is_not_written_twice_or_over_a_file(sharded, corpus_npz, tmp_path):
    with pytest.raises(FileExistsError, match=r"holds a sharded corpus already \(manifest.json\); pass --overwrite"):
        write_shards(load(corpus_npz), sharded)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        write_shards(load(corpus_npz), str(tmp_path / "file"))
    with pytest.raises(DataError, match="is a folder without manifest.json"):
        load(str(tmp_path))


# ---------------------------------------------------------------------------------------- resuming
def _articles(tmp_path, count=12):
    folder = tmp_path / "text"
    folder.mkdir()
    sentence = "The borrow checker keeps references valid for as long as they are used."
    for i in range(count):
        body = "\n\n".join(f"{sentence} Article {i} part {p} {'more words ' * (i % 3)}" * 2 for p in range(8 + i % 4))
        (folder / f"a{i:02d}.md").write_text(body)
    return folder


def test_text_to_shards_equals_text_to_corpus(tmp_path):
    from p7keras.data import text_to_corpus

    folder = _articles(tmp_path)
    manifest = text_to_shards(folder, encode, str(tmp_path / "out"), shard_chunks=25)
    corpus = text_to_corpus(folder, encode)
    sharded = load(str(tmp_path / "out"))
    assert manifest["dim"] == DIM and len(manifest["shards"]) > 2
    np.testing.assert_array_equal(sharded.vectors[:], corpus.vectors)
    np.testing.assert_array_equal(sharded.texts[:], corpus.texts)
    np.testing.assert_array_equal(sharded.article_names, corpus.article_names)


def test_a_killed_text_to_shards_keeps_its_shards_and_resumes(tmp_path):
    folder = _articles(tmp_path)
    calls = []
    dies_on_third_shard = dies_on_call(3, calls)

    out = str(tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        text_to_shards(folder, dies_on_third_shard, out, shard_chunks=25)
    assert not os.path.exists(os.path.join(out, MANIFEST)) and os.path.exists(os.path.join(out, PROGRESS))
    with pytest.raises(DataError, match="is a folder without manifest.json"):
        load(out)
    kept = sorted(os.listdir(out))
    calls.clear()

    def counting(texts):
        calls.append(len(texts))
        return encode(texts)

    counting.__name__ = dies_on_third_shard.__name__  # the same encoder name: the same settings
    text_to_shards(folder, counting, out, shard_chunks=25)
    reference = str(tmp_path / "reference")
    text_to_shards(folder, encode, reference, shard_chunks=25)
    assert all(name in os.listdir(out) for name in kept if name != PROGRESS)
    kept_rows = sum(shard["rows"] for shard in _manifest(out)["shards"][:2])  # the two shards before the kill
    assert sum(calls) == _manifest(reference)["num_chunks"] - kept_rows  # only the rest was encoded again
    np.testing.assert_array_equal(load(out).vectors[:], load(reference).vectors[:])
    np.testing.assert_array_equal(load(out).article_ids, load(reference).article_ids)


def test_resume_with_other_settings_is_refused(tmp_path):
    out = str(tmp_path / "out")
    writer = ShardWriter(out, 4, shard_chunks=3, settings={"source": "a"})
    writer.add("x", 0, np.eye(4, dtype=np.float32)[:3])
    writer.add("y", 1, np.eye(4, dtype=np.float32)[:2])  # flushes shard 0
    with pytest.raises(DataError, match="a write with other settings was interrupted here"):
        ShardWriter(out, 4, shard_chunks=5, settings={"source": "a"})
    with pytest.raises(DataError, match=r"article 'z': vectors of shape \(2, 3\), expected \(n >= 1, 4\)"):
        ShardWriter(out, 4, shard_chunks=3, settings={"source": "a"}).add("z", 2, np.ones((2, 3)))
    with pytest.raises(DataError, match="article 'w'"):
        ShardWriter(out, 4, shard_chunks=3, settings={"source": "a"}).add("w", 2, np.zeros((2, 4)))
