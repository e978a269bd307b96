"""A small deterministic text encoder for tests: hashed bag of words, 32 dimensions, unit rows."""

import re
import zlib

import numpy as np

DIM = 32


def encode(texts: list[str]) -> np.ndarray:
    """Hashed bag-of-words vectors ``(len(texts), DIM)``, unit length."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            code = zlib.crc32(word.encode("utf-8"))
            out[row, code % DIM] += 1.0 if (code >> 16) & 1 else -1.0
        out[row, 0] += 0.5  # never a zero vector
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def zeros(texts: list[str]) -> np.ndarray:
    """A broken encoder that writes zero vectors."""
    return np.zeros((len(texts), DIM), dtype=np.float32)


def wrong_rows(texts: list[str]) -> np.ndarray:
    """A broken encoder that returns one row too few."""
    return encode(texts)[:-1]


NOT_CALLABLE = 3


def dies_on_call(n: int, calls: list):
    """The toy encoder, but Ctrl-C on its ``n``-th call (a killed embedding job); ``calls`` gets each call's size."""

    def encoder(texts):
        calls.append(len(texts))
        if len(calls) == n:
            raise KeyboardInterrupt
        return encode(texts)

    return encoder
