"""Reading sharded chunk corpora: a folder of memory-mapped ``.npy`` shards and a JSON manifest.

A corpus larger than memory is stored as a folder that every command reads wherever it reads a chunk
corpus ``.npz`` (:func:`p7keras.data.load` opens it); nothing reads it whole:

* ``manifest.json``: format and version, ``dim``, ``dtype`` (``float32`` or ``float16``), the chunk and
  article counts, and one entry per shard (its rows, first corpus row, articles, and each file's size and
  sha256);
* per shard ``shard-00000.vectors.npy`` ``(n, D)`` unit rows, ``.article_ids.npy`` and
  ``.positions.npy`` ``(n,)`` int64, ``.article_names.npy`` ``(a,)`` str (its articles, in order) and,
  when the corpus has them, ``.texts.npy`` ``(n,)`` str.

An article never spans two shards, so windows and in-article hard negatives stay inside one shard. The
vectors are opened with ``np.load(..., mmap_mode="r")`` and gathered per batch (:class:`ShardedArray`):
float16 rows are upcast to float32 and renormalised as they are read; a NaN/inf or zero row found then
raises a :class:`DataError` naming its shard file and row. Opening checks the manifest against every
file (present, ``.npy`` header, shape, dtype, size, articles not crossing shards) before any work;
:func:`verify_shards` also checks every checksum and every row. The folders are written by
:mod:`p7keras.data.shard_writer`.

Example:

>>> import numpy as np, os, tempfile
>>> from p7keras.data import make_synthetic_corpus
>>> from p7keras.data.shard_writer import write_shards
>>> corpus = make_synthetic_corpus(num_articles=6, chunks_per_article=10, dim=8)
>>> folder = os.path.join(tempfile.mkdtemp(), "corpus")
>>> manifest = write_shards(corpus, folder, shard_chunks=25)
>>> [shard["rows"] for shard in manifest["shards"]]
[20, 20, 20]
>>> sharded = open_sharded(folder)
>>> bool(np.array_equal(sharded.vectors[[3, 41]], corpus.vectors[[3, 41]]))
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable

import numpy as np

from p7keras.data.checks import check_contiguous, check_positions, row_norms, unusable_rows
from p7keras.data.corpus import ChunkCorpus, article_runs
from p7keras.data.errors import DataError

FORMAT, VERSION = "p7keras-sharded-corpus", 1
MANIFEST = "manifest.json"
DTYPES = ("float32", "float16")
ROW_KEYS = ("vectors", "article_ids", "positions", "texts")  # one row per chunk
HASH_BLOCK = 1 << 22
VERIFY_BLOCK = 65536  # vector rows verify reads at once
LISTED_ROWS = 5  # row numbers verify names per shard and problem (then "and N more")


def is_sharded(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a sharded corpus's ``manifest.json``."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def file_sha256(path: str) -> str:
    """The sha256 of a file, in hex (the manifest records one per shard file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardedArray:
    """Rows of one key of a sharded corpus, read from the shards' memory maps only when indexed.

    Indexing with an int, a slice, a boolean mask or an integer array of any shape returns a numpy
    copy of just those rows (like numpy's fancy indexing); :meth:`view` selects rows without reading
    them. Vectors come back float32 (float16 shards upcast and renormalised); with ``check`` a NaN/inf
    or zero row raises a :class:`DataError` naming its shard file and row.

    Example:

        corpus = p7keras.data.load("corpus_shards/")    # corpus.vectors is a ShardedArray
        corpus.vectors[[0, 5, 9]].shape                 # (3, D) float32
        corpus.vectors.view(np.arange(1000)).shape      # (1000, D), nothing read yet

    Args:
        files: the ``.npy`` file of each shard, in order.
        lengths: rows of each shard.
        trailing: the shape of one row (``(D,)`` for vectors, ``()`` for the others).
        vectors: whether rows are chunk vectors (float32 out, checks, renormalising float16).
        check: raise on a NaN/inf or zero row (vectors only).
        rows: the corpus rows this array shows (``None``: all, in order).
    """

    def __init__(self, files: list[str], lengths: Iterable[int], trailing: tuple = (), vectors: bool = False,
                 check: bool = True, rows: np.ndarray | None = None, _maps: list | None = None):
        self.files = list(files)
        self.lengths = np.asarray(list(lengths), dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.trailing = tuple(trailing)
        self.vectors = bool(vectors)
        self.check = bool(check)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self._maps = _maps if _maps is not None else [None] * len(self.files)

    # -- array protocol
    def __len__(self) -> int:
        return int(self.starts[-1] if self.rows is None else self.rows.size)

    @property
    def shape(self) -> tuple:
        return (len(self), *self.trailing)

    @property
    def ndim(self) -> int:
        return 1 + len(self.trailing)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> np.dtype:
        """float32 for vectors; else the widest of the shards' dtypes (texts: the longest ``<U`` width)."""
        if self.vectors:
            return np.dtype(np.float32)
        return np.result_type(*(self._map(shard).dtype for shard in range(len(self.files))))

    def __repr__(self) -> str:
        return f"ShardedArray(shape={self.shape}, dtype={self.dtype}, shards={len(self.files)})"

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        """Every row, as a numpy array of ``dtype`` (reads the whole array)."""
        return self[:].astype(dtype, copy=False)

    def view(self, rows) -> ShardedArray:
        """The rows ``rows`` of this array (int array, or boolean mask), without reading them."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        local = self._check_index(rows.astype(np.int64).reshape(-1))
        chosen = local if self.rows is None else self.rows[local]
        return ShardedArray(self.files, self.lengths, self.trailing, self.vectors, self.check, chosen, self._maps)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):  # bank[rows, :] and the like: rows first, the rest on the copy
            return self[key[0]][(slice(None), *key[1:])]
        if isinstance(key, (int, np.integer)):
            return self[np.asarray([key])][0]
        if isinstance(key, slice):
            return self._gather(np.arange(*key.indices(len(self)), dtype=np.int64))
        index = np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        if index.dtype.kind not in "iu":
            raise IndexError(f"a sharded array is indexed by ints, slices or masks, got dtype {index.dtype}")
        flat = self._check_index(index.astype(np.int64).reshape(-1))
        return self._gather(flat).reshape(*index.shape, *self.trailing)

    # -- internals
    def _check_index(self, flat: np.ndarray) -> np.ndarray:
        n = len(self)
        if flat.size and (flat.min() < -n or flat.max() >= n):
            bad = flat[(flat < -n) | (flat >= n)][0]
            raise IndexError(f"row {bad} is out of range for {n} rows ({self.files[0] if self.files else ''})")
        return np.where(flat < 0, flat + n, flat)

    def _map(self, shard: int) -> np.ndarray:
        if self._maps[shard] is None:
            self._maps[shard] = np.load(self.files[shard], mmap_mode="r", allow_pickle=False)
        return self._maps[shard]

    def _gather(self, flat: np.ndarray) -> np.ndarray:
        rows = flat if self.rows is None else self.rows[flat]
        shard = np.searchsorted(self.starts, rows, side="right") - 1
        out = np.empty((rows.size, *self.trailing), dtype=self.dtype)
        if rows.size == 0:
            return out
        order = np.argsort(shard, kind="stable")
        edges = np.searchsorted(shard[order], np.arange(len(self.files) + 1))
        for s in range(len(self.files)):
            picked = order[edges[s]:edges[s + 1]]
            if picked.size == 0:
                continue
            local = rows[picked] - self.starts[s]
            first, last = int(local[0]), int(local[-1])
            if last - first + 1 == picked.size and np.all(np.diff(local) == 1):
                part = self._map(s)[first:last + 1]  # a run of rows: one contiguous read
            else:
                part = self._map(s)[local]
            if self.vectors:
                part = self._vector_rows(part, s, local)
            out[picked] = part
        return out

    def _vector_rows(self, part: np.ndarray, shard: int, local: np.ndarray) -> np.ndarray:
        """Float32 rows of shard ``shard``: float16 renormalised; bad rows raise when ``check``."""
        values = np.array(part, dtype=np.float32)
        if part.dtype == np.float32 and not self.check:
            return values
        norms = row_norms(values)
        bad = ~np.isfinite(norms) | (norms == 0)
        if self.check and bad.any():
            row = int(local[np.flatnonzero(bad)[0]])
            what = "is zero" if np.isfinite(norms[bad][0]) else "holds NaN or inf"
            raise DataError(f"{self.files[shard]}: row {row} {what} (a chunk vector must be finite and non-zero; "
                            f"`p7keras data verify {os.path.dirname(self.files[shard]) or '.'}` lists such rows in "
                            "every shard: how many, and the first ones)")
        if part.dtype != np.float32:
            values /= np.where(bad, 1.0, norms)[:, None]
        return values


def read_manifest(folder: str) -> dict:
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not a p7keras sharded-corpus manifest (no \"format\": \"{FORMAT}\")")
    if manifest.get("version") != VERSION:
        raise DataError(f"{path}: manifest version {manifest.get('version')!r}; this p7keras reads version {VERSION}")
    for key in ("dim", "dtype", "num_chunks", "num_articles", "shards", "texts"):
        if key not in manifest:
            raise DataError(f"{path}: the manifest has no '{key}'")
    if manifest["dtype"] not in DTYPES:
        raise DataError(f"{path}: dtype {manifest['dtype']!r} is not one of {list(DTYPES)}")
    if not manifest["shards"]:
        raise DataError(f"{path}: the manifest lists no shard")
    return manifest


def _open_file(folder: str, shard: dict, key: str, dtype_kind: str, shape: tuple, dtype: str | None = None):
    """The memory map of one shard file, after checking it against the manifest."""
    entry = shard["files"].get(key)
    if entry is None:
        raise DataError(f"{os.path.join(folder, MANIFEST)}: shard {shard['name']} lists no '{key}' file")
    path = os.path.join(folder, entry["file"])
    if not os.path.isfile(path):
        raise DataError(f"{path}: missing (listed in {MANIFEST})")
    size = os.path.getsize(path)
    if size != entry["bytes"]:
        raise DataError(f"{path}: {size} bytes, the manifest says {entry['bytes']} (truncated or replaced; "
                        f"`p7keras data verify {folder}` checks every shard)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from None
    if tuple(array.shape) != shape:
        raise DataError(f"{path}: shape {tuple(array.shape)}, the manifest says {shape}")
    if array.dtype.kind not in dtype_kind or (dtype is not None and array.dtype != np.dtype(dtype)):
        want = dtype or {"iu": "int", "U": "str"}.get(dtype_kind, dtype_kind)
        raise DataError(f"{path}: dtype {array.dtype}, the manifest says {want}")
    return path, array


def open_sharded(folder: str | os.PathLike, check_values: bool = True) -> ChunkCorpus:
    """Open a sharded corpus folder as a :class:`ChunkCorpus` whose vectors stay on disk.

    ``vectors`` (and ``texts``) are :class:`ShardedArray` s; article ids, positions and names are read
    into memory (8 bytes a chunk each). Every shard file is checked against the manifest first.

    Example:
        ``corpus = open_sharded("corpus_shards/"); corpus.num_chunks, corpus.dim``

    Args:
        folder: the folder written by :func:`write_shards` (``p7keras data shard``).
        check_values: raise on a NaN/inf or zero vector when it is read (``False``: return raw rows, for
            the data report, which counts problems instead).

    Returns:
        A :class:`ChunkCorpus` (``source`` = the folder).

    Raises:
        DataError: naming the manifest or the shard file and the problem.
    """
    folder = os.fspath(folder)
    manifest = read_manifest(folder)
    dim, dtype = int(manifest["dim"]), manifest["dtype"]
    files = {key: [] for key in ROW_KEYS}
    maps = {key: [] for key in ROW_KEYS}  # the memory maps opened to check the files, kept for reading
    ids, positions, names, lengths = [], [], [], []
    expected_row = 0
    for shard in manifest["shards"]:
        rows = int(shard["rows"])
        if int(shard["first_row"]) != expected_row:
            raise DataError(f"{os.path.join(folder, MANIFEST)}: shard {shard['name']} starts at row "
                            f"{shard['first_row']}, expected {expected_row}")
        expected_row += rows
        path, vector_map = _open_file(folder, shard, "vectors", "f", (rows, dim), dtype)
        files["vectors"].append(path)
        maps["vectors"].append(vector_map)
        path, shard_ids = _open_file(folder, shard, "article_ids", "iu", (rows,))
        ids.append(np.asarray(shard_ids, dtype=np.int64))
        _, shard_positions = _open_file(folder, shard, "positions", "iu", (rows,))
        positions.append(np.asarray(shard_positions, dtype=np.int64))
        runs = article_runs(ids[-1])[0].size
        _, shard_names = _open_file(folder, shard, "article_names", "U", (runs,))
        names.append(np.asarray(shard_names))
        if manifest["texts"]:
            text_path, text_map = _open_file(folder, shard, "texts", "U", (rows,))
            files["texts"].append(text_path)
            maps["texts"].append(text_map)
        if len(ids) > 1 and ids[-2][-1] == ids[-1][0]:
            raise DataError(f"{path}: article {ids[-1][0]} crosses into this shard from shard "
                            f"{manifest['shards'][len(ids) - 2]['name']} (an article must stay in one shard)")
        lengths.append(rows)
    if expected_row != manifest["num_chunks"]:
        raise DataError(f"{os.path.join(folder, MANIFEST)}: the shards hold {expected_row} chunks, the manifest "
                        f"says {manifest['num_chunks']}")
    article_ids, all_positions = np.concatenate(ids), np.concatenate(positions)
    check_contiguous(article_ids, folder)
    check_positions(all_positions, article_ids, folder)
    vectors = ShardedArray(files["vectors"], lengths, (dim,), vectors=True, check=check_values,
                           _maps=maps["vectors"])
    texts = ShardedArray(files["texts"], lengths, _maps=maps["texts"]) if manifest["texts"] else None
    return ChunkCorpus(vectors, article_ids, all_positions, np.concatenate(names), source=folder, texts=texts)


def take_rows(array, rows: np.ndarray):
    """``array[rows]``: a lazy :meth:`ShardedArray.view` for sharded arrays, a numpy copy otherwise."""
    return array.view(rows) if isinstance(array, ShardedArray) else np.asarray(array)[rows]


def describe_rows(rows: np.ndarray, what: tuple[str, str]) -> str:
    """``"1 row holds NaN or inf (row 7)"`` / ``"7 rows are zero (rows 1, 2, 3, 4, 5 and 2 more)"``.

    Example:

        describe_rows(np.array([3, 9]), ("is zero", "are zero"))   # '2 rows are zero (rows 3, 9)'

    Args:
        rows: the row numbers (at least one).
        what: the verb phrase for one row and for several.

    Returns:
        The count, the phrase and the first :data:`LISTED_ROWS` row numbers.
    """
    shown = ", ".join(str(int(r)) for r in rows[:LISTED_ROWS])
    more = f" and {rows.size - LISTED_ROWS} more" if rows.size > LISTED_ROWS else ""
    if rows.size == 1:
        return f"1 row {what[0]} (row {shown})"
    return f"{rows.size} rows {what[1]} (rows {shown}{more})"


def _shard_damage(folder: str, shard: dict, vectors: ShardedArray) -> list[str]:
    """What is wrong with one shard: files whose sha256 differs, rows holding NaN/inf, zero rows."""
    problems = []
    changed = [entry["file"] for entry in shard["files"].values()
               if file_sha256(os.path.join(folder, entry["file"])) != entry["sha256"]]
    if changed:
        problems.append(f"sha256 of {', '.join(changed)} differs from the manifest's (changed or damaged)")
    first, stop = int(shard["first_row"]), int(shard["first_row"]) + int(shard["rows"])
    non_finite, zero = [], []
    for start in range(first, stop, VERIFY_BLOCK):
        bad, empty = unusable_rows(vectors[start:min(start + VERIFY_BLOCK, stop)])
        non_finite.append(np.flatnonzero(bad) + start - first)
        zero.append(np.flatnonzero(empty) + start - first)
    for rows, what in ((np.concatenate(non_finite), ("holds NaN or inf", "hold NaN or inf")),
                       (np.concatenate(zero), ("is zero", "are zero"))):
        if rows.size:
            problems.append(describe_rows(rows, what))
    return problems


def verify_shards(folder: str | os.PathLike, stream=None) -> dict:
    """Check a sharded corpus completely: the manifest, every file's sha256 and every vector row.

    Every shard is checked, damaged or not, and gets one line on ``stream``: ``ok``, or what is wrong
    with it (the files whose sha256 differs, and how many rows hold NaN/inf or are zero, with the first
    row numbers, counted from 0 in the shard file, as training's error names them).

    Example:
        ``verify_shards("corpus_shards/")["damaged"]   # {} when every shard is intact``

    Args:
        folder: the sharded corpus folder.
        stream: where to print one line per shard (``None``: silent).

    Returns:
        ``{"folder", "shards", "chunks", "articles", "dim", "dtype", "damaged"}``; ``damaged`` maps the
        vectors file of each damaged shard to its problems (one phrase each).

    Raises:
        DataError: a manifest or shard file that cannot be opened as the manifest says (missing,
            another size, shape or dtype: one line naming it, before any row is read).
    """
    folder = os.fspath(folder)
    corpus = open_sharded(folder, check_values=False)
    manifest = read_manifest(folder)
    damaged = {}
    for shard in manifest["shards"]:
        problems = _shard_damage(folder, shard, corpus.vectors)
        if problems:
            damaged[os.path.join(folder, shard["files"]["vectors"]["file"])] = problems
        if stream is not None:
            state = "checksums and rows ok" if not problems else "DAMAGED: " + "; ".join(problems)
            print(f"{shard['name']}: {shard['rows']} chunks, {shard['articles']} articles, {state}", file=stream)
    return {"folder": folder, "shards": len(manifest["shards"]), "chunks": corpus.num_chunks,
            "articles": corpus.num_articles, "dim": corpus.dim, "dtype": manifest["dtype"], "damaged": damaged}


def damage_line(report: dict) -> str | None:
    """The one error line for a :func:`verify_shards` report with damaged shards (``None``: none damaged).

    Example:

        damage_line(verify_shards("corpus_shards/"))
        # 'corpus_shards: 1 of 5 shards damaged: corpus_shards/shard-00003.vectors.npy: 1 row is zero (row 7)'

    Args:
        report: what :func:`verify_shards` returned.

    Returns:
        The folder, how many shards are damaged, and the first damaged shard's problems.
    """
    if not report["damaged"]:
        return None
    path, problems = next(iter(report["damaged"].items()))
    more = len(report["damaged"]) - 1
    rest = f"; {more} more damaged shard{'s' if more > 1 else ''} listed above" if more else ""
    return (f"{report['folder']}: {len(report['damaged'])} of {report['shards']} shards damaged: {path}: "
            f"{'; '.join(problems)}{rest}")
