"""Text to chunk corpus: chunking rules, pluggable encoders, errors."""

import os

import numpy as np
import pytest

from p7keras.data import DataError, load_corpus, load_encoder, text_to_corpus
from p7keras.data.text import chunk_text, paragraphs
from tests.data.conftest import TOY_ENCODER
from tests.data.toy_encoder import DIM, encode

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
