"""Fixtures of the tuner tests: tiny models (d_model 16, 1 layer) on a tiny synthetic corpus (D = 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from p7keras.training.config import TrainConfig

# Tests of the search's process machinery (workers, kills, child processes): the same on every backend,
# their training is tested elsewhere per backend. The default run runs them on TensorFlow (the first backend
# of the README's test command) and marks them slow on the others, to keep CI under its time budget.
PROCESS_MACHINERY = (pytest.mark.skipif(False, reason="runs on this backend") if keras.backend.backend() == "tensorflow"
                     else pytest.mark.slow)

ROOT = Path(__file__).resolve().parents[2]
# Batch size 7 divides the K = 5 splits of SYNTHETIC (168 train, 21 val sequences): no ragged last batch,
# so JAX compiles each step once per trial.
MODEL = {"d_model": 16, "num_heads": 2, "num_layers": 1, "ff_dim": 32, "batch_size": 7, "epochs": 1, "export": False}
SYNTHETIC = {"num_articles": 30, "chunks_per_article": 12, "dim": 16}  # TrainConfig fields
# The same as flags.
TINY_FLAGS = ["--trials-per-process", "0", "--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--ff-dim", "32", "--batch-size", "7",
              "--epochs", "1", "--no-export"]
SYNTHETIC_FLAGS = ["--num-articles", "30", "--chunks-per-article", "12", "--dim", "16"]


@pytest.fixture
def tiny_base(tmp_path) -> TrainConfig:
    return TrainConfig(**MODEL, **SYNTHETIC, output_dir=str(tmp_path / "models"))


def search_flags(tmp_path, *extra: str, synthetic: bool = True) -> list[str]:
    """Flags of a tiny search (on the tiny synthetic corpus) whose project and best run go under ``tmp_path``."""
    return [*TINY_FLAGS, *(SYNTHETIC_FLAGS if synthetic else []), "--directory", str(tmp_path / "tuning"),
            "--output-dir", str(tmp_path / "models"), *extra]


def events(project_dir) -> list[dict]:
    path = Path(project_dir) / "trial_events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def module_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "tuner.search", *flags]


def subprocess_env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_module(*flags: str, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(module_command(*flags), cwd=ROOT, env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=timeout)
