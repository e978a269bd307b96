"""Writing sharded chunk corpora (``p7keras data shard``, ``p7keras data from-text``), resumably.

:class:`ShardWriter` writes a corpus article by article into the folder format of
:mod:`p7keras.data.shards` (which reads it): each shard file atomically, ``progress.json`` after every
shard (so a killed write resumes from its finished shards), ``manifest.json`` last.
:func:`write_shards` writes a loaded corpus.

Example:

>>> import os, tempfile
>>> from p7keras.data import make_synthetic_corpus
>>> corpus = make_synthetic_corpus(num_articles=4, chunks_per_article=10, dim=8)
>>> manifest = write_shards(corpus, os.path.join(tempfile.mkdtemp(), "corpus"), shard_chunks=20, dtype="float16")
>>> manifest["num_chunks"], len(manifest["shards"]), manifest["dtype"]
(40, 2, 'float16')
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

from p7keras.data.checks import check_vectors
from p7keras.data.corpus import ChunkCorpus, article_runs
from p7keras.data.errors import DataError
from p7keras.data.shards import DTYPES, FORMAT, MANIFEST, VERSION, file_sha256, is_sharded
from p7keras.io import atomic_path, check_writable, refuse_existing, write_json
from p7keras.locks import FolderLock

PROGRESS = "progress.json"  # a folder being written: the shards finished so far (resumable)
DEFAULT_SHARD_CHUNKS = 100_000
_SHARD_FILE = re.compile(r"shard-\d{5}\.\w+\.npy")  # the files a ShardWriter writes (besides the two JSON)


def check_out_folder(folder: str | os.PathLike, overwrite: bool = False) -> None:
    """Raise unless a sharded corpus can be written to ``folder`` (created when missing).

    A folder holding an interrupted write (``progress.json``) is fine: the write resumes there.

    Args:
        folder: the output folder.
        overwrite: a finished sharded corpus there may be replaced (``--overwrite``).

    Raises:
        DataError: ``folder`` is a file.
        FileExistsError: it holds a finished sharded corpus and ``overwrite`` is False.
        PermissionError / OSError: it cannot be written.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise DataError(f"{folder}: is a file, not a folder")
    refuse_existing(folder, overwrite, exists=is_sharded(folder), what=f"holds a sharded corpus already ({MANIFEST})")
    os.makedirs(folder, exist_ok=True)
    check_writable(os.path.join(folder, MANIFEST), overwrite=True)


def remove_sharded(folder: str | os.PathLike) -> None:
    """Remove the sharded corpus in ``folder``, finished or interrupted (``--overwrite``): its manifest first,
    then its progress file and shard files; anything else in the folder stays."""
    folder = os.fspath(folder)
    for name in (MANIFEST, PROGRESS, *sorted(n for n in os.listdir(folder) if _SHARD_FILE.fullmatch(n))):
        if os.path.isfile(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))


def out_folder_lock(folder: str | os.PathLike) -> FolderLock:
    """The lock of a shard folder (one writer at a time), not yet taken: ``with out_folder_lock(out): ...``.

    :class:`ShardWriter` takes it itself; a command takes it earlier, before reading its input, so a second
    command on the same folder is refused (one line naming the first) before it does any work. A lock left
    by a killed write is taken over, and the write resumes.
    """
    return FolderLock(folder, "shard folder")


@dataclasses.dataclass
class _Buffer:
    vectors: list = dataclasses.field(default_factory=list)
    ids: list = dataclasses.field(default_factory=list)
    positions: list = dataclasses.field(default_factory=list)
    names: list = dataclasses.field(default_factory=list)
    texts: list = dataclasses.field(default_factory=list)
    rows: int = 0


class ShardWriter:
    """Writes a sharded corpus article by article; a killed write resumes from its finished shards.

    Each shard is written (atomically, file by file) once adding the next article would pass
    ``shard_chunks`` rows; ``progress.json`` then records it with ``state`` (what the caller needs to
    resume, such as how many input files were consumed). :meth:`close` writes ``manifest.json`` last, so
    a folder without it is never mistaken for a finished corpus. The writer holds the folder's lock
    (:func:`out_folder_lock`) from its creation to :meth:`close`: a second writer of the same folder is
    refused (``p7keras.locks.FolderInUseError``, naming the first), one left by a killed write taken over.

    Example:

        with ShardWriter("out/", dim=768, dtype="float16") as writer:
            for name, vectors in articles:
                writer.add(name, article_id, vectors)

    Args:
        folder: the output folder (created; must not hold a finished corpus).
        dim: D (``None``: the first article's).
        dtype: ``float32`` or ``float16`` on disk.
        shard_chunks: the most rows in a shard (an article longer than that gets a shard of its own).
        texts: whether every article comes with its chunk texts.
        settings: what must match for a resume (source, encoder ...), stored in the progress file.
        overwrite: replace a sharded corpus in ``folder`` (finished or interrupted) instead of refusing a
            finished one or resuming an interrupted one.
    """

    def __init__(self, folder: str | os.PathLike, dim: int | None = None, dtype: str = "float32",
                 shard_chunks: int = DEFAULT_SHARD_CHUNKS, texts: bool = False, settings: dict | None = None,
                 overwrite: bool = False):
        self.folder = os.fspath(folder)
        if dtype not in DTYPES:
            raise DataError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
        if int(shard_chunks) < 1:
            raise DataError(f"shard_chunks must be >= 1, got {shard_chunks!r}")
        check_out_folder(self.folder, overwrite)
        self._lock = out_folder_lock(self.folder).acquire()  # before the progress of a write is read
        if overwrite:
            remove_sharded(self.folder)
        self.dim = None if dim is None else int(dim)
        self.dtype, self.shard_chunks, self.texts = dtype, int(shard_chunks), bool(texts)
        self.settings = dict(settings or {}, dtype=dtype, shard_chunks=self.shard_chunks, texts=self.texts)
        self.shards: list[dict] = []
        self.state: dict = {}
        self._buffer = _Buffer()
        self._resume()

    @property
    def rows_written(self) -> int:
        return sum(shard["rows"] for shard in self.shards)

    def _resume(self) -> None:
        path = os.path.join(self.folder, PROGRESS)
        if not os.path.exists(path):
            return
        try:
            with open(path, encoding="utf-8") as handle:
                progress = json.load(handle)
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a readable progress file ({exc}); remove the folder to start again") from None
        if progress.get("settings") != self.settings:
            raise DataError(f"{path}: a write with other settings was interrupted here ({progress.get('settings')}); "
                            "remove the folder or give the same settings to resume")
        for shard in progress["shards"]:  # keep the finished shards whose files are intact
            for entry in shard["files"].values():
                file = os.path.join(self.folder, entry["file"])
                if not os.path.isfile(file) or os.path.getsize(file) != entry["bytes"]:
                    raise DataError(f"{file}: missing or changed since it was written; remove the folder to start "
                                    "again")
        if self.dim is not None and progress.get("dim") not in (None, self.dim):
            raise DataError(f"{path}: an interrupted write of D = {progress['dim']} vectors is here, these have "
                            f"D = {self.dim}; remove the folder to start again")
        self.shards, self.state = progress["shards"], progress.get("state", {})
        self.dim = progress.get("dim", self.dim)

    def add(self, name: str, article_id: int, vectors: np.ndarray, positions: np.ndarray | None = None,
            texts: np.ndarray | None = None, state: dict | None = None) -> None:
        """Add one article (its rows in reading order); writes a shard first when it would not fit.

        ``state`` is what a resume needs to start again at this article (recorded with that shard).
        """
        vectors = np.asarray(vectors)
        if self.dim is None and vectors.ndim == 2:
            self.dim = int(vectors.shape[1])
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or not len(vectors):
            raise DataError(f"article {name!r}: vectors of shape {vectors.shape}, expected (n >= 1, {self.dim})")
        vectors = check_vectors(vectors, f"article {name!r}", "vectors")[0]  # unit rows on disk
        if self.texts and (texts is None or len(texts) != len(vectors)):
            raise DataError(f"article {name!r}: one text per chunk is needed ({len(vectors)} chunks)")
        n = len(vectors)
        if self._buffer.rows and self._buffer.rows + n > self.shard_chunks:
            self.flush(state)
        buffer = self._buffer
        buffer.vectors.append(vectors.astype(self.dtype))
        buffer.ids.append(np.full(n, int(article_id), dtype=np.int64))
        buffer.positions.append(np.arange(n, dtype=np.int64) if positions is None else np.asarray(positions, np.int64))
        buffer.names.append(str(name))
        if self.texts:
            buffer.texts.append(np.asarray(texts, dtype=str))
        buffer.rows += n

    def flush(self, state: dict | None = None) -> None:
        """Write the buffered articles as the next shard (nothing when empty); record ``state``."""
        if state is not None:
            self.state = dict(state)
        buffer = self._buffer
        if not buffer.rows:
            return self._save_progress()
        name = f"shard-{len(self.shards):05d}"
        arrays = {"vectors": np.concatenate(buffer.vectors), "article_ids": np.concatenate(buffer.ids),
                  "positions": np.concatenate(buffer.positions), "article_names": np.asarray(buffer.names, dtype=str)}
        if self.texts:
            arrays["texts"] = np.concatenate(buffer.texts)
        files = {}
        for key, array in arrays.items():
            file = f"{name}.{key}.npy"
            path = os.path.join(self.folder, file)
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
            files[key] = {"file": file, "bytes": os.path.getsize(path), "sha256": file_sha256(path)}
        self.shards.append({"name": name, "rows": buffer.rows, "first_row": self.rows_written,
                            "articles": len(buffer.names), "files": files})
        self._buffer = _Buffer()
        self._save_progress()

    def _save_progress(self) -> None:
        write_json(os.path.join(self.folder, PROGRESS),
                   {"settings": self.settings, "dim": self.dim, "shards": self.shards, "state": self.state})

    def close(self) -> dict:
        """Write the last shard and the manifest, and give the folder's lock back; returns the manifest."""
        self.flush()
        if not self.shards:
            self.release()
            raise DataError(f"{self.folder}: no article was written")
        manifest = {"format": FORMAT, "version": VERSION, "dim": self.dim, "dtype": self.dtype,
                    "num_chunks": self.rows_written, "num_articles": sum(s["articles"] for s in self.shards),
                    "texts": self.texts, "shard_chunks": self.shard_chunks, "shards": self.shards}
        write_json(os.path.join(self.folder, MANIFEST), manifest)
        os.remove(os.path.join(self.folder, PROGRESS))
        self.release()
        return manifest

    def release(self) -> None:
        """Give the folder's lock back (``close`` does; a failed write's process gives it back as it ends)."""
        self._lock.release()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.release()


def write_shards(corpus: ChunkCorpus, folder: str | os.PathLike, shard_chunks: int = DEFAULT_SHARD_CHUNKS,
                 dtype: str = "float32", overwrite: bool = False) -> dict:
    """Write ``corpus`` as a sharded corpus folder (``p7keras data shard``).

    Example:
        ``write_shards(load_corpus("corpus.npz"), "corpus_shards/", shard_chunks=100_000, dtype="float16")``

    Args:
        corpus: a loaded (checked, unit-row) chunk corpus.
        folder: the output folder (must not hold a finished corpus).
        shard_chunks: the most chunks in a shard; articles are never split.
        dtype: ``float32`` (exact) or ``float16`` (half the size; rows renormalised when read).
        overwrite: replace a sharded corpus already in ``folder``.

    Returns:
        The manifest written.

    Raises:
        DataError: a bad setting.
        FileExistsError: the output folder holds a corpus already and ``overwrite`` is False.
        p7keras.locks.FolderInUseError: another live process writes to ``folder``.
    """
    starts, lengths = article_runs(corpus.article_ids)
    writer = ShardWriter(folder, corpus.dim, dtype, shard_chunks, texts=corpus.texts is not None,
                         settings={"source": os.path.abspath(corpus.source) if os.path.exists(corpus.source)
                                   else corpus.source, "num_chunks": corpus.num_chunks}, overwrite=overwrite)
    try:
        done = int(writer.state.get("articles", 0))
        names = np.asarray(corpus.article_names, dtype=str)
        for index, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
            if index < done:
                continue
            rows = slice(start, start + length)
            writer.add(names[index], int(corpus.article_ids[start]), np.asarray(corpus.vectors[rows], np.float32),
                       np.asarray(corpus.positions[rows]),
                       None if corpus.texts is None else np.asarray(corpus.texts[rows], dtype=str),
                       state={"articles": index})
    except BaseException:
        writer.release()
        raise
    return writer.close()
