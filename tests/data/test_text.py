"""Text to chunk corpus: chunking rules, pluggable encoders, errors."""

import io
import os
import sys

import numpy as np
import pytest

from p7keras.data import DataError, load_corpus, load_encoder, text_to_corpus
from p7keras.data.text import chunk_text, paragraphs, read_text_file
from tests.data.conftest import TOY_ENCODER
from tests.data.toy_encoder import DIM, dies_on_call, encode

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend

SENTENCE = "The borrow checker keeps references valid for as long as they are used. "


def _article(paragraph_count: int, sentences_per_paragraph: int = 2) -> str:
    return "\n\n".join(" ".join([SENTENCE.strip()] * sentences_per_paragraph) + f" Part {i}."
                       for i in range(paragraph_count))


def test_paragraphs_and_markdown_cleanup():
    text = "# Title\n\nFirst line\nsame paragraph.\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n\nLast."
    assert paragraphs(text, markdown=True) == ["First line same paragraph.", "Last."]
    assert "fn main() {}" in " ".join(paragraphs(text, markdown=False))


def test_greedy_packing_to_target_length():
    chunks = chunk_text(_article(10), target_chars=400)
    assert all(50 < len(c) <= 400 for c in chunks)
    assert len(chunks) == 5  # paragraphs of ~160 characters: two per chunk
    assert chunks[0].count("\n\n") == 1


def test_long_paragraph_is_split_at_sentence_ends():
    paragraph = " ".join(f"Sentence number {i} talks about ownership and moves." for i in range(30))
    chunks = chunk_text(paragraph, target_chars=400)
    assert len(chunks) > 1 and all(len(c) <= 400 for c in chunks)
    assert all(c.endswith(".") for c in chunks)  # cut at sentence ends only


def test_long_sentence_is_cut_at_words_and_short_chunks_dropped():
    chunks = chunk_text("word " * 200, target_chars=100)
    assert all(len(c) <= 100 for c in chunks) and len(chunks) == 10
    assert chunk_text("x" * 50) == [] and chunk_text("x" * 51) == ["x" * 51]  # <= 50 characters: dropped


@pytest.fixture
def text_dir(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Heading\n\n" + _article(14))
    (folder / "sub" / "b.txt").write_text(_article(12))
    (folder / "short.txt").write_text(_article(4))  # 2 chunks: fewer than 6, dropped
    (folder / "ignored.rst").write_text(_article(20))
    return folder


def test_text_to_corpus_with_a_callable(text_dir, tmp_path):
    out = tmp_path / "docs.npz"
    corpus = text_to_corpus(text_dir, encode, out=out)
    assert corpus.article_names.tolist() == ["a.md", "sub/b.txt"]
    assert corpus.article_lengths.tolist() == [7, 6]
    assert corpus.vectors.shape == (13, DIM)
    assert corpus.positions.tolist()[:8] == [0, 1, 2, 3, 4, 5, 6, 0]
    np.testing.assert_allclose(np.linalg.norm(corpus.vectors, axis=1), 1.0, atol=1e-5)
    loaded = load_corpus(out)
    np.testing.assert_array_equal(loaded.vectors, corpus.vectors)
    np.testing.assert_array_equal(loaded.article_ids, corpus.article_ids)


def test_encoder_specs(text_dir):
    by_module = text_to_corpus(text_dir, "tests.data.toy_encoder:encode")
    by_file = text_to_corpus(text_dir, f"{TOY_ENCODER}:encode")
    np.testing.assert_array_equal(by_module.vectors, by_file.vectors)
    assert load_encoder("tests.data.toy_encoder:encode") is encode


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_colon_here", "expected module:callable"),
        ("p7keras_no_such_module:encode", "cannot import p7keras_no_such_module"),
        ("tests.data.toy_encoder:missing", "has no attribute missing"),
        ("tests.data.toy_encoder:NOT_CALLABLE", "is not callable"),
        ("absent_file.py:encode", "no such file absent_file.py"),
    ],
)
def test_bad_encoder_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_encoder(spec)


def test_sentence_transformers_folder_without_the_package(tmp_path):
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="needs the optional package 'sentence-transformers'"):
            load_encoder(os.fspath(tmp_path))
    else:
        pytest.skip("sentence-transformers is installed")


@pytest.mark.parametrize(
    "encoder, message",
    [("tests.data.toy_encoder:zeros", "zero vectors"), ("tests.data.toy_encoder:wrong_rows", "returned shape")],
)
def test_broken_encoder_output(text_dir, tmp_path, encoder, message):
    out = tmp_path / "never.npz"
    with pytest.raises(DataError, match=message):
        text_to_corpus(text_dir, encoder, out=out)
    assert not out.exists()


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        text_to_corpus(tmp_path / "absent", encode)
    with pytest.raises(DataError, match="no .txt or .md files"):
        text_to_corpus(tmp_path, encode)
    (tmp_path / "tiny.txt").write_text("Hello.")
    with pytest.raises(DataError, match="no article has at least 6 chunks"):
        text_to_corpus(tmp_path, encode)


def test_from_text_keeps_the_chunk_texts(text_dir, tmp_path):
    out = tmp_path / "docs.npz"
    corpus = text_to_corpus(text_dir, encode, out=out)
    assert corpus.texts.tolist() == chunk_text((text_dir / "a.md").read_text(), markdown=True) + chunk_text(
        (text_dir / "sub" / "b.txt").read_text())
    assert load_corpus(out).texts.tolist() == corpus.texts.tolist()


def test_embed_passage_chunks_like_from_text():
    from p7keras.data.text import embed_passage

    passage = _article(10)
    chunks, vectors = embed_passage(passage, f"{TOY_ENCODER}:encode")
    assert chunks == chunk_text(passage)
    np.testing.assert_allclose(vectors, encode(chunks), atol=1e-6)
    with pytest.raises(DataError, match="has no chunk of more than 50 characters"):
        embed_passage("too short", encode)


# ------------------------------------------------------------------------------ input that is not text
@pytest.mark.parametrize("content, is_text", [
    (("Caf\u00e9 cr\u00e8me, na\u00efve r\u00e9sum\u00e9. " * 20).encode(), True),  # UTF-8 accents
    (b"caf\xe9 " + b"au lait and more words " * 20, True),  # one Latin-1 byte in ~460: under 1%, replaced
    (b"caf\xe9 au lait " * 20, False),  # one byte in 14 undecodable: not text
    (b"plain text with one NUL\x00 byte " * 5, False),
    ("UTF-16 text".encode("utf-16"), False),  # NUL bytes
    (np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), False),
    (b"", True),  # empty: text, and too short later
])
def test_read_text_file_refuses_what_is_not_text(tmp_path, content, is_text):
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    text = read_text_file(path)
    assert (text is not None) == is_text
    if is_text:
        assert text == content.decode("utf-8", errors="replace")


def test_an_executable_is_not_text(tmp_path):
    path = tmp_path / "ls.txt"
    path.write_bytes(open(sys.executable, "rb").read())
    assert read_text_file(path) is None


def _mixed_folder(tmp_path):
    """Two articles, one file too short, one binary file (and one not .txt/.md, never read)."""
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text(_article(8, 5))  # 8 chunks
    (folder / "sub" / "b.txt").write_text(_article(7, 5))  # 7 chunks
    (folder / "short.txt").write_text(_article(2, 5))  # 2 chunks
    (folder / "z-binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


def test_binary_and_short_files_are_skipped_and_counted(tmp_path):
    folder = _mixed_folder(tmp_path)
    lines = io.StringIO()
    corpus = text_to_corpus(folder, encode, stream=lines)
    assert corpus.article_names.tolist() == ["a.md", "sub/b.txt"]
    assert lines.getvalue() == (
        f"{folder}: 4 files read: 2 articles ({corpus.num_chunks} chunks) kept; 1 skipped as too short (fewer "
        "than 6 chunks of more than 50 characters); 1 skipped as not text (a NUL byte, or over 1% of its bytes "
        "not UTF-8; first: z-binary.txt)\n")
    assert not any("\x00" in text or "\ufffd" in text for text in corpus.texts)


def test_the_summary_names_the_thresholds_given(tmp_path):
    folder = _mixed_folder(tmp_path)
    lines = io.StringIO()
    corpus = text_to_corpus(folder, encode, min_chunks=2, min_chars=60, stream=lines)
    assert corpus.num_articles == 3
    assert "3 articles" in lines.getvalue() and "0 skipped as too short (fewer than 2 chunks of more than 60 " \
        "characters)" in lines.getvalue()


def test_a_folder_of_binary_files_is_refused_in_one_line(tmp_path):
    (tmp_path / "rand.txt").write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (tmp_path / "ls.md").write_bytes(open(sys.executable, "rb").read())
    with pytest.raises(DataError) as caught:
        text_to_corpus(tmp_path, encode, out=tmp_path / "never.npz")
    assert str(caught.value) == (f"{tmp_path}: none of its 2 .txt or .md files is text (a NUL byte, or over 1% of "
                                 "its bytes not UTF-8; first: ls.md)")
    (tmp_path / "short.txt").write_text("Hello.")
    with pytest.raises(DataError) as caught:
        text_to_corpus(tmp_path, encode)
    assert str(caught.value) == (f"{tmp_path}: no article has at least 6 chunks of more than 50 characters; 2 of "
                                 "its 3 files skipped as not text")
    assert not (tmp_path / "never.npz").exists()


def test_text_to_shards_counts_the_same_across_a_resume(tmp_path):
    from p7keras.data.text import text_to_shards

    folder = _mixed_folder(tmp_path)
    for i in range(4):
        (folder / f"more{i}.md").write_text(_article(9 + i, 5))  # one shard each
    reference = io.StringIO()
    text_to_shards(folder, encode, str(tmp_path / "reference"), shard_chunks=12, stream=reference)
    calls = []
    dies_on_third_call = dies_on_call(3, calls)

    out = str(tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        text_to_shards(folder, dies_on_third_call, out, shard_chunks=12)
    resumed = io.StringIO()
    text_to_shards(folder, dies_on_third_call, out, shard_chunks=12, stream=resumed)
    assert resumed.getvalue().startswith(f"resuming {out}: 2 shards kept")
    summary = reference.getvalue().splitlines()[-1]
    assert summary.startswith(f"{folder}: 8 files read: 6 articles") and "first: z-binary.txt" in summary
    assert resumed.getvalue().splitlines()[-1] == summary


def test_from_text_prints_the_summary_and_refuses_a_binary_only_folder(tmp_path, capsys):
    from p7keras.cli.main import main

    folder = _mixed_folder(tmp_path)
    out = tmp_path / "docs.npz"
    assert main(["data", "from-text", str(folder), "--encoder", f"{TOY_ENCODER}:encode", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    chunks = load_corpus(out).num_chunks
    assert captured.err.splitlines() == [
        f"{folder}: 4 files read: 2 articles ({chunks} chunks) kept; 1 skipped as too short (fewer than 6 chunks "
        "of more than 50 characters); 1 skipped as not text (a NUL byte, or over 1% of its bytes not UTF-8; "
        "first: z-binary.txt)"]
    assert captured.out == f"wrote {out}: {chunks} chunks, 2 articles, D = {DIM}\n"
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "ls.txt").write_bytes(open(sys.executable, "rb").read())
    assert main(["data", "from-text", str(binary), "--encoder", f"{TOY_ENCODER}:encode", "--out",
                 str(tmp_path / "b.npz")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"p7keras data: error: {binary}: none of its 1 .txt or .md files is text (a NUL byte, or over 1% of its "
        "bytes not UTF-8; first: ls.txt)")
    assert not (tmp_path / "b.npz").exists()
