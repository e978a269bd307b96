"""Input checks of spec section 9: vectors finite, non-zero and unit length; articles in reading order.

Loading for training raises on the first problem (:func:`check_vectors`); the data report counts the
problems instead (:func:`vector_stats`), because it is the tool people use to find them. Every reader
(``.npz`` files, sharded folders, in-memory corpora) checks article order with :func:`check_contiguous`
and :func:`check_positions`, and two files read together with :func:`check_same_dim`.

Example:

>>> import numpy as np
>>> v = np.array([[3.0, 4.0], [0.0, 1.0]], dtype=np.float32)
>>> unit, non_unit = check_vectors(v, "demo.npz", "vectors")
>>> unit.tolist(), non_unit
([[0.6000000238418579, 0.800000011920929], [0.0, 1.0]], 1)
>>> check_contiguous(np.array([0, 0, 1, 0]), "demo.npz")
Traceback (most recent call last):
...
p7keras.data.errors.DataError: demo.npz: key 'article_ids' is not contiguous: article 0 comes back at row 3 ...
"""

from __future__ import annotations

import dataclasses

import numpy as np

from p7keras.data.corpus import article_runs
from p7keras.data.errors import DataError

# A row whose L2 norm differs from 1 by more than this is "not unit": it is normalised and counted.
UNIT_TOLERANCE = 1e-3
# A row whose L2 norm is below this is a zero vector (a failed encoder often writes zeros).
ZERO_NORM = 1e-6


@dataclasses.dataclass(frozen=True)
class VectorStats:
    """Counts of problem rows in an array of vectors (each row counted once, worst problem first)."""

    rows: int
    non_finite: int
    zero: int
    non_unit: int


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """L2 norm of every row of ``vectors`` (any leading shape, last axis = D), in float64.

    Args:
        vectors: array ``(..., D)``.

    Returns:
        Array ``(...)`` of norms; NaN where a row has a non-finite value.
    """
    flat = np.asarray(vectors, dtype=np.float64)
    return np.sqrt(np.einsum("...d,...d->...", flat, flat))


def _classify(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``(..., D)`` -> (norms, non-finite mask, zero mask, non-unit mask), masks mutually exclusive."""
    finite = np.isfinite(vectors).all(axis=-1)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = row_norms(np.where(finite[..., None], vectors, 0))
    zero = finite & (norms < ZERO_NORM)
    non_unit = finite & ~zero & (np.abs(norms - 1.0) > UNIT_TOLERANCE)
    return norms, ~finite, zero, non_unit


def vector_stats(vectors: np.ndarray) -> VectorStats:
    """Count non-finite, zero and non-unit rows without raising.

    Args:
        vectors: array ``(..., D)`` of floats.

    Returns:
        A :class:`VectorStats`.
    """
    _, bad, zero, non_unit = _classify(vectors)
    return VectorStats(int(bad.size), int(bad.sum()), int(zero.sum()), int(non_unit.sum()))


def usable_rows(vectors: np.ndarray) -> np.ndarray:
    """Boolean mask ``(...)`` of rows that are finite and not zero."""
    _, bad, zero, _ = _classify(vectors)
    return ~(bad | zero)


def unusable_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``(...)`` of the rows holding NaN/inf and of the zero rows (never both), without raising.

    Example:

        non_finite, zero = unusable_rows(np.array([[np.nan, 0.0], [0.0, 0.0], [0.6, 0.8]]))
        # non_finite [True, False, False], zero [False, True, False]

    Args:
        vectors: array ``(..., D)`` of floats.

    Returns:
        ``(non_finite, zero)`` boolean masks.
    """
    _, bad, zero, _ = _classify(vectors)
    return bad, zero


def normalize_rows(vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Return float32 ``vectors`` with non-unit rows scaled to unit length, and how many were scaled.

    Rows already within :data:`UNIT_TOLERANCE` of unit length are left bit-for-bit unchanged, so unit
    input is never perturbed. Non-finite and zero rows are left as they are (see :func:`check_vectors`).

    Args:
        vectors: array ``(..., D)``.

    Returns:
        ``(vectors_float32, non_unit_count)``.
    """
    out = np.array(vectors, dtype=np.float32, copy=True)
    norms, _, _, non_unit = _classify(out)
    if non_unit.any():
        out[non_unit] = (out[non_unit] / norms[non_unit][:, None]).astype(np.float32)
    return out, int(non_unit.sum())


def _first_row(mask: np.ndarray) -> str:
    """Human-readable index of the first True entry of a mask (a row, or (row, position) for 2-D)."""
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    return str(index[0]) if len(index) == 1 else str(index)


def check_vectors(vectors: np.ndarray, where: str, key: str) -> tuple[np.ndarray, int]:
    """Raise on non-finite or zero rows; return unit float32 rows and the count of rows normalised.

    Args:
        vectors: array ``(..., D)`` of floats.
        where: the file (or source) name used in error messages.
        key: the array's key used in error messages.

    Returns:
        ``(unit_vectors_float32, non_unit_count)``.

    Raises:
        DataError: when a row has NaN/inf values (after the cast to float32: float64 values beyond its range
            count too) or is a zero vector.
    """
    source = np.asarray(vectors)
    with np.errstate(over="ignore", invalid="ignore"):
        vectors = source.astype(np.float32)
    _, bad, zero, _ = _classify(vectors)
    overflow = bad & np.isfinite(source).all(axis=-1)  # finite before the cast, not after it
    if overflow.any():
        raise DataError(
            f"{where}: key '{key}' has {int(overflow.sum())} vectors with values beyond float32's range "
            f"(first at row {_first_row(overflow)}, |value| up to {float(np.abs(source[overflow]).max()):.3g}); "
            "p7keras computes in float32"
        )
    if bad.any():
        raise DataError(
            f"{where}: key '{key}' has {int(bad.sum())} vectors with NaN or inf values "
            f"(first at row {_first_row(bad)})"
        )
    if zero.any():
        raise DataError(
            f"{where}: key '{key}' has {int(zero.sum())} zero vectors (first at row "
            f"{_first_row(zero)}); a failed encoder often writes zeros"
        )
    return normalize_rows(vectors)


def check_contiguous(article_ids: np.ndarray, where: str) -> None:
    """Raise unless each article's rows are contiguous (an id never comes back after another id).

    Args:
        article_ids: ``(N,)`` ints.
        where: file name for the message.

    Raises:
        DataError: naming the first article id that reappears and the row where it does.
    """
    starts, _ = article_runs(article_ids)
    run_ids = np.asarray(article_ids)[starts]
    _, first = np.unique(run_ids, return_index=True)
    if first.size != run_ids.size:
        repeat = np.setdiff1d(np.arange(run_ids.size), first)[0]
        raise DataError(
            f"{where}: key 'article_ids' is not contiguous: article {run_ids[repeat]} comes back at "
            f"row {starts[repeat]} after other articles (store each article's chunks together, in "
            "reading order)"
        )


def check_positions(positions: np.ndarray, article_ids: np.ndarray, where: str) -> None:
    """Raise unless positions increase strictly inside every article (chunks in reading order).

    Args:
        positions, article_ids: ``(N,)`` ints.
        where: file name for the message.

    Raises:
        DataError: naming the article, the row and the two positions.
    """
    same = article_ids[1:] == article_ids[:-1]
    bad = np.flatnonzero(same & (positions[1:] <= positions[:-1]))
    if bad.size:
        row = int(bad[0]) + 1
        raise DataError(
            f"{where}: key 'positions' does not increase inside article {article_ids[row]} at row "
            f"{row} ({positions[row - 1]} then {positions[row]}); store chunks in reading order"
        )


def check_same_dim(first, second) -> None:
    """Raise when two loaded datasets (corpus or sequence file) have different D.

    Args:
        first, second: :class:`ChunkCorpus` or :class:`SequenceFile`.

    Raises:
        DataError: naming both sources and both dimensions.
    """
    if first.dim != second.dim:
        raise DataError(
            f"vector dimension differs between files: {first.source} has D = {first.dim} but "
            f"{second.source} has D = {second.dim}"
        )
