"""Small deterministic data for the tests (numpy only), and a /proc/cpuinfo of chosen flags."""

from __future__ import annotations

import numpy as np

K, D = 4, 16


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype("float32")


def rotation_batches(n: int, k: int = K, d: int = D, hard_negatives: int = 2, seed: int = 0) -> dict:
    """Sequences that rotate forward in a random plane of R^d, plus a little noise.

    All calls share one embedding space (a fixed basis); ``seed`` draws the sequences. Each sequence
    starts at a random angle of its own plane and advances by 1 rad per chunk, so the
    next chunk is the rotation of the last one by one more step: learnable, and directional (the
    next chunk is closer to the newest context chunk than to the oldest).

    Returns:
        The P7 batch-contract dict with ``context (n, k, d)``, ``target (n, d)`` and
        ``hard_negatives (n, hard_negatives, d)`` (other points of the same plane).
    """
    basis = np.linalg.qr(np.random.default_rng(12345).standard_normal((d, d)))[0].astype("float32")
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, d // 2, size=n)
    u, v = basis[:, 2 * planes].T, basis[:, 2 * planes + 1].T
    start = rng.uniform(0, 2 * np.pi, size=(n, 1))
    angles = start + 1.0 * np.arange(k + 1)[None, :]
    points = np.cos(angles)[..., None] * u[:, None] + np.sin(angles)[..., None] * v[:, None]
    points = unit(points + 0.05 * rng.standard_normal(points.shape))
    far = start + rng.uniform(2.0, 4.0, size=(n, hard_negatives))
    negatives = unit(np.cos(far)[..., None] * u[:, None] + np.sin(far)[..., None] * v[:, None])
    return {"context": points[:, :k], "target": points[:, k], "hard_negatives": negatives}


# /proc/cpuinfo as Linux writes it: one block per logical CPU, each with its flags line.
CPU_BLOCK = "processor\t: {n}\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 fma avx512f {extra}\n\n"


def cpuinfo_file(tmp_path, extra: str, name: str = "cpuinfo") -> str:
    """A two-CPU /proc/cpuinfo under ``tmp_path`` whose flags are AVX-512F's and ``extra``'s; returns its path."""
    path = tmp_path / name
    path.write_text("".join(CPU_BLOCK.format(n=n, extra=extra) for n in range(2)))
    return str(path)
