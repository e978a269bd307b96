"""``docs/tf_step_profile.py``: TensorFlow's graph step, op type by op type (issue 23); at tiny sizes here."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="profiles TensorFlow"),
              pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="times the PyTorch reference")]


def _run(*flags: str) -> str:
    return subprocess.run([sys.executable, "docs/tf_step_profile.py", *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, check=True).stdout


def _profile_lines(out: str) -> tuple[float, float, list[str]]:
    total, products, share, covered = (float(x) for x in re.search(
        r"^profiled: ops' self time ([\d.]+) ms/step, matrix products ([\d.]+) ms \(([\d.]+)%\); a product running "
        r"during ([\d.]+) ms of each step$", out, re.M).groups())
    assert 0 < products < total and 0 < share < 100 and 0 < covered <= total * 1.01
    items = re.search(r"^    most time per step: (.+)$", out, re.M).group(1).split(", ")
    assert len(items) == 10 and all(re.fullmatch(r"\w+ [\d.]+ ms \(\d+\)", item) for item in items), items
    assert "Process" not in [item.split()[0] for item in items]  # the executor's own scopes are not ops
    return total, products, [item.split()[0] for item in items]


def test_the_bench_step_beside_the_reference():
    out = _run("--dim", "16", "--d-model", "16", "--num-layers", "1", "--batch-size", "8", "--steps", "2",
               "--rounds", "1")
    assert "D 16, d_model 16, 1 layers, batch 8, float32, graph (jit_compile off), 2 steps an epoch" in out
    assert re.search(r"^round 1: p7keras [\d.]+ ms/step, reference [\d.]+ ms/step \([\d.]+x\)$", out, re.M)
    _, products, kinds = _profile_lines(out)
    # the encoder's products are among the ops of most time (oneDNN's names where TensorFlow uses it: Intel CPUs)
    assert {"MatMul", "_MklMatMul", "_FusedMatMul", "_MklFusedMatMul"} & set(kinds), kinds
    budget, left, rest = (float(x) for x in re.search(
        r"^1.5x the reference \([\d.]+ ms/step, median\) is a step of at most ([\d.]+) ms: (-?[\d.]+) ms left beside "
        r"the products for the rest, which takes (-?[\d.]+) of the step's [\d.]+ ms now \(median\)$", out, re.M).groups())
    assert abs(budget - products - left) < 0.11


def test_the_real_text_presets_step_on_the_default_data():
    out = _run("--preset", "real-text", "--steps", "2")
    assert "--preset real-text on the default data, float32, graph (jit_compile off), 2 steps" in out
    step = float(re.search(r"^p7keras: ([\d.]+) ms/step$", out, re.M).group(1))
    total, products, kinds = _profile_lines(out)
    # the queue's in-context test is one 2-D product now
    assert step > 0 and not {"BatchMatMulV2", "_MklBatchMatMulV2"} & set(kinds[:3]), kinds
    assert "1.5x the reference" not in out


def test_the_xla_step_by_xlas_own_ops_named_by_their_tensorflow_op():
    out = _run("--xla", "--dim", "16", "--d-model", "16", "--num-layers", "1", "--batch-size", "8", "--steps", "2",
               "--rounds", "1")
    assert "batch 8, float32, XLA (jit_compile on), 2 steps an epoch; TensorFlow's CPU memory: its pool" in out
    total, products, share, covered = (float(x) for x in re.search(
        r"^profiled: ops' self time ([\d.]+) ms/step, matrix products ([\d.]+) ms \(([\d.]+)%\); a product running "
        r"during ([\d.]+) ms of each step$", out, re.M).groups())
    assert 0 < products < total and 0 < covered
    kinds = [item.rsplit(" ", 3)[0] for item in re.search(r"^    most time per step: (.+)$", out, re.M).group(1)
             .split(", ")]
    # XLA's products carry the TensorFlow op they came from; the Adam update is TensorFlow's fused kernel's
    assert "MatMul" in kinds and "ResourceApplyAdam" in kinds, kinds
    assert not any(kind.endswith(("fusion", "Execute")) or "." in kind for kind in kinds), kinds
