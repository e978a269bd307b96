"""The ``p7keras`` command line: fast and light help, one-line errors, quiet start-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from p7keras.cli.main import SUBCOMMANDS

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("keras", "tensorflow", "jax", "torch", "keras_tuner")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**environment, "PYTHONPATH": str(ROOT), **env})


def test_building_every_parser_imports_no_keras_or_backend():
    probe = ("import sys; from p7keras.cli.main import build_parser; build_parser(); "
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = _python(probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS])
def test_help_is_light(command):
    probe = ("import re, sys; from p7keras.cli.main import main\n"
             f"try:\n    main([{command!r}, '--help'] if {command!r} else ['--help'])\n"
             "except SystemExit:\n    pass\n"
             "peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
             "print('RSS_MIB', int(peak) / 1024, "
             f"sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = _python(probe)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.endswith("[]"), line
    assert float(line.split()[1]) < 100, line  # peak resident MiB of the whole process


def test_help_lists_every_exit_code():
    from p7keras.cli.main import EPILOG
    from p7keras.console import EXIT_CODES

    listed = [int(code) for code in re.findall(r"(?:: |, )(\d+) ", EPILOG)]
    assert listed == sorted(EXIT_CODES) == [0, 1, 2, 3, 130]


def test_a_bad_flag_is_rejected_before_keras_loads():
    result = _python("import sys\nfrom p7keras.cli.main import main\n"
                     "try:\n    main(['train', '--lamda', '0.8'])\nexcept SystemExit as e:\n"
                     "    print('EXIT', e.code, 'keras' in sys.modules)")
    assert "EXIT 2 False" in result.stdout and "unrecognized arguments: --lamda" in result.stderr


def test_an_impossible_value_is_one_line_before_keras_loads():
    result = _python("import sys\nfrom p7keras.cli.main import main\n"
                     "print('EXIT', main(['train', '--epochs', '0']), 'keras' in sys.modules)")
    assert "EXIT 2 False" in result.stdout
    assert result.stderr.strip() == "p7keras train: error: epochs must be >= 1, got 0"


def test_unknown_backend_in_the_environment_is_one_line():
    result = subprocess.run([sys.executable, "-m", "p7keras", "evaluate", "--data", "x.npz"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "nonsense"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "p7keras evaluate: error: KERAS_BACKEND='nonsense' is not a Keras backend; use one of tensorflow, jax, torch"]


# What TensorFlow (and absl, CUDA) print natively at start-up; none may reach the user's terminal.
START_UP = ("oneDNN", "cuInit", "absl", "cpu_feature_guard", "WARNING: All log messages before absl", "cudart_stub")
LOADED = ("import atexit, runpy, sys\n"
          "atexit.register(lambda: print('LOADED', 'tensorflow' in sys.modules, file=sys.stderr))\n"
          "sys.argv = ['p7keras', *sys.argv[1:]]\nrunpy.run_module('p7keras', run_name='__main__')\n")


@pytest.mark.parametrize("level", [None, "3"], ids=["TF_CPP_MIN_LOG_LEVEL unset", "TF_CPP_MIN_LOG_LEVEL=3"])
def test_tensorflow_start_up_lines_never_show(level, tmp_path):
    """A command that loads Keras and TensorFlow (a .keras archive only Keras can tell is no model), whether
    or not the user set TF_CPP_MIN_LOG_LEVEL (TensorFlow prints some lines before it reads it)."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    np.savez(tmp_path / "seqs.npz", contexts=np.ones((4, 3, 8), "float32"), targets=np.ones((4, 8), "float32"))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONPATH=str(ROOT), KERAS_BACKEND="tensorflow", **({"TF_CPP_MIN_LOG_LEVEL": level} if level else {}))
    done = subprocess.run([sys.executable, "-c", LOADED, "evaluate", str(tmp_path / "model.keras"), "--data",
                           str(tmp_path / "seqs.npz")], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "LOADED True", done.stderr  # Keras and TensorFlow started in this process
    assert done.returncode == 2 and len(lines) == 2, done.stderr
    assert lines[0].startswith(f"p7keras evaluate: error: {tmp_path / 'model.keras'}: cannot load as a Keras model")
    assert not [line for line in lines if any(mark in line for mark in START_UP)], done.stderr
