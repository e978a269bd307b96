"""The bank index: a bank's top-k rows for many queries at once, with FAISS (exact or approximate).

``p7keras predict``, ``p7keras serve`` and :func:`p7keras.evaluation.examples.ranked_hits` look up the
highest-scoring bank rows here; ``evaluate`` keeps its exact counted ranks
(:mod:`p7keras.evaluation.retrieval`: the metrics are definitions).

Kinds:

* ``flat``: exact inner product (``faiss.IndexFlatIP``), built in memory from the bank every time
  (a copy of the vectors; nothing to save);
* ``hnsw``: ``faiss.IndexHNSWFlat`` (inner product), approximate: ``hnsw_m`` links per node,
  ``ef_construction`` when built, ``ef_search`` when searched (raised to the k asked for);
* ``ivf``: ``faiss.IndexIVFFlat`` over ``nlist`` k-means cells (trained on a sample of at most
  ``IVF_TRAIN_ROWS`` rows), ``nprobe`` cells searched.

An approximate index takes minutes to build on a large bank, so :func:`cached_index` saves it (atomically)
with a JSON record of the bank's sha256 and the index settings, and reuses it while both match; a
changed bank or changed settings rebuild it. :meth:`BankIndex.recall` measures an approximate index's
recall@k against exact search on sample queries.

Example:

>>> import numpy as np
>>> bank = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
>>> index = BankIndex.build(bank)                 # flat: exact
>>> rows, scores = index.search(np.array([[0.0, 1.0]], np.float32), 2)
>>> rows.tolist(), [round(float(s), 2) for s in scores[0]]
([[1, 2]], [1.0, 0.8])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import threading

import numpy as np

KINDS = ("flat", "hnsw", "ivf")
FLAT, HNSW, IVF = KINDS
ADD_BLOCK = 65536  # bank rows read and added at once (a sharded bank is never read whole)
IVF_TRAIN_ROWS = 100_000
HASH_ROWS = 65536
# Exact search of this many queries or more at once goes through BLAS. faiss-cpu 1.15's default (128000) keeps
# its one-query-at-a-time scan for every batch a service sees: 64 queries on the 80k x 384 techprose bank took
# 327 ms that way and 35 ms through BLAS (2-core AMD EPYC, 2026-12-03); FAISS' own former default was 20.
BLAS_THRESHOLD = 20
RECORD_VERSION = 1


@dataclasses.dataclass(frozen=True)
class IndexSettings:
    """How an index is built and searched.

    Attributes:
        kind: ``flat``, ``hnsw`` or ``ivf``.
        hnsw_m: HNSW links per node.
        ef_construction: HNSW candidate list while building.
        ef_search: HNSW candidate list while searching (at least the k asked for).
        nlist: IVF cells (``None``: about ``4 * sqrt(V)``).
        nprobe: IVF cells searched per query.
    """

    kind: str = FLAT
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int | None = None
    nprobe: int = 32

    def problems(self) -> list[str]:
        """What is wrong with these settings, one line each (empty when usable)."""
        found = [] if self.kind in KINDS else [f"index kind must be one of {', '.join(KINDS)}, got {self.kind!r}"]
        for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe"):
            if int(getattr(self, name)) < 1:
                found.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.nlist is not None and int(self.nlist) < 1:
            found.append(f"nlist must be >= 1, got {self.nlist}")
        return found

    def build_key(self) -> dict:
        """The settings that change what is built (search-time settings excluded)."""
        if self.kind == HNSW:
            return {"kind": HNSW, "hnsw_m": int(self.hnsw_m), "ef_construction": int(self.ef_construction)}
        if self.kind == IVF:
            return {"kind": IVF, "nlist": self.nlist}
        return {"kind": FLAT}


def _faiss():
    import faiss  # noqa: PLC0415  (only where a bank is searched)

    faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
    return faiss


def _blocks(bank, block: int = ADD_BLOCK):
    """Consecutive row blocks of ``bank`` as contiguous float32 (a sharded bank read block by block)."""
    for start in range(0, len(bank), block):
        yield start, np.ascontiguousarray(bank[start : start + block], dtype=np.float32)


def bank_fingerprint(bank) -> str:
    """sha256 of the bank's float32 rows and shape: what a saved index was built from.

    Example:

    >>> bank_fingerprint(np.eye(2, dtype=np.float32))[:12]
    '1c19f3326c1f'
    """
    digest = hashlib.sha256(f"{len(bank)}x{bank.shape[1]}:".encode())
    for _, rows in _blocks(bank, HASH_ROWS):
        digest.update(rows.tobytes())
    return digest.hexdigest()


class BankIndex:
    """Top-k inner-product search over a bank of unit chunk vectors.

    Searches are safe from several threads (the search settings are set under a lock).

    Example:

        index = BankIndex.build(sequences.bank, IndexSettings(kind="hnsw"))
        rows, scores = index.search(queries, k=10)      # (n, 10) bank rows, best first
        index.recall(queries, k=10)                      # against exact search

    Args:
        index: the FAISS index.
        settings: how it was built.
        size: bank rows.
        dim: D.
    """

    def __init__(self, index, settings: IndexSettings, size: int, dim: int):
        self.index = index
        self.settings = settings
        self.size = int(size)
        self.dim = int(dim)
        self._lock = threading.Lock()

    @classmethod
    def build(cls, bank, settings: IndexSettings | None = None) -> BankIndex:
        """Build the index of ``bank`` (``(V, D)`` unit rows, a numpy array or a sharded bank).

        Args:
            bank: the bank.
            settings: the index (default: flat, exact).

        Returns:
            A :class:`BankIndex`.

        Raises:
            ValueError: unusable settings, an empty bank.
        """
        settings = settings or IndexSettings()
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        if len(bank) == 0 or len(bank.shape) != 2:
            raise ValueError(f"a bank index needs (V, D) rows with V >= 1, got shape {tuple(bank.shape)}")
        faiss = _faiss()
        size, dim = len(bank), int(bank.shape[1])
        if settings.kind == HNSW:
            index = faiss.IndexHNSWFlat(dim, int(settings.hnsw_m), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(settings.ef_construction)
        elif settings.kind == IVF:
            nlist = min(int(settings.nlist or max(1, round(4 * size**0.5))), size)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = np.sort(np.random.default_rng(0).choice(size, min(size, max(IVF_TRAIN_ROWS, nlist)),
                                                             replace=False))
            index.train(np.ascontiguousarray(bank[sample], dtype=np.float32))
        else:
            index = faiss.IndexFlatIP(dim)
        for _, rows in _blocks(bank):
            index.add(rows)
        return cls(index, settings, size, dim)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` bank rows of highest inner product with each query, best first.

        Args:
            queries: ``(n, D)`` float32.
            k: rows per query (at most the bank's size are returned).

        Returns:
            ``(rows, scores)``: ``(n, min(k, V))`` int64 bank rows and float32 inner products. An
            approximate index may return fewer true rows than asked: missing places hold row -1.

        Raises:
            ValueError: ``k`` < 1, queries not ``(n, D)``.
        """
        if int(k) < 1:
            raise ValueError(f"top-k needs k >= 1, got {k}")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (n, {self.dim}) for this bank; got {queries.shape}")
        k = min(int(k), self.size)
        if len(queries) == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        if self.settings.kind == FLAT:
            scores, rows = self.index.search(queries, k)
        else:
            with self._lock:
                if self.settings.kind == HNSW:
                    self.index.hnsw.efSearch = max(int(self.settings.ef_search), k)
                else:
                    self.index.nprobe = int(self.settings.nprobe)
                scores, rows = self.index.search(queries, k)
        return rows.astype(np.int64, copy=False), scores

    def recall(self, queries: np.ndarray, bank, k: int = 10) -> float:
        """Share of the exact top-``k`` rows this index finds, over ``queries`` (1.0 for ``flat``).

        Args:
            queries: ``(n, D)`` sample queries.
            bank: the bank the index was built from (exact search runs over it).
            k: the cut-off.

        Returns:
            Recall@k in [0, 1].
        """
        if self.settings.kind == FLAT:
            return 1.0
        exact, _ = BankIndex.build(bank).search(queries, k)
        found, _ = self.search(queries, k)
        hits = sum(len(set(a.tolist()) & set(b.tolist()) - {-1}) for a, b in zip(exact, found))
        return hits / float(exact.size)

    # ------------------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike, record: dict) -> None:
        """Write the index to ``path`` and ``record`` to ``path + ".json"``, each atomically."""
        faiss = _faiss()
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        for target, write in ((path, lambda tmp: faiss.write_index(self.index, tmp)),
                              (path + ".json", lambda tmp: _write_text(tmp, json.dumps(record, indent=2)))):
            handle, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".index")
            os.close(handle)
            try:
                write(tmp)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    @classmethod
    def load(cls, path: str | os.PathLike, settings: IndexSettings, size: int, dim: int) -> BankIndex:
        """Read an index that :meth:`save` wrote, checked to hold ``size`` rows of ``dim``."""
        index = _faiss().read_index(os.fspath(path))
        if index.ntotal != size or index.d != dim:
            raise ValueError(f"{path}: the index holds {index.ntotal} rows of D = {index.d}, the bank {size} of "
                             f"D = {dim}")
        return cls(index, settings, size, dim)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def index_path(folder: str | os.PathLike, name: str, settings: IndexSettings) -> str:
    """Where :func:`cached_index` keeps the index of bank ``name`` built with ``settings``."""
    key = "-".join(f"{value}" for value in settings.build_key().values())
    return os.path.join(os.fspath(folder), f"{name}.{key}.faiss")


def cached_index(bank, settings: IndexSettings, folder: str | os.PathLike | None,
                 name: str = "bank") -> tuple[BankIndex, str]:
    """The index of ``bank``: loaded from ``folder`` when saved there for the same bank and settings, else
    built (and saved there, when ``folder`` is given and the kind is approximate).

    Example:

        index, how = cached_index(bank, IndexSettings(kind="hnsw"), "corpus.npz.p7index", name="all-seed0")
        how   # "built", "built and saved to ...", "reused ..." or "rebuilt ... (the bank changed)"

    Args:
        bank: ``(V, D)`` unit rows.
        settings: the index.
        folder: where saved indexes live (``None``: never saved).
        name: the bank's name within the folder (its split and seed).

    Returns:
        ``(index, how)``: ``how`` says whether it was built, reused or rebuilt, for a log line.
    """
    if settings.kind == FLAT or folder is None:
        return BankIndex.build(bank, settings), "built"
    path = index_path(folder, name, settings)
    fingerprint = bank_fingerprint(bank)
    record = {"version": RECORD_VERSION, "bank_sha256": fingerprint, "rows": len(bank), "dim": int(bank.shape[1]),
              **settings.build_key()}
    previous = _read_record(path + ".json")
    if previous == record and os.path.isfile(path):
        try:
            return BankIndex.load(path, settings, len(bank), int(bank.shape[1])), f"reused {path}"
        except (RuntimeError, ValueError, OSError) as error:  # a damaged file: build it again
            reason = f"the saved index could not be read ({error})"
    else:
        reason = "new" if previous is None else "the bank or the index settings changed"
    index = BankIndex.build(bank, settings)
    index.save(path, record)
    return index, f"built and saved to {path} ({reason})"


def _read_record(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None
