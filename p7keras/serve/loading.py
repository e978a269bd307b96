"""Load what ``p7keras serve`` serves: the model, the bank's split and the bank's index.

Example:

    service, lines = load_service("saved_models/p7_20260101-120000", "corpus.npz", settings=IndexSettings("hnsw"))
    print("\\n".join(lines))        # what was loaded, the index (built or reused) and its measured recall
"""

from __future__ import annotations

import os

import numpy as np

from p7keras.data import load_sequences
from p7keras.data.splits import ALL
from p7keras.data.text import Encoder
from p7keras.evaluation.bank_index import FLAT, BankIndex, IndexSettings, cached_index
from p7keras.evaluation.evaluator import check_models_fit
from p7keras.evaluation.predictors import load_predictor
from p7keras.serve.service import NextService, ServiceLimits

INDEX_SUFFIX = ".p7index"
RECALL_QUERIES = 200
RECALL_K = 10


def default_index_dir(bank: str | os.PathLike) -> str:
    """Where an approximate index of ``bank`` is saved by default: beside it, ``<bank>.p7index``."""
    return os.path.abspath(os.fspath(bank)).rstrip(os.sep) + INDEX_SUFFIX


def load_service(
    model,
    bank,
    *,
    split: str = ALL,
    seed: int = 0,
    settings: IndexSettings | None = None,
    index_dir: str | os.PathLike | None = None,
    encoder: Encoder | None = None,
    limits: ServiceLimits | None = None,
    quantize: str | None = None,
    compile_single: bool = False,
) -> tuple[NextService, list[str]]:
    """The :class:`NextService` of ``model`` over the ``split`` of ``bank``, and lines saying what was loaded.

    An approximate index is measured at once: recall@10 against exact search, on the model's
    predictions for up to :data:`RECALL_QUERIES` sequences of the bank.

    Args:
        model: a run directory, ``.keras`` file, SavedModel folder or ``keras.Model``.
        bank: a chunk corpus (``.npz``, shard folder, ``ChunkCorpus``); its chunks are the bank.
        split: the split whose chunks are the bank (default every chunk).
        seed: the split seed.
        settings: the index (default: flat, exact).
        index_dir: where an approximate index is saved and reused (default: beside a bank file; ``None`` for a
            bank in memory: never saved).
        encoder: the bank's encoder, for passages.
        limits: request limits and batching.
        quantize: serve a reduced-precision copy of a Keras model (``"int8"``, ``"bfloat16"``).
        compile_single: predict a one-sequence call through a call compiled for it (``torch.compile`` on
            PyTorch, XLA on TensorFlow; compiled when the service starts, before it is ready;
            :meth:`p7keras.evaluation.Predictor.from_model`).

    Returns:
        ``(service, lines)``.

    Raises:
        FileNotFoundError, ValueError: an unusable model or bank, K or D that do not fit.
    """
    settings = settings or IndexSettings()
    predictor = load_predictor(model, quantize=quantize, compile_single=compile_single)
    sequences = load_sequences(bank, predictor.context_length, split, seed)
    check_models_fit([predictor], sequences)
    if index_dir is None and isinstance(bank, (str, os.PathLike)):
        index_dir = default_index_dir(bank)
    index, how = cached_index(sequences.bank, settings, index_dir, name=f"{split}-seed{seed}")
    details = {"how": how}
    lines = [f"model {predictor.name} ({predictor.kind}, K = {sequences.context_length}, D = {sequences.dim})",
             f"bank {sequences.source}, split {split}: {len(sequences.bank)} chunks, {sequences.num_articles} "
             f"articles, texts {'yes' if sequences.bank_texts is not None else 'no'}",
             f"index {settings.kind}: {how}"]
    if settings.kind != FLAT:
        chosen = np.random.default_rng(seed).choice(len(sequences), min(RECALL_QUERIES, len(sequences)), replace=False)
        queries = predictor.predict(np.asarray(sequences.bank[sequences.context_rows[np.sort(chosen)]], np.float32))
        recall = index.recall(queries, sequences.bank, RECALL_K)
        details[f"recall@{RECALL_K}"] = round(recall, 4)
        lines.append(f"index recall@{RECALL_K} against exact search: {recall:.4f} (the model's predictions for "
                     f"{len(queries)} sequences of the bank)")
    return NextService(predictor, sequences, index, encoder, limits, details=details), lines


__all__ = ["BankIndex", "IndexSettings", "default_index_dir", "load_service"]
