"""``import p7keras`` registers every model and layer with Keras (p7keras.registration), in a fresh process, on
the active backend: ``keras.saving.load_model`` loads them whichever is imported first, and ``import p7keras``
still loads no Keras."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.models.test_ranker import flat, lstm, transformer

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = Path(__file__).resolve().parents[1]
LOAD = "paths = sys.argv[1:]; print(*[type(keras.saving.load_model(p)).__name__ for p in paths])"
CLASSES = ["TransformerP7Ranker", "FlatP7Ranker", "LSTMP7Ranker"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> list[str]:
    """A small saved model of each class (the transformer's encoder blocks and positions are layers too)."""
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for make in (transformer, flat, lstm):
        model = make(input_dim=16, d_model=16, dropout=0.0)
        path = folder / f"{type(model).__name__}.keras"
        model.save(path)
        paths.append(str(path))
    return paths


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("imports", ["import keras\nimport p7keras", "import p7keras\nimport keras",
                                     "import p7keras.layers\nimport keras"],
                         ids=["keras-first", "p7keras-first", "a-p7keras-room-imports-keras"])
def test_keras_load_model_finds_every_p7keras_class(saved, imports):
    """Both orders, and a p7keras module that imports Keras halfway through its own code (the models wait for
    it). Afterwards the hook is gone and Keras' module has its own loader."""
    check = ("assert not [f for f in sys.meta_path if type(f).__name__ == 'KerasImportHook'], sys.meta_path\n"
             "assert type(keras.__loader__).__name__ == type(keras.__spec__.loader).__name__ == 'SourceFileLoader'\n")
    done = _python(f"import sys\n{imports}\n{check}{LOAD}", *saved)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == CLASSES


def test_without_importing_p7keras_keras_cannot_locate_the_class(saved):
    """The fault table's row: Keras alone does not know p7keras' classes."""
    done = _python(f"import sys, keras\n{LOAD}", saved[0])
    assert done.returncode == 1
    assert "TypeError: Could not locate class 'TransformerP7Ranker'" in done.stderr


def test_import_p7keras_loads_no_keras():
    done = _python("import sys, p7keras\n"
                   "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch', 'p7keras.models') "
                   "if m in sys.modules), [type(f).__name__ for f in sys.meta_path][:1])")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["[]", "['KerasImportHook']"]


def test_models_that_fail_to_import_are_a_warning_and_keras_still_loads():
    done = _python("import sys, warnings, p7keras\n"
                   "sys.modules['p7keras.models'] = None  # the models' import fails\n"
                   "with warnings.catch_warnings(record=True) as caught:\n"
                   "    warnings.simplefilter('always')\n"
                   "    import keras\n"
                   "print(int(keras.ops.add(1, 2)))\n"
                   "print(*[str(w.message) for w in caught if w.category is RuntimeWarning], sep='\\n')")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].strip() == "3"
    assert lines[1].startswith("p7keras could not register its models with Keras (ModuleNotFoundError: ")
    assert lines[1].endswith("keras.saving.load_model will not find them")
