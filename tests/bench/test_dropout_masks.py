"""``docs/dropout_masks.py``: the bench step's dropout masks under JAX's CPU lowering of Threefry and under
p7keras' unrolled one (issue 23)."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="times JAX's lowerings")]


def test_the_two_lowerings_side_by_side():
    out = subprocess.run([sys.executable, "docs/dropout_masks.py", "--rounds", "2", "--calls", "3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    rounds = re.findall(r"^round (\d): jax ([\d.]+) ms \(a while loop\), unrolled ([\d.]+) ms \(no loop\)$", out, re.M)
    assert [r[0] for r in rounds] == ["1", "2"], out
    assert all(float(jax_ms) > 0 and float(unrolled_ms) > 0 for _, jax_ms, unrolled_ms in rounds)
    assert out.strip().endswith("same masks under both lowerings")

