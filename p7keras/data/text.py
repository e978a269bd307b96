"""Text to chunk corpus: one article per ``.txt``/``.md`` file, paragraphs packed into ~400-character
chunks, embedded by a pluggable encoder (``p7keras data from-text``).

Chunking: paragraphs (separated by blank lines; in Markdown, code blocks, headings and tables are
dropped) are packed greedily into chunks of at most ``target_chars`` characters; a longer paragraph
is split at sentence ends first (a single sentence longer than that at word boundaries). Chunks of
``min_chars`` characters or fewer are dropped and an article needs at least ``min_chunks`` chunks.

The encoder is any callable from a list of strings to an array ``(n, D)``; :func:`load_encoder` turns
a ``module:callable`` or ``path/to/file.py:callable`` string, or a local sentence-transformers model
folder (optional extra), into one.

Example:

>>> text = "A first paragraph, long enough to be kept as a chunk.\\n\\nA second one, also long enough to stay."
>>> chunk_text(text, target_chars=60)
['A first paragraph, long enough to be kept as a chunk.']

(The two paragraphs do not fit in one 60-character chunk, and the second has 50 characters or fewer.)
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from p7keras.data.checks import check_vectors
from p7keras.data.corpus import ChunkCorpus
from p7keras.data.errors import DataError
from p7keras.data.formats import save_corpus
from p7keras.data.shard_writer import DEFAULT_SHARD_CHUNKS, ShardWriter

TARGET_CHARS = 400
MIN_CHARS = 50
MIN_CHUNKS = 6
EXTENSIONS = (".txt", ".md")
ENCODE_BATCH = 256

Encoder = Callable[[list[str]], np.ndarray]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_DROPPED_MARKDOWN_LINE = re.compile(r"^\s*(#|\|)")  # headings and table rows


def paragraphs(text: str, markdown: bool = False) -> list[str]:
    """Paragraphs of ``text`` (blank-line separated), whitespace collapsed.

    Args:
        text: the file's text.
        markdown: drop fenced code blocks, headings and table rows first.

    Returns:
        Non-empty paragraphs in order.
    """
    lines, in_fence = [], False
    for line in text.splitlines():
        if markdown and _FENCE.match(line):
            in_fence = not in_fence
            lines.append("")
            continue
        if markdown and (in_fence or _DROPPED_MARKDOWN_LINE.match(line)):
            lines.append("")
            continue
        lines.append(line)
    blocks = re.split(r"\n\s*\n", "\n".join(lines))
    return [" ".join(block.split()) for block in blocks if block.strip()]


def _pieces(paragraph: str, target_chars: int) -> list[str]:
    """A paragraph as pieces of at most ``target_chars``: sentences, long sentences cut at words."""
    if len(paragraph) <= target_chars:
        return [paragraph]
    pieces = []
    for sentence in _SENTENCE_END.split(paragraph):
        pieces.extend(_pack(sentence.split(), target_chars, " "))
    return pieces


def _pack(pieces: list[str], target_chars: int, separator: str) -> list[str]:
    """Greedily join consecutive pieces while the result stays within ``target_chars``."""
    chunks, current = [], ""
    for piece in pieces:
        if current and len(current) + len(separator) + len(piece) > target_chars:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}{separator}{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def chunk_text(
    text: str,
    markdown: bool = False,
    target_chars: int = TARGET_CHARS,
    min_chars: int = MIN_CHARS,
) -> list[str]:
    """Split one article's text into chunks (see the module docstring).

    Args:
        text: the article.
        markdown: treat as Markdown (drop code blocks, headings, tables).
        target_chars: the most characters in a chunk (~400).
        min_chars: chunks of this many characters or fewer are dropped.

    Returns:
        The chunks, in reading order.
    """
    sentences_packed = [_pack(_pieces(p, target_chars), target_chars, " ") for p in paragraphs(text, markdown)]
    chunks = _pack([piece for para in sentences_packed for piece in para], target_chars, "\n\n")
    return [chunk for chunk in chunks if len(chunk) > min_chars]


def _from_file(path: str, attribute: str):
    """Import ``path`` (a ``.py`` file) as a module."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:
        raise DataError(f"encoder {path}:{attribute}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sentence_transformer(folder: str) -> Encoder:
    """An encoder from a local sentence-transformers model folder (imported lazily, never downloads)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DataError(
            f"encoder {folder}: a sentence-transformers model folder needs the optional package "
            "'sentence-transformers', which is not installed (pip install sentence-transformers), "
            "or pass --encoder module:callable"
        ) from exc
    model = SentenceTransformer(folder, device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    return encode


def load_encoder(spec: str) -> Encoder:
    """Turn an encoder spec into a callable ``list[str] -> array (n, D)``.

    Example:
        ``load_encoder("my_package.embed:encode")``, ``load_encoder("tools/enc.py:encode")``,
        ``load_encoder("models/all-MiniLM-L6-v2")`` (a local sentence-transformers folder).

    Args:
        spec: ``module:callable`` (dotted attribute allowed), ``file.py:callable`` or a local
            sentence-transformers model folder.

    Returns:
        The encoder.

    Raises:
        DataError: unknown form, module not importable, attribute missing or not callable,
            sentence-transformers not installed.
    """
    if os.path.isdir(spec):
        return _sentence_transformer(spec)
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise DataError(
            f"encoder {spec!r}: expected module:callable, path/to/file.py:callable or a local "
            "sentence-transformers model folder"
        )
    try:
        if module_name.endswith(".py"):
            if not os.path.isfile(module_name):
                raise DataError(f"encoder {spec}: no such file {module_name}")
            module = _from_file(module_name, attribute)
        else:
            module = importlib.import_module(module_name)
        encoder = functools.reduce(getattr, attribute.split("."), module)
    except ImportError as exc:
        raise DataError(f"encoder {spec}: cannot import {module_name} ({exc})") from exc
    except AttributeError as exc:
        raise DataError(f"encoder {spec}: {module_name} has no attribute {attribute}") from exc
    if not callable(encoder):
        raise DataError(f"encoder {spec}: {attribute} is not callable")
    return encoder


def _encode(encoder: Encoder, texts: list[str], name: str) -> tuple[np.ndarray, int]:
    """Run the encoder in batches; check the output shape and values; unit rows and non-unit count."""
    parts = []
    for start in range(0, len(texts), ENCODE_BATCH):
        batch = texts[start : start + ENCODE_BATCH]
        out = np.asarray(encoder(batch), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(batch) or (parts and out.shape[1] != parts[0].shape[1]):
            raise DataError(
                f"encoder {name}: returned shape {tuple(out.shape)} for {len(batch)} texts; expected "
                f"(n_texts, D) with one D throughout"
            )
        parts.append(out)
    return check_vectors(np.concatenate(parts), f"encoder {name}", "output")


def _encoder_and_name(encoder: Encoder | str) -> tuple[Encoder, str]:
    """The callable of an encoder or encoder spec, and its name for messages."""
    if isinstance(encoder, str):
        return load_encoder(encoder), encoder
    return encoder, getattr(encoder, "__name__", repr(encoder))


def embed_passage(
    passage: str,
    encoder: Encoder | str,
    target_chars: int = TARGET_CHARS,
    min_chars: int = MIN_CHARS,
) -> tuple[list[str], np.ndarray]:
    """Split a typed passage into chunks as :func:`text_to_corpus` splits a file, and embed them.

    Example:
        ``chunks, vectors = embed_passage(open("notes.txt").read(), "my_encoders:minilm")``

    Args:
        passage: the text (paragraphs separated by blank lines).
        encoder: a callable ``list[str] -> (n, D)`` or a spec for :func:`load_encoder`.
        target_chars: the most characters in a chunk.
        min_chars: chunks of this many characters or fewer are dropped.

    Returns:
        ``(chunks, vectors)``: the chunk texts in reading order and their unit ``(n, D)`` float32 vectors.

    Raises:
        DataError: no chunk of more than ``min_chars`` characters, bad encoder or encoder output.
    """
    chunks = chunk_text(passage, False, target_chars, min_chars)
    if not chunks:
        raise DataError(f"the passage ({len(passage)} characters) has no chunk of more than {min_chars} characters")
    encode, name = _encoder_and_name(encoder)
    return chunks, _encode(encode, chunks, name)[0]


def text_to_corpus(
    directory: str | os.PathLike,
    encoder: Encoder | str,
    out: str | os.PathLike | None = None,
    target_chars: int = TARGET_CHARS,
    min_chars: int = MIN_CHARS,
    min_chunks: int = MIN_CHUNKS,
) -> ChunkCorpus:
    """Turn a folder of ``.txt``/``.md`` files (searched recursively) into a chunk corpus.

    Example:
        ``text_to_corpus("docs/", "my_encoders:minilm", out="docs.npz")``

    Args:
        directory: the folder; each file is one article, named by its path relative to the folder.
        encoder: a callable ``list[str] -> (n, D)`` or a spec for :func:`load_encoder`.
        out: write the corpus here (``.npz``, atomically) when given.
        target_chars: the most characters in a chunk.
        min_chars: chunks of this many characters or fewer are dropped.
        min_chunks: articles with fewer chunks are dropped.

    Returns:
        The :class:`ChunkCorpus` (``source = "text:DIRECTORY"``), with the text of every chunk
        (``texts``, written to ``out`` too).

    Raises:
        FileNotFoundError: no such folder.
        DataError: no text files, no article long enough, bad encoder output.
    """
    root, files = _text_files(directory)
    names, texts, ids = [], [], []
    for path in files:
        chunks = _article_chunks(path, target_chars, min_chars, min_chunks)
        if chunks:
            ids.extend([len(names)] * len(chunks))
            names.append(path.relative_to(root).as_posix())
            texts.extend(chunks)
    if not names:
        raise _no_article(root, min_chunks, min_chars)
    encode, name = _encoder_and_name(encoder)
    vectors, non_unit = _encode(encode, texts, name)
    corpus = ChunkCorpus(vectors, np.asarray(ids, dtype=np.int64), None, np.asarray(names),
                         source=f"text:{root}", non_unit=non_unit, texts=np.asarray(texts, dtype=str))
    if out is not None:
        save_corpus(corpus, out)
    return corpus


def _text_files(directory: str | os.PathLike) -> tuple[Path, list[Path]]:
    """The folder and its ``.txt``/``.md`` files (recursively, sorted); raises when there is none."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if not files:
        raise DataError(f"{root}: no {' or '.join(EXTENSIONS)} files")
    return root, files


def _article_chunks(path: Path, target_chars: int, min_chars: int, min_chunks: int) -> list[str]:
    """The chunks of one file, or ``[]`` when it has fewer than ``min_chunks``."""
    chunks = chunk_text(path.read_text(encoding="utf-8", errors="replace"), path.suffix.lower() == ".md",
                        target_chars, min_chars)
    return chunks if len(chunks) >= min_chunks else []


def _no_article(root: Path, min_chunks: int, min_chars: int) -> DataError:
    return DataError(f"{root}: no article has at least {min_chunks} chunks of more than {min_chars} characters")


def text_to_shards(
    directory: str | os.PathLike,
    encoder: Encoder | str,
    out: str | os.PathLike,
    shard_chunks: int = DEFAULT_SHARD_CHUNKS,
    dtype: str = "float32",
    target_chars: int = TARGET_CHARS,
    min_chars: int = MIN_CHARS,
    min_chunks: int = MIN_CHUNKS,
    stream=None,
) -> dict:
    """:func:`text_to_corpus` for corpora larger than memory: writes a sharded corpus folder as it goes.

    Files are chunked in order; once the next article would overfill a shard, the pending articles are
    embedded (``ENCODE_BATCH`` texts per encoder call) and written as one shard, and a line of progress
    is printed. Killed and started again with the same settings, it keeps the finished shards and goes on
    from the first file not in them.

    Example:
        ``text_to_shards("wiki/", "my_encoders:minilm", "wiki_shards/", shard_chunks=100_000, dtype="float16")``

    Args:
        directory, encoder, target_chars, min_chars, min_chunks: as :func:`text_to_corpus`.
        out: the output folder (see :class:`p7keras.data.shard_writer.ShardWriter`).
        shard_chunks: the most chunks in a shard.
        dtype: ``float32`` or ``float16`` on disk.
        stream: where progress goes (``None``: nowhere).

    Returns:
        The manifest written.

    Raises:
        FileNotFoundError: no such folder.
        DataError: no text files, no article long enough, bad encoder output, other settings than the
            interrupted write in ``out``.
    """
    root, files = _text_files(directory)
    encode, name = _encoder_and_name(encoder)
    settings = {"source": str(root.resolve()), "encoder": name, "target_chars": target_chars,
                "min_chars": min_chars, "min_chunks": min_chunks}
    writer = ShardWriter(out, None, dtype, shard_chunks, texts=True, settings=settings)
    first_file, article = int(writer.state.get("files", 0)), int(writer.state.get("articles", 0))
    if first_file and stream is not None:
        print(f"resuming {out}: {len(writer.shards)} shards kept, from file {first_file + 1} of {len(files)}",
              file=stream)
    pending: list[tuple[str, list[str]]] = []
    pending_rows = 0

    def write_pending(next_file: int) -> None:
        nonlocal pending_rows
        texts = [chunk for _, chunks in pending for chunk in chunks]
        vectors = _encode(encode, texts, name)[0]
        start = article - len(pending)
        row = 0
        for index, (article_name, chunks) in enumerate(pending):
            writer.add(article_name, start + index, vectors[row:row + len(chunks)], texts=np.asarray(chunks))
            row += len(chunks)
        writer.flush(state={"files": next_file, "articles": article})
        if stream is not None:
            print(f"{writer.shards[-1]['name']}: {len(texts)} chunks, {len(pending)} articles "
                  f"(files {next_file}/{len(files)}, {100 * next_file / len(files):.0f}%)", file=stream, flush=True)
        pending.clear()
        pending_rows = 0

    for index in range(first_file, len(files)):
        chunks = _article_chunks(files[index], target_chars, min_chars, min_chunks)
        if not chunks:
            continue
        if pending and pending_rows + len(chunks) > writer.shard_chunks:
            write_pending(index)
        pending.append((files[index].relative_to(root).as_posix(), chunks))
        pending_rows += len(chunks)
        article += 1
    if pending:
        write_pending(len(files))
    if not writer.shards:
        raise _no_article(root, min_chunks, min_chars)
    return writer.close()
