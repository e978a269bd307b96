"""``docs/bf16_products.py``: the bench step's largest product in float32 and under both bfloat16 lowerings of
JAX on a CPU (issue 23)."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="times JAX's lowerings")]


def test_the_three_lowerings_side_by_side():
    out = subprocess.run([sys.executable, "docs/bf16_products.py", "--rounds", "2", "--calls", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    rows = re.findall(r"^round (\d): (.+?): float32 (\d+), bfloat16-jax (\d+), bfloat16-p7keras (\d+) GFLOP/s$",
                      out, re.M)
    assert [(r[0], r[1]) for r in rows] == [(str(n), name) for n in (1, 2) for name in (
        "forward x W", "input gradient g W^T", "weight gradient x^T g")], out
    assert all(int(figure) > 0 for row in rows for figure in row[2:])
    assert out.strip().endswith("the bfloat16 lowerings agree within one rounding")
