"""Every ``>>>`` example in the package and the tuner runs here (the others are plain, unexecuted examples)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_backend  # numpy only: the outcome does not depend on the Keras backend

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for folder in ("p7keras", "tuner") for p in (ROOT / folder).rglob("*.py"))
WITH_EXAMPLES = [p for p in SOURCES if ">>>" in p.read_text(encoding="utf-8")]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_some_examples_are_executed():
    assert len(WITH_EXAMPLES) >= 10


@pytest.mark.parametrize("path", WITH_EXAMPLES, ids=_module)
def test_docstring_examples_run(path):
    module = importlib.import_module(_module(path))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{path} has '>>>' lines that doctest does not collect"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {path} failed (see the output above)"


def test_no_example_is_skipped():
    skipped = [str(p.relative_to(ROOT)) for p in WITH_EXAMPLES if "doctest: +SKIP" in p.read_text(encoding="utf-8")]
    assert not skipped, f"'>>>' examples marked +SKIP (make them plain examples or runnable): {skipped}"
