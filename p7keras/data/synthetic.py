"""A synthetic forward-flow chunk corpus: the embedded default data of p7keras.

**This data is synthetic.** It imitates the statistics that matter for P7 (a next chunk that is close
to the newest context chunk and predictable from the direction the article is travelling in); it is no
substitute for real embedded text when judging a model for production.

Generative process (numpy only, deterministic for ``seed`` and ``world_seed``):

1. **The world** (from ``world_seed``, shared by every corpus of the same world, so a model trained on
   one seed can be tested on another): a latent space of ``latent_dim`` dimensions (L, default 16) is
   embedded in R^D by a random orthonormal map ``P`` (D x L). The *reading flow* is one fixed rotation
   ``R`` of the latent space: L/2 random orthogonal planes, plane ``p`` turned by ``forward_strength *
   theta_p`` per chunk. The angles ``theta_p`` are spread so that a state is correlated
   ``NEXT_STATE_CORRELATION`` (0.4) with the next state and about 0 with every later one.
2. **Articles** (from ``seed``): each article has a topic ``a`` (a random latent unit vector) and a
   start state ``z_0`` (equal weight in every plane, random phases). The state advances with the flow,
   ``z_{t+1} = R z_t``: the next state follows exactly from the previous ones (a model can learn ``R``),
   it is the most similar to the newest one, and the state never swings back towards older ones.
3. **Chunks**: chunk ``t`` of an article is ``normalize(sqrt(g) * P h_t + sqrt(1 - g) * e_t)`` with the
   latent signal ``h_t = normalize(sqrt(s) * a + sqrt(1 - s) * w_t)``, the jittered state
   ``w_t = normalize(z_t + JITTER * n_t)`` (``n_t`` per-chunk latent noise, unpredictable), topic share
   ``s = TOPIC_SHARE`` (0.4) and isotropic noise ``e_t ~ N(0, I/D)``.
4. **Local similarity**: ``g`` is set so that the mean cosine between consecutive chunks, mean
   cos(c_K, y), equals ``similarity`` (default 0.5). When the latent signal alone is less similar than
   that, the topic share is raised instead (and ``g = 1``).

``forward_strength`` = 0 stops the flow: every chunk of an article is then an independent draw around
the same state, next and previous chunks are exchangeable, and the data report calls the forward signal
weak (gate pass share about 0.19). At the default strength 1 (K = 5, held-out articles of the default
corpus): gate pass share about 0.85 and mean cos(y, centroid of the context) about 0.5; DIRECT (the last
context vector) is mediocre in retrieval (R@5 about 0.37: the topic and the small latent space crowd the
neighbourhood of the last chunk), while a least-squares predictor on the flattened context, which
learns the flow, reaches R@5 about 1.0. The naive extrapolation ``normalize(2 c_K - c_{K-1})`` does
*not* help here (the flow turns too far per chunk for a straight line); the model has to learn it.

Example:

>>> corpus = make_synthetic_corpus(num_articles=10, chunks_per_article=20, dim=64, seed=0)
>>> corpus.vectors.shape, corpus.num_articles, corpus.source
((200, 64), 10, 'synthetic')
"""

from __future__ import annotations

import numpy as np

from p7keras.config import DEFAULTS
from p7keras.data.corpus import ChunkCorpus
from p7keras.data.errors import DataError

# The defaults of the generative process (each used only here).
NUM_ARTICLES = DEFAULTS.synthetic_num_articles
CHUNKS_PER_ARTICLE = DEFAULTS.synthetic_chunks_per_article
DIM = DEFAULTS.synthetic_dim
SIMILARITY = 0.5
FORWARD_STRENGTH = 1.0
LATENT_DIM = 16
TOPIC_SHARE = 0.4
NEXT_STATE_CORRELATION = 0.4
JITTER = 0.35

SOURCE = "synthetic"  # the source of the corpus make_synthetic_corpus returns
ARTICLE_PREFIX = "synthetic-"  # its article names: synthetic-00000, synthetic-00001, ...

# Separate random streams for the world and for the articles.
_WORLD_STREAM = 7
_ARTICLE_STREAM = 11


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit length."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _turning_angles(planes: int, forward_strength: float) -> np.ndarray:
    """Per-chunk rotation angle of each plane of the flow, ``(planes,)``.

    The angles are the quantiles of the density ``(1 + 2 r cos(theta)) / pi`` on ``[0, pi]`` with
    ``r = NEXT_STATE_CORRELATION``: the spectrum of a process whose states are correlated ``r`` with the
    next one and not at all with later ones, so the next chunk is the most similar and older chunks are
    no more similar than the article's topic makes them (no oscillation back towards the past).
    """
    r = NEXT_STATE_CORRELATION
    quantiles = (np.arange(planes) + 0.5) / planes
    low, high = np.zeros(planes), np.full(planes, np.pi)
    for _ in range(60):  # bisection of the cumulative (theta + 2 r sin(theta)) / pi
        mid = 0.5 * (low + high)
        below = (mid + 2.0 * r * np.sin(mid)) / np.pi < quantiles
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    return forward_strength * 0.5 * (low + high)


def _world(dim: int, latent_dim: int, forward_strength: float, world_seed: int):
    """The projection ``P`` (D, L), the flow's plane basis ``Q`` (L, L) and per-chunk angles (L/2,)."""
    rng = np.random.default_rng([_WORLD_STREAM, world_seed])
    basis = np.linalg.qr(rng.standard_normal((latent_dim, latent_dim)))[0]
    angles = _turning_angles(latent_dim // 2, forward_strength)
    projection = np.linalg.qr(rng.standard_normal((dim, latent_dim)))[0]
    return projection, basis, angles


def _states(rng, basis, angles, num_articles: int, chunks: int) -> np.ndarray:
    """Jittered latent states ``w_t`` of every article: ``(A, T, L)``.

    The start state has equal weight in every plane of the flow and a random phase in each, so every
    article's similarity decays with distance in the same way.
    """
    latent_dim = basis.shape[0]
    planes = latent_dim // 2
    phases = rng.uniform(0.0, 2.0 * np.pi, (num_articles, 1, planes))
    turned = np.exp(1j * (phases + angles[None, None, :] * np.arange(chunks)[None, :, None]))
    rotated = np.empty((num_articles, chunks, latent_dim))
    rotated[..., 0::2], rotated[..., 1::2] = turned.real, turned.imag
    noise = rng.standard_normal(rotated.shape)
    return _unit(rotated @ basis.T / np.sqrt(planes) + JITTER * noise / np.sqrt(latent_dim))


def _signal(topics: np.ndarray, states: np.ndarray, share: float) -> np.ndarray:
    """Latent chunk signals ``h_t`` ``(A, T, L)`` for a topic share."""
    return _unit(np.sqrt(share) * topics[:, None, :] + np.sqrt(1.0 - share) * states)


def _consecutive_cos(signal: np.ndarray) -> float:
    """Mean cosine between consecutive chunks of the same article."""
    return float(np.mean(np.sum(signal[:, 1:] * signal[:, :-1], axis=-1)))


def _calibrate(topics, states, similarity: float) -> tuple[np.ndarray, float]:
    """Latent signals and the signal share ``g`` giving mean consecutive cosine ``similarity``."""
    signal = _signal(topics, states, TOPIC_SHARE)
    latent = _consecutive_cos(signal)
    if similarity <= latent:
        return signal, similarity / latent
    low, high = TOPIC_SHARE, 1.0  # raise the topic share until the signal alone is similar enough
    for _ in range(40):
        share = 0.5 * (low + high)
        if _consecutive_cos(_signal(topics, states, share)) < similarity:
            low = share
        else:
            high = share
    return _signal(topics, states, high), 1.0


def make_synthetic_corpus(
    num_articles: int = NUM_ARTICLES,
    chunks_per_article: int = CHUNKS_PER_ARTICLE,
    dim: int = DIM,
    similarity: float = SIMILARITY,
    forward_strength: float = FORWARD_STRENGTH,
    seed: int = 0,
    latent_dim: int = LATENT_DIM,
    world_seed: int = 0,
) -> ChunkCorpus:
    """Generate a synthetic forward-flow chunk corpus (see the module docstring for the process).

    The data is synthetic. 100k chunks at D = 768 take a few seconds.

    Example:
        ``corpus = make_synthetic_corpus(num_articles=2000, chunks_per_article=50)  # 100k chunks``

    Args:
        num_articles: A.
        chunks_per_article: chunks of every article (>= 2).
        dim: D (>= 2).
        similarity: target mean cos(c_K, y) between consecutive chunks, in (0, 1).
        forward_strength: >= 0; 0 = no direction (next and previous exchangeable), 1 = default flow.
        seed: seed of the articles.
        latent_dim: L, dimension of the latent space (capped at D, rounded down to even).
        world_seed: seed of the shared world (projection and flow).

    Returns:
        A :class:`p7keras.data.ChunkCorpus` with ``source="synthetic"``.

    Raises:
        DataError: for a parameter out of range.
    """
    checks = {
        "num_articles": num_articles >= 1,
        "chunks_per_article": chunks_per_article >= 2,
        "dim": dim >= 2,
        "similarity": 0.0 < similarity < 1.0,
        "forward_strength": forward_strength >= 0.0,
        "latent_dim": latent_dim >= 2,
    }
    for name, ok in checks.items():
        if not ok:
            raise DataError(f"synthetic corpus: {name} out of range, got {locals()[name]!r}")
    latent = min(latent_dim, dim) // 2 * 2
    projection, basis, angles = _world(dim, latent, forward_strength, world_seed)
    rng = np.random.default_rng([_ARTICLE_STREAM, seed])
    topics = _unit(rng.standard_normal((num_articles, latent)))
    states = _states(rng, basis, angles, num_articles, chunks_per_article)
    signal, share = _calibrate(topics, states, similarity)
    n = num_articles * chunks_per_article
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors *= np.float32(np.sqrt((1.0 - share) / dim))
    scaled_signal = (np.sqrt(share) * signal.reshape(n, latent)).astype(np.float32)
    vectors += scaled_signal @ projection.T.astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ChunkCorpus(
        vectors=vectors,
        article_ids=np.repeat(np.arange(num_articles, dtype=np.int64), chunks_per_article),
        positions=np.tile(np.arange(chunks_per_article, dtype=np.int64), num_articles),
        article_names=np.array([f"{ARTICLE_PREFIX}{i:05d}" for i in range(num_articles)]),
        source=SOURCE,
    )


def is_synthetic(data) -> bool:
    """Whether ``data`` is this module's corpus, in memory or saved (``data synth``, ``data shard``).

    Example:

        is_synthetic(make_synthetic_corpus(num_articles=3))   # True
        is_synthetic(load("rustdocs_minilm384.npz"))          # False

    Args:
        data: a :class:`p7keras.data.ChunkCorpus` or :class:`p7keras.data.SequenceFile`.

    Returns:
        True for a corpus whose source is ``"synthetic"`` or whose article names are all this module's
        (``synthetic-NNNNN``); False otherwise (a sequence file has no article names).
    """
    if getattr(data, "source", None) == SOURCE:
        return True
    names = getattr(data, "article_names", None)
    if names is None or np.size(names) == 0:
        return False
    names = np.asarray(names, dtype=str)
    return bool(np.all(np.char.startswith(names, ARTICLE_PREFIX)) and
                np.all(np.char.isdigit(np.char.replace(names, ARTICLE_PREFIX, ""))))
