"""The data layer of p7keras: corpora, checks, windows, splits, batches, synthetic data and reports.

The function most users call is :func:`load_splits`; ``splits.train.as_dataset()`` feeds ``model.fit``
on every Keras backend with the batch contract of ``p7keras.config``.

Example:

    from p7keras import data
    splits = data.load_splits(data.make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16))
    batch = splits.train.as_dataset(batch_size=8, hard_negatives=2)[0]
    sorted(batch), batch["context"].shape   # (['context', 'hard_negatives', 'target'], (8, 5, 16))

Everything here but the batch pipeline is numpy only; the pipeline (``P7Dataset``, ``make_dataset``,
``make_tf_dataset``: Keras) loads on first use. ``p7keras.data.tfds_builders`` (imported on its own,
it needs ``tensorflow_datasets``) registers the TFDS datasets ``p7_synthetic`` and ``p7_corpus``.
"""

import importlib

from p7keras.data.corpus import ChunkCorpus, SequenceFile
from p7keras.data.errors import DataError
from p7keras.data.formats import load, load_corpus, load_sequence_file, save_corpus, save_sequence_file
from p7keras.data.quality import format_report, inspect_data
from p7keras.data.sequences import DataSplits, SequenceSet, load_sequences, load_splits
from p7keras.data.splits import SPLIT_FRACTIONS, SPLITS
from p7keras.data.synthetic import make_synthetic_corpus
from p7keras.data.text import load_encoder, text_to_corpus

__all__ = [
    "SPLITS",
    "SPLIT_FRACTIONS",
    "ChunkCorpus",
    "DataError",
    "DataSplits",
    "P7Dataset",
    "SequenceFile",
    "SequenceSet",
    "format_report",
    "inspect_data",
    "load",
    "load_corpus",
    "load_encoder",
    "load_sequence_file",
    "load_sequences",
    "load_splits",
    "make_dataset",
    "make_synthetic_corpus",
    "make_tf_dataset",
    "save_corpus",
    "save_sequence_file",
    "text_to_corpus",
]

# The batch pipeline imports Keras: loaded on first use, so the numpy-only rooms stay light.
_PIPELINE = ("P7Dataset", "make_dataset", "make_tf_dataset")


def __getattr__(name: str):
    if name in _PIPELINE:
        value = getattr(importlib.import_module("p7keras.data.pipeline"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'p7keras.data' has no attribute {name!r}")
