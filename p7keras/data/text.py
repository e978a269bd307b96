"""Text to chunk corpus: one article per ``.txt``/``.md`` file, paragraphs packed into ~400-character
chunks, embedded by a pluggable encoder (``p7keras data from-text``).

Chunking: paragraphs (separated by blank lines; in Markdown, code blocks, headings and tables are
dropped) are packed greedily into chunks of at most ``target_chars`` characters; a longer paragraph
is split at sentence ends first (a single sentence longer than that at word boundaries). Chunks of
``min_chars`` characters or fewer are dropped and an article needs at least ``min_chunks`` chunks.

Files are read as UTF-8. A file that is not text is skipped (:func:`read_text_file`): one holding a NUL
byte, or one whose bytes are more than 1% undecodable as UTF-8 (a few stray Latin-1 accents pass, replaced
by U+FFFD; an executable, an archive, an image or UTF-16 text does not). These two plain rules, rather than
charset detection (charset-normalizer), because every file is decoded as UTF-8 anyway: the question is
only whether the result is text, and the rules give the same answer everywhere, fast, with no guessing.
What was read, skipped and kept is counted (:class:`TextCounts`) and said in one line.

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

import dataclasses
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
from p7keras.io import check_writable

TARGET_CHARS = 400
MIN_CHARS = 50
MIN_CHUNKS = 6
EXTENSIONS = (".txt", ".md")
ENCODE_BATCH = 256
MAX_UNDECODABLE = 0.01  # a file with more of its bytes not UTF-8 than this fraction is not text
NOT_TEXT = f"a NUL byte, or over {MAX_UNDECODABLE:.0%} of its bytes not UTF-8"

Encoder = Callable[[list[str]], np.ndarray]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_DROPPED_MARKDOWN_LINE = re.compile(r"^\s*(#|\|)")  # headings and table rows
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # one lone surrogate per undecodable byte (surrogateescape)


def read_text_file(path: str | os.PathLike) -> str | None:
    """The text of a UTF-8 file, or None when the file is not text.

    Not text: a NUL byte, or more than :data:`MAX_UNDECODABLE` of the bytes not decodable as UTF-8. A
    text file's few undecodable bytes become U+FFFD.

    Example:

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "a.txt"), "wb").write(b"caf\\xe9 " + b"au lait " * 20)
    >>> read_text_file(os.path.join(folder, "a.txt")).startswith("caf\\ufffd au lait")
    True
    >>> _ = open(os.path.join(folder, "b.txt"), "wb").write(b"\\x7fELF\\x00\\x01")
    >>> read_text_file(os.path.join(folder, "b.txt")) is None
    True

    Args:
        path: the file.

    Returns:
        Its text, or None.
    """
    data = Path(path).read_bytes()
    if b"\0" in data:
        return None
    text = data.decode("utf-8", errors="surrogateescape")
    undecodable = len(_UNDECODABLE.findall(text))
    if undecodable > MAX_UNDECODABLE * len(data):
        return None
    return _UNDECODABLE.sub("\ufffd", text) if undecodable else text


@dataclasses.dataclass
class TextCounts:
    """What :func:`text_to_corpus` and :func:`text_to_shards` read, skipped and kept.

    Example:

    >>> TextCounts(files=4, not_text=1, short=1, articles=2, chunks=14).line("docs", 6, 50)
    'docs: 4 files read: 2 articles (14 chunks) kept; 1 skipped as too short (fewer than 6 chunks of more
    than 50 characters); 1 skipped as not text (a NUL byte, or over 1% of its bytes not UTF-8)'

    Attributes:
        files: ``.txt``/``.md`` files read.
        not_text: files skipped as not text (:func:`read_text_file`).
        short: files skipped for fewer than ``min_chunks`` chunks of more than ``min_chars`` characters.
        articles: articles kept (one per file).
        chunks: chunks kept.
        first_not_text: the first file skipped as not text, for the line.
    """

    files: int = 0
    not_text: int = 0
    short: int = 0
    articles: int = 0
    chunks: int = 0
    first_not_text: str | None = None

    def line(self, root: str | os.PathLike, min_chunks: int, min_chars: int) -> str:
        """The summary line (the folder, what was kept, what was skipped and why)."""
        first = f"; first: {self.first_not_text}" if self.first_not_text else ""
        return (f"{root}: {self.files} files read: {self.articles} articles ({self.chunks} chunks) kept; "
                f"{self.short} skipped as too short (fewer than {min_chunks} chunks of more than {min_chars} "
                f"characters); {self.not_text} skipped as not text ({NOT_TEXT}{first})")

    def add(self, name: str, chunks: list[str] | None) -> None:
        """Count one file: ``chunks`` as :func:`_article_chunks` returned them."""
        self.files += 1
        if chunks is None:
            self.not_text += 1
            self.first_not_text = self.first_not_text or name
        elif not chunks:
            self.short += 1
        else:
            self.articles += 1
            self.chunks += len(chunks)


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
    stream=None,
) -> ChunkCorpus:
    """Turn a folder of ``.txt``/``.md`` files (searched recursively) into a chunk corpus.

    Files that are not text (:func:`read_text_file`) and files with too few chunks are skipped; the
    :class:`TextCounts` line says how many of each, before anything is embedded.

    Example:
        ``text_to_corpus("docs/", "my_encoders:minilm", out="docs.npz")``

    Args:
        directory: the folder; each file is one article, named by its path relative to the folder.
        encoder: a callable ``list[str] -> (n, D)`` or a spec for :func:`load_encoder`.
        out: write the corpus here (``.npz``, atomically) when given; checked to be writable before the
            work (an existing file is replaced).
        target_chars: the most characters in a chunk.
        min_chars: chunks of this many characters or fewer are dropped.
        min_chunks: articles with fewer chunks are dropped.
        stream: where the summary line goes (``None``: nowhere).

    Returns:
        The :class:`ChunkCorpus` (``source = "text:DIRECTORY"``), with the text of every chunk
        (``texts``, written to ``out`` too).

    Raises:
        FileNotFoundError: no such folder.
        DataError: no text files, no file that is text, no article long enough, bad encoder output.
    """
    root, files = _text_files(directory)
    if out is not None:
        check_writable(out, overwrite=True)
    names, texts, ids = [], [], []
    counts = TextCounts()
    for path in files:
        chunks = _article_chunks(path, target_chars, min_chars, min_chunks)
        counts.add(path.relative_to(root).as_posix(), chunks)
        if chunks:
            ids.extend([len(names)] * len(chunks))
            names.append(path.relative_to(root).as_posix())
            texts.extend(chunks)
    if not names:
        raise _no_article(root, counts, min_chunks, min_chars)
    if stream is not None:
        print(counts.line(root, min_chunks, min_chars), file=stream, flush=True)
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


def _article_chunks(path: Path, target_chars: int, min_chars: int, min_chunks: int) -> list[str] | None:
    """The chunks of one file: ``[]`` when it has fewer than ``min_chunks``, None when it is not text."""
    text = read_text_file(path)
    if text is None:
        return None
    chunks = chunk_text(text, path.suffix.lower() == ".md", target_chars, min_chars)
    return chunks if len(chunks) >= min_chunks else []


def _no_article(root: Path, counts: TextCounts, min_chunks: int, min_chars: int) -> DataError:
    """The error of a folder with no article: no file is text, or none is long enough."""
    if counts.not_text == counts.files:
        return DataError(f"{root}: none of its {counts.files} {' or '.join(EXTENSIONS)} files is text "
                         f"({NOT_TEXT}; first: {counts.first_not_text})")
    skipped = f"; {counts.not_text} of its {counts.files} files skipped as not text" if counts.not_text else ""
    return DataError(f"{root}: no article has at least {min_chunks} chunks of more than {min_chars} characters"
                     f"{skipped}")


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
    overwrite: bool = False,
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
        stream: where progress and the :class:`TextCounts` line go (``None``: nowhere).
        overwrite: replace a sharded corpus in ``out`` (finished or interrupted) instead of refusing a
            finished one or resuming an interrupted one.

    Returns:
        The manifest written.

    Raises:
        FileNotFoundError: no such folder.
        DataError: no text files, no file that is text, no article long enough, bad encoder output, other
            settings than the interrupted write in ``out``.
        FileExistsError: ``out`` holds a finished corpus and ``overwrite`` is False.
    """
    root, files = _text_files(directory)
    encode, name = _encoder_and_name(encoder)
    settings = {"source": str(root.resolve()), "encoder": name, "target_chars": target_chars,
                "min_chars": min_chars, "min_chunks": min_chunks}
    writer = ShardWriter(out, None, dtype, shard_chunks, texts=True, settings=settings, overwrite=overwrite)
    first_file, article = int(writer.state.get("files", 0)), int(writer.state.get("articles", 0))
    counts = TextCounts(**writer.state.get("counts", {}))  # the files before first_file, on a resume
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
        writer.flush(state={"files": next_file, "articles": article, "counts": dataclasses.asdict(counts)})
        if stream is not None:
            print(f"{writer.shards[-1]['name']}: {len(texts)} chunks, {len(pending)} articles "
                  f"(files {next_file}/{len(files)}, {100 * next_file / len(files):.0f}%)", file=stream, flush=True)
        pending.clear()
        pending_rows = 0

    for index in range(first_file, len(files)):
        chunks = _article_chunks(files[index], target_chars, min_chars, min_chunks)
        if chunks and pending and pending_rows + len(chunks) > writer.shard_chunks:
            write_pending(index)  # the counts so far are those of the files before this one
        counts.add(files[index].relative_to(root).as_posix(), chunks)
        if not chunks:
            continue
        pending.append((files[index].relative_to(root).as_posix(), chunks))
        pending_rows += len(chunks)
        article += 1
    if pending:
        write_pending(len(files))
    if not writer.shards:
        raise _no_article(root, counts, min_chunks, min_chars)
    if stream is not None:
        print(counts.line(root, min_chunks, min_chars), file=stream, flush=True)
    return writer.close()
