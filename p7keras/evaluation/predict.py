"""What a model predicts, for a person to read (``p7keras predict``): chosen sequences or a typed passage.

The model's prediction and DIRECT (the last context chunk) are each looked up in the bank of the
chosen split (every chunk of it, the bank of protocol ``all``); :mod:`p7keras.evaluation.examples`
builds and prints the examples.

Example:

    result = predict_examples("saved_models/p7_20260101-120000", "corpus.npz", split="ood", sample=3)
    print(format_examples(result))
    result = predict_passage("run/best.keras", open("notes.txt").read(), "my_encoders:minilm", "corpus.npz")
"""

from __future__ import annotations

import os

import numpy as np

from p7keras.data import ChunkCorpus, SequenceFile, SequenceSet, load_sequences
from p7keras.data.splits import ALL
from p7keras.data.text import MIN_CHARS, TARGET_CHARS, Encoder, embed_passage
from p7keras.evaluation.baselines import DIRECT
from p7keras.evaluation.evaluator import check_models_fit
from p7keras.evaluation.examples import TOP_K, choose_sequences, format_examples, passage_example, sequence_examples
from p7keras.evaluation.predictors import Predictor, load_predictor

__all__ = ["format_examples", "predict_examples", "predict_passage"]

Data = str | os.PathLike | ChunkCorpus | SequenceFile


def _model_and_bank(model, data: Data, split: str, seed: int,
                    quantize: str | None = None) -> tuple[Predictor, SequenceSet]:
    """The predictor (``quantize``: a reduced-precision copy) and the split's sequences, checked to fit."""
    predictor = load_predictor(model, quantize=quantize)
    sequences = load_sequences(data, predictor.context_length, split, seed)
    check_models_fit([predictor], sequences)
    return predictor, sequences


def _result(predictor: Predictor, sequences: SequenceSet, seed: int, top_k: int, examples: list[dict]) -> dict:
    return {
        "model": {"name": predictor.name, "kind": predictor.kind, "source": str(predictor.source),
                  "context_length": sequences.context_length, "dim": sequences.dim},
        "data": {"source": str(sequences.source), "split": sequences.split, "seed": seed,
                 "bank_size": len(sequences.bank), "sequences": len(sequences),
                 "texts": sequences.bank_texts is not None},
        "top_k": int(top_k),
        "examples": examples,
    }


def _queries(predictor: Predictor, contexts: np.ndarray) -> dict[str, np.ndarray]:
    """The model's predictions and DIRECT's queries (the last context vectors) of ``contexts (n, K, D)``."""
    return {predictor.name: predictor.predict(contexts), DIRECT: np.asarray(contexts[:, -1], dtype=np.float32)}


def predict_examples(
    model,
    data: Data,
    *,
    split: str = ALL,
    seed: int = 0,
    article: str | None = None,
    position: int | None = None,
    sample: int | None = None,
    top_k: int = TOP_K,
    quantize: str | None = None,
) -> dict:
    """The model's and DIRECT's top-k next chunks for chosen sequences of a split.

    Example:

        result = predict_examples("run_dir", "corpus.npz", split="ood", article="book/ch04.md", position=12)
        result["examples"][0]["queries"]["DIRECT"]["rank"]

    Args:
        model: anything :func:`p7keras.evaluation.load_predictor` takes (run directory, ``.keras``,
            SavedModel, ``keras.Model``, callable).
        data: a chunk corpus or sequence file path, a ``ChunkCorpus`` or a ``SequenceFile``.
        split: the split whose chunks are the bank and whose sequences are shown.
        seed: the split seed (and the sample's).
        article: show the sequence of this article (name or id) ...
        position: ... whose next chunk is at this position.
        sample: else show this many sequences drawn at random (default 3).
        top_k: bank rows per query.
        quantize: predict with a reduced-precision copy of a Keras model (``"int8"``, ``"bfloat16"``).

    Returns:
        ``{"model": {...}, "data": {...}, "top_k", "examples": [...]}``, the examples as
        :func:`p7keras.evaluation.examples.sequence_examples` makes them (queries: the model's name and
        ``DIRECT``).

    Raises:
        FileNotFoundError, ValueError: unusable model or data, K or D mismatch, no such article or
            position.
    """
    predictor, sequences = _model_and_bank(model, data, split, seed, quantize)
    chosen = choose_sequences(sequences, article, position, sample, seed)
    queries = _queries(predictor, sequences.bank[sequences.context_rows[chosen]])
    return _result(predictor, sequences, seed, top_k, sequence_examples(sequences, chosen, queries, top_k))


def predict_passage(
    model,
    passage: str,
    encoder: Encoder | str,
    data: Data,
    *,
    split: str = ALL,
    seed: int = 0,
    top_k: int = TOP_K,
    target_chars: int = TARGET_CHARS,
    min_chars: int = MIN_CHARS,
    quantize: str | None = None,
) -> dict:
    """What comes after a typed passage: its last K chunks are the context, the bank is a split of ``data``.

    The passage is split into chunks as ``p7keras data from-text`` splits a file and embedded by
    ``encoder``, which must be the encoder of ``data``'s vectors.

    Example:

        predict_passage("run_dir", "First paragraph ...\\n\\nSecond ...", "my_encoders:minilm", "corpus.npz")

    Args:
        model: see :func:`predict_examples`.
        passage: the text.
        encoder: a callable ``list[str] -> (n, D)`` or a spec for :func:`p7keras.data.load_encoder`.
        data: the bank's corpus (see :func:`predict_examples`).
        split: the split whose chunks are the bank.
        seed: the split seed.
        top_k: bank rows per query.
        target_chars, min_chars: the chunking of ``p7keras data from-text``.
        quantize: predict with a reduced-precision copy of a Keras model (``"int8"``, ``"bfloat16"``).

    Returns:
        As :func:`predict_examples`, with one example (no true next chunk) and ``passage_chunks``.

    Raises:
        ValueError: a passage of fewer than K chunks, an encoder whose D differs from the bank's, and as
            :func:`predict_examples`.
    """
    predictor, sequences = _model_and_bank(model, data, split, seed, quantize)
    chunks, vectors = embed_passage(passage, encoder, target_chars, min_chars)
    k = sequences.context_length
    if len(chunks) < k:
        raise ValueError(
            f"the passage makes {len(chunks)} chunks of more than {min_chars} characters (at most {target_chars} "
            f"each); the model reads K = {k}: write more paragraphs or use smaller chunks (target_chars)"
        )
    if vectors.shape[1] != sequences.dim:
        raise ValueError(
            f"the encoder returns vectors of D = {vectors.shape[1]}, but the bank {sequences.source} has "
            f"D = {sequences.dim}: use the encoder that made the corpus"
        )
    queries = _queries(predictor, vectors[None, -k:])
    example = passage_example(sequences, chunks[-k:], queries, top_k, start=len(chunks) - k)
    return {**_result(predictor, sequences, seed, top_k, [example]), "passage_chunks": len(chunks)}
