"""Read and write the two ``.npz`` formats of spec section 9, with every input check.

* **Chunk corpus**: ``vectors (N, D)`` float, ``article_ids (N,)`` int (each article's chunks
  contiguous), optional ``positions (N,)`` int, ``article_names (A,)`` str and ``texts (N,)`` str (the
  text of each chunk, for showing a person what was predicted; ``p7keras data from-text`` writes it).
* **Sequence file** (upstream format): ``contexts (N, K, D)`` float, ``targets (N, D)`` float, optional
  ``article_ids (N,)`` int.
* **Texts file** (beside a corpus whose ``.npz`` has no ``texts``): a JSON list of N strings, row-aligned with
  the corpus's vectors, plain (``.json``) or gzipped (``.json.gz``); :func:`with_texts` attaches it.

Files are always opened with ``allow_pickle=False``. Every problem raises one :class:`DataError` (a
``ValueError``) naming the file, the key and the problem. Vectors that are not unit length are
normalised and counted (``non_unit``).

Example:

>>> import numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "corpus.npz")
>>> corpus = ChunkCorpus(np.eye(6, dtype=np.float32), np.array([0, 0, 0, 1, 1, 1]))
>>> save_corpus(corpus, path)
>>> load(path).num_articles
2
>>> texts = np.array([f"chunk {i}" for i in range(6)])
>>> save_corpus(ChunkCorpus(np.eye(6, dtype=np.float32), np.array([0, 0, 0, 1, 1, 1]), texts=texts), path)
>>> load(path).texts[4]
np.str_('chunk 4')
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import zipfile

import numpy as np

from p7keras.data.checks import check_contiguous, check_positions, check_vectors
from p7keras.data.corpus import ChunkCorpus, SequenceFile, article_runs
from p7keras.data.errors import DataError
from p7keras.data.shards import MANIFEST, is_sharded, open_sharded
from p7keras.io import atomic_path

CORPUS_KEYS = ("vectors", "article_ids")
ZIP_MAGIC, NPY_MAGIC, GZIP_MAGIC = b"PK", b"\x93NUMPY", b"\x1f\x8b"  # how an .npz (a zip) and an .npy file begin
SEQUENCE_KEYS = ("contexts", "targets")
CORPUS_HINT_KEYS = ("article_ids", "positions", "article_names", "texts")  # keys that suggest a chunk corpus

# numpy dtype kinds accepted for each kind of array.
_KINDS = {"float": "f", "int": "iu", "str": "US"}


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive without pickle.

    Args:
        path: the ``.npz`` file.

    Returns:
        ``{key: array}``.

    Raises:
        FileNotFoundError: no such file.
        DataError: empty file, a folder, not an ``.npz`` archive, or an array that needs pickle.
    """
    where = os.fspath(path)
    if not os.path.exists(where):
        raise FileNotFoundError(f"{where}: no such file")
    if os.path.isdir(where):
        raise DataError(f"{where}: is a folder, not an .npz file")
    if os.path.getsize(where) == 0:
        raise DataError(f"{where}: the file is empty")
    with open(where, "rb") as handle:
        head = handle.read(6)
    if not head.startswith((ZIP_MAGIC, NPY_MAGIC)):  # numpy would try pickle and suggest allow_pickle
        raise DataError(f"{where}: not an .npz archive (it does not start as a zip file does; its first bytes "
                        f"are {head!r})")
    try:
        archive = np.load(where, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{where}: not a readable .npz archive ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{where}: is a single .npy array, not an .npz archive with named keys")
    arrays = {}
    with archive:
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                raise DataError(
                    f"{where}: key '{key}' is an object array that needs pickle; store it as a "
                    "numeric or fixed-width string array (files are loaded with allow_pickle=False)"
                ) from exc
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{where}: key '{key}' cannot be read ({exc})") from exc
    return arrays


def _require(arrays: dict, key: str, where: str, ndim: int, kind: str, optional: bool = False):
    """Return ``arrays[key]`` after checking it exists, has rank ``ndim`` and a ``kind`` dtype."""
    if key not in arrays:
        if optional:
            return None
        raise DataError(f"{where}: missing key '{key}' (found keys: {sorted(arrays)})")
    array = arrays[key]
    if array.dtype.kind not in _KINDS[kind]:
        raise DataError(f"{where}: key '{key}' must be a {kind} array, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise DataError(
            f"{where}: key '{key}' must have rank {ndim}, got shape {tuple(array.shape)}"
        )
    if array.size == 0 and kind != "str":
        raise DataError(f"{where}: key '{key}' is empty (shape {tuple(array.shape)})")
    return array


def _require_rows(array, key: str, rows: int, rows_key: str, where: str) -> None:
    """Check ``array`` has one entry per row of ``rows_key``."""
    if array is not None and array.shape[0] != rows:
        raise DataError(
            f"{where}: key '{key}' has {array.shape[0]} rows but '{rows_key}' has {rows}"
        )


def _unicode(array: np.ndarray, key: str, where: str) -> np.ndarray:
    """``array`` as unicode strings: UTF-8 bytes (dtype ``S``) are decoded, naming the key on failure."""
    if array.dtype.kind != "S":
        return array
    try:
        return np.char.decode(array, "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: key '{key}' holds bytes that are not UTF-8 text ({exc.reason})") from None


def _vectors(array: np.ndarray, where: str, key: str, check_values: bool) -> tuple[np.ndarray, int]:
    """Checked unit float32 vectors (or raw float32 with ``check_values=False``) and the non-unit count."""
    if check_values:
        return check_vectors(array, where, key)
    return np.asarray(array, dtype=np.float32), 0


def corpus_from_arrays(arrays: dict, where: str, check_values: bool = True) -> ChunkCorpus:
    """Build a checked :class:`ChunkCorpus` from the arrays of a chunk-corpus file.

    Args:
        arrays: ``{key: array}`` as read from the file.
        where: the file name for messages and ``ChunkCorpus.source``.
        check_values: raise on NaN/inf/zero vectors and normalise (``False``: keep raw values, for
            the data report, which counts problems instead).

    Returns:
        A :class:`ChunkCorpus`.

    Raises:
        DataError: on any problem.
    """
    vectors = _require(arrays, "vectors", where, 2, "float")
    ids = _require(arrays, "article_ids", where, 1, "int")
    positions = _require(arrays, "positions", where, 1, "int", optional=True)
    names = _require(arrays, "article_names", where, 1, "str", optional=True)
    texts = _require(arrays, "texts", where, 1, "str", optional=True)
    if vectors.shape[1] == 0:
        raise DataError(f"{where}: key 'vectors' has dimension D = 0")
    for key, array in (("article_ids", ids), ("positions", positions), ("texts", texts)):
        _require_rows(array, key, vectors.shape[0], "vectors", where)
    ids = ids.astype(np.int64)
    check_contiguous(ids, where)
    if positions is not None:
        positions = positions.astype(np.int64)
        check_positions(positions, ids, where)
    num_articles = article_runs(ids)[0].size
    if names is not None:
        if names.shape[0] != num_articles:
            raise DataError(
                f"{where}: key 'article_names' has {names.shape[0]} names but 'article_ids' has "
                f"{num_articles} articles (one name per article, in order of first appearance)"
            )
        names = _unicode(names, "article_names", where)
    if texts is not None:
        texts = _unicode(texts, "texts", where)
    unit, non_unit = _vectors(vectors, where, "vectors", check_values)
    return ChunkCorpus(unit, ids, positions, names, source=where, non_unit=non_unit, texts=texts)


def sequences_from_arrays(arrays: dict, where: str, check_values: bool = True) -> SequenceFile:
    """Build a checked :class:`SequenceFile` from the arrays of an upstream sequence file.

    Args:
        arrays: ``{key: array}`` as read from the file.
        where: the file name for messages and ``SequenceFile.source``.
        check_values: as in :func:`corpus_from_arrays`.

    Returns:
        A :class:`SequenceFile`.

    Raises:
        DataError: on any problem (also K < 2 and D differing between contexts and targets).
    """
    contexts = _require(arrays, "contexts", where, 3, "float")
    targets = _require(arrays, "targets", where, 2, "float")
    ids = _require(arrays, "article_ids", where, 1, "int", optional=True)
    if contexts.shape[1] < 2:
        raise DataError(
            f"{where}: key 'contexts' has context length K = {contexts.shape[1]}; K must be at least 2"
        )
    if contexts.shape[2] != targets.shape[1]:
        raise DataError(
            f"{where}: vector dimension differs: 'contexts' has D = {contexts.shape[2]} but "
            f"'targets' has D = {targets.shape[1]}"
        )
    _require_rows(targets, "targets", contexts.shape[0], "contexts", where)
    _require_rows(ids, "article_ids", contexts.shape[0], "contexts", where)
    ctx, non_unit_ctx = _vectors(contexts, where, "contexts", check_values)
    tgt, non_unit_tgt = _vectors(targets, where, "targets", check_values)
    ids = None if ids is None else ids.astype(np.int64)
    return SequenceFile(ctx, tgt, ids, source=where, non_unit=non_unit_ctx + non_unit_tgt)


def load(path: str | os.PathLike, check_values: bool = True) -> ChunkCorpus | SequenceFile:
    """Load either format, telling them apart by their keys.

    Args:
        path: an ``.npz`` chunk corpus or sequence file, or a sharded corpus folder
            (:func:`p7keras.data.shards.open_sharded`: its vectors stay on disk).
        check_values: see :func:`corpus_from_arrays`.

    Returns:
        A :class:`ChunkCorpus` (key ``vectors``, or a sharded folder) or a :class:`SequenceFile` (keys
        ``contexts``, ``targets``).

    Raises:
        FileNotFoundError, DataError.
    """
    where = os.fspath(path)
    if os.path.isdir(where):
        if not is_sharded(where):
            raise DataError(f"{where}: is a folder without {MANIFEST}, neither an .npz file nor a sharded corpus "
                            "(`p7keras data shard` writes one)")
        return open_sharded(where, check_values)
    arrays = read_npz(where)
    keys = set(arrays)
    if "vectors" in keys:
        return corpus_from_arrays(arrays, where, check_values)
    if keys & set(SEQUENCE_KEYS):
        return sequences_from_arrays(arrays, where, check_values)
    if keys & set(CORPUS_HINT_KEYS):  # a corpus without vectors: report the missing key
        return corpus_from_arrays(arrays, where, check_values)
    raise DataError(
        f"{where}: neither a chunk corpus (keys {list(CORPUS_KEYS)}) nor a sequence file (keys "
        f"{list(SEQUENCE_KEYS)}); found keys {sorted(arrays)}"
    )


def _load_as(path: str | os.PathLike, kind: type, check_values: bool):
    """Load ``path`` and require it to be of type ``kind``."""
    data = load(path, check_values)
    if not isinstance(data, kind):
        other = "sequence file" if isinstance(data, SequenceFile) else "chunk corpus"
        raise DataError(f"{os.fspath(path)}: is a {other}, expected a {kind.__name__}")
    return data


def load_corpus(path: str | os.PathLike, check_values: bool = True) -> ChunkCorpus:
    """Load a chunk corpus ``.npz`` (spec section 9) with every input check.

    Example:
        ``corpus = load_corpus("rustdocs_minilm384.npz"); corpus.vectors.shape  # (5637, 384)``

    Args:
        path: the file.
        check_values: see :func:`corpus_from_arrays`.

    Returns:
        A :class:`ChunkCorpus`.

    Raises:
        FileNotFoundError, DataError.
    """
    return _load_as(path, ChunkCorpus, check_values)


def load_sequence_file(path: str | os.PathLike, check_values: bool = True) -> SequenceFile:
    """Load an upstream sequence file ``.npz`` (``contexts``, ``targets``, optional ``article_ids``).

    Args:
        path: the file.
        check_values: see :func:`corpus_from_arrays`.

    Returns:
        A :class:`SequenceFile`.

    Raises:
        FileNotFoundError, DataError.
    """
    return _load_as(path, SequenceFile, check_values)


def read_texts(path: str | os.PathLike, rows: int | None = None) -> np.ndarray:
    """Read a texts file: a JSON list of strings, plain or gzipped (told apart by its first bytes).

    Example:
        ``read_texts("techprose_minilm384.texts.json.gz", rows=80573)[0]``

    Args:
        path: the ``.json`` or ``.json.gz`` file.
        rows: the number of strings required (the corpus's chunks), or ``None`` for any.

    Returns:
        ``(N,)`` object array of ``str`` (Python strings: a ``<U`` array would pad every row to the longest).

    Raises:
        FileNotFoundError: no such file.
        DataError: a folder, not UTF-8 JSON, not a list of strings, or ``rows`` strings expected and another
            count found.
    """
    where = os.fspath(path)
    if os.path.isdir(where):
        raise DataError(f"{where}: is a folder, expected a texts file (a JSON list of strings, .json or .json.gz)")
    with open(where, "rb") as handle:
        raw = handle.read()
    try:
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
        texts = json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{where}: not a texts file (a JSON list of strings, plain or gzipped): {reason}") from None
    if not isinstance(texts, list):
        raise DataError(f"{where}: a texts file holds a JSON list of strings, found a JSON {type(texts).__name__}")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"{where}: entry {bad} is a {type(texts[bad]).__name__}, not a string: a texts file "
                        "holds one string per chunk")
    if rows is not None and len(texts) != rows:
        raise DataError(f"{where}: holds {len(texts)} texts but the corpus has {rows} chunks: the texts must be "
                        "row-aligned with its vectors, one per chunk")
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def with_texts(corpus: ChunkCorpus, path: str | os.PathLike) -> ChunkCorpus:
    """``corpus`` with the row-aligned texts of a texts file (:func:`read_texts`) as its ``texts``.

    Example:
        ``with_texts(load_corpus("techprose.npz"), "techprose.texts.json.gz").texts[0]``

    Args:
        corpus: a chunk corpus (its own ``texts``, if any, are replaced).
        path: the texts file, one string per chunk of ``corpus``.

    Returns:
        A new :class:`ChunkCorpus`; ``corpus`` is unchanged.

    Raises:
        FileNotFoundError, DataError: see :func:`read_texts`.
    """
    return dataclasses.replace(corpus, texts=read_texts(path, corpus.num_chunks))


def save_corpus(corpus: ChunkCorpus, path: str | os.PathLike) -> None:
    """Write a chunk corpus ``.npz`` atomically (temporary name, then rename).

    Args:
        corpus: the corpus (its ``texts``, when known, are written as the key ``texts``).
        path: destination file.
    """
    arrays = {
        "vectors": np.asarray(corpus.vectors, np.float32),
        "article_ids": np.asarray(corpus.article_ids, np.int64),
        "positions": np.asarray(corpus.positions, np.int64),
        "article_names": np.asarray(corpus.article_names, dtype=str),
    }
    if corpus.texts is not None:
        arrays["texts"] = np.asarray(corpus.texts, dtype=str)
    _save(path, **arrays)


def save_sequence_file(sequences: SequenceFile, path: str | os.PathLike) -> None:
    """Write an upstream sequence file ``.npz`` atomically.

    Args:
        sequences: the sequences.
        path: destination file.
    """
    arrays = {"contexts": sequences.contexts, "targets": sequences.targets}
    if sequences.article_ids is not None:
        arrays["article_ids"] = sequences.article_ids
    _save(path, **arrays)


def _save(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` through :func:`p7keras.io.atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
