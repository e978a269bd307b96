"""Fixtures of the command-line tests: the evaluation's small corpus file."""

from tests.evaluation.conftest import corpus, corpus_path  # noqa: F401 (pytest fixtures)
