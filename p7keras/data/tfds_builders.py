"""TensorFlow Datasets builders ``p7_synthetic`` and ``p7_corpus`` (importing this module registers them).

Both build offline (nothing is downloaded) and give the splits ``train`` / ``validation`` / ``ood``,
by article (0.8 / 0.1 / 0.1, deterministic for the config's ``split_seed``). Each example is one
sequence: ``context`` (K, D) float32 unit rows oldest first, ``target`` (D,) float32 and
``article_id`` int64 (-1 when the data has none). Hard negatives are drawn at training time by
:class:`p7keras.data.P7Dataset`, not stored.

* ``p7_synthetic``: the synthetic forward-flow corpus of :mod:`p7keras.data.synthetic` (**synthetic
  data**). Configs ``k5`` (default: 64 articles x 32 chunks, D = 768, K = 5) and ``tiny`` (12 x 10,
  D = 32, K = 3, for tests); pass a :class:`P7SyntheticConfig` for other sizes.
* ``p7_corpus``: a chunk corpus or sequence file ``.npz`` placed in the manual directory. Configs
  ``k3``, ``k5`` (default) and ``k7`` for the context length.

:func:`tfds_to_sequences` turns a loaded split back into a :class:`p7keras.data.SequenceSet`, whose
``as_dataset()`` adds the hard negatives.

Example:

    import tensorflow_datasets as tfds
    import p7keras.data.tfds_builders  # registers the builders
    train = tfds.load("p7_synthetic/tiny", split="train", data_dir="/tmp/tfds")
    ood = tfds.load(
        "p7_corpus", split="ood", data_dir="/tmp/tfds",
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir="corpus_folder/")},
    )
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from tensorflow_datasets.core import utils as tfds_utils

from p7keras.data.corpus import SequenceFile
from p7keras.data.errors import DataError
from p7keras.data.formats import load
from p7keras.data.sequences import SequenceSet, load_sequences, load_splits
from p7keras.data.synthetic import make_synthetic_corpus

VERSION = tfds.core.Version("1.0.0")
RELEASE_NOTES = {"1.0.0": "First release: sequences split by article into train / validation / ood."}
TFDS_SPLITS = {"train": "train", "val": "validation", "ood": "ood"}  # our name -> TFDS name


def _examples(sequences: SequenceSet):
    """``(key, example)`` pairs of one split, one per sequence."""
    ids = sequences.article_ids
    for i in range(len(sequences)):
        yield i, {
            "context": sequences.bank[sequences.context_rows[i]],
            "target": sequences.bank[sequences.target_rows[i]],
            "article_id": -1 if ids is None else int(ids[i]),
        }


def _split_generators(data, context_length: int, split_seed: int) -> dict:
    """TFDS split name -> example generator, splitting ``data`` by article."""
    splits = load_splits(data, context_length, seed=split_seed)
    return {TFDS_SPLITS[name]: _examples(seqs) for name, seqs in splits.items()}


def _features(context_shape: tuple, dim) -> tfds.features.FeaturesDict:
    """Features of one sequence example (dynamic shapes are stored as raw bytes)."""
    dynamic = None in context_shape
    encoding = tfds.features.Encoding.BYTES if dynamic else tfds.features.Encoding.NONE
    return tfds.features.FeaturesDict({
        "context": tfds.features.Tensor(shape=context_shape, dtype=np.float32, encoding=encoding),
        "target": tfds.features.Tensor(shape=(dim,), dtype=np.float32),
        "article_id": np.int64,
    })


class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the p7keras builders: one sequence example per window, splits by article."""

    VERSION = VERSION
    RELEASE_NOTES = RELEASE_NOTES

    # TFDS 4.9 resolves a builder's source file through ``importlib_resources``, a package it only
    # declares for Python < 3.9 (tensorflow/datasets#11212); name the file directly instead.
    @tfds_utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(__file__)

    def _generate_examples(self, sequences):  # pragma: no cover - _split_generators returns generators
        yield from _examples(sequences)


@dataclasses.dataclass(eq=False)
class P7SyntheticConfig(tfds.core.BuilderConfig):
    """Size and parameters of a ``p7_synthetic`` build (see :func:`make_synthetic_corpus`)."""

    num_articles: int = 64
    chunks_per_article: int = 32
    dim: int = 768
    context_length: int = 5
    similarity: float = 0.5
    forward_strength: float = 1.0
    corpus_seed: int = 0
    split_seed: int = 0


class P7Synthetic(_Builder):
    """The synthetic forward-flow corpus (synthetic data) as sequences split by article."""

    name = "p7_synthetic"
    BUILDER_CONFIGS = [
        P7SyntheticConfig(name="k5", description="64 articles x 32 chunks, D = 768, K = 5"),
        P7SyntheticConfig(name="tiny", description="12 articles x 10 chunks, D = 32, K = 3 (tests)",
                          num_articles=12, chunks_per_article=10, dim=32, context_length=3),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "k5"

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        return self.dataset_info_from_configs(
            description="Synthetic forward-flow chunk sequences (p7keras.data.synthetic). Synthetic data.",
            features=_features((config.context_length, config.dim), config.dim),
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        corpus = make_synthetic_corpus(
            num_articles=config.num_articles,
            chunks_per_article=config.chunks_per_article,
            dim=config.dim,
            similarity=config.similarity,
            forward_strength=config.forward_strength,
            seed=config.corpus_seed,
        )
        return _split_generators(corpus, config.context_length, config.split_seed)


@dataclasses.dataclass(eq=False)
class P7CorpusConfig(tfds.core.BuilderConfig):
    """Context length, split seed and (optionally) which ``.npz`` of the manual directory to read."""

    context_length: int = 5
    split_seed: int = 0
    file_name: str = ""


class P7Corpus(_Builder):
    """A user's chunk corpus or sequence file (``.npz`` in the manual directory) as split sequences."""

    name = "p7_corpus"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place one chunk corpus or sequence file (.npz, spec section 9 of p7keras) in the manual "
        "directory, or name it with P7CorpusConfig(file_name=...)."
    )
    BUILDER_CONFIGS = [P7CorpusConfig(name=f"k{k}", description=f"K = {k}", context_length=k) for k in (3, 5, 7)]
    DEFAULT_BUILDER_CONFIG_NAME = "k5"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Sequences of a p7keras chunk corpus or sequence file, split by article.",
            features=_features((self.builder_config.context_length, None), None),
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        folder = os.fspath(dl_manager.manual_dir)
        if config.file_name:
            path = os.path.join(folder, config.file_name)
        else:
            found = sorted(name for name in os.listdir(folder) if name.endswith(".npz"))
            if len(found) != 1:
                raise DataError(
                    f"{folder}: the manual directory must hold exactly one .npz file (found {found}); "
                    "or name one with P7CorpusConfig(file_name=...)"
                )
            path = os.path.join(folder, found[0])
        return _split_generators(load(path), config.context_length, config.split_seed)


def tfds_to_sequences(dataset, source: str = "tfds") -> SequenceSet:
    """Collect a loaded ``p7_synthetic`` / ``p7_corpus`` split into a :class:`SequenceSet`.

    The bank is the split's distinct vectors (as for a sequence file); article ids of -1 mean none.

    Example:
        ``seqs = tfds_to_sequences(tfds.load("p7_synthetic/tiny", split="train"))``
        ``model.fit(seqs.as_dataset(batch_size=64, hard_negatives=2))``

    Args:
        dataset: a ``tf.data.Dataset`` of examples with ``context``, ``target`` and ``article_id``.
        source: the name to report in messages.

    Returns:
        A :class:`SequenceSet` (split ``all``).
    """
    rows = list(tfds.as_numpy(dataset))
    if not rows:
        raise DataError(f"{source}: the dataset has no examples")
    ids = np.array([row["article_id"] for row in rows], dtype=np.int64)
    data = SequenceFile(
        contexts=np.stack([row["context"] for row in rows]).astype(np.float32),
        targets=np.stack([row["target"] for row in rows]).astype(np.float32),
        article_ids=None if (ids < 0).any() else ids,
        source=source,
    )
    return load_sequences(data)
