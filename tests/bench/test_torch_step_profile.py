"""``docs/torch_step_profile.py``: the per-step op counts of the Keras PyTorch step and the reference's, for the
next session lent a GPU (README, "On a GPU"); here on the CPU at tiny sizes."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="profiles PyTorch")]


def test_both_steps_are_counted_and_the_scalar_sites_named():
    out = subprocess.run([sys.executable, "docs/torch_step_profile.py", "--dim", "16", "--d-model", "16",
                          "--num-layers", "1", "--batch-size", "8", "--steps", "2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=True).stdout
    assert out.startswith("device cpu, torch ") and "D 16, d_model 16, 1 layers, batch 8, float32, 2 steps" in out
    rows = dict(re.findall(r"^(p7keras \(Keras, eager\)|reference \(plain PyTorch\)): [\d.]+ ms/step; (\d+) leaf",
                           out, re.M))
    assert set(rows) == {"p7keras (Keras, eager)", "reference (plain PyTorch)"}
    assert all(int(n) > 50 for n in rows.values())  # a transformer step, forward, backward and AdamW: many ops
    shares = [float(x) for x in re.findall(r"per step; matrix products ([\d.]+)% of the CPU time$", out, re.M)]
    assert len(shares) == 2 and all(0 < x < 100 for x in shares)
    most = re.findall(r"^    most CPU time per step: (.+)$", out, re.M)
    items = [item for line in most for item in line.split(", ")]
    assert len(most) == 2 and len(items) == 16 and all(re.fullmatch(r".+ [\d.]+ ms", i) for i in items), most
    floor = re.search(r"^1\.5x the reference leaves ([\d.]+) ms a step; the Keras step's aten ops alone take "
                      r"([\d.]+) ms \(self times, the profiler on\), its matrix products ([\d.]+) ms$", out, re.M)
    allowed, ops, products = map(float, floor.groups())
    reference = float(re.search(r"^reference \(plain PyTorch\): ([\d.]+) ms/step", out, re.M).group(1))
    assert allowed == pytest.approx(reference / 1.5, abs=0.1) and 0 < products < ops
    scalars = float(re.search(r"^Python scalars made tensors per Keras step: ([\d.]+)$", out, re.M).group(1))
    assert scalars > 0 and re.search(r"^\s+[\d.]+\s+\S+\.py:\d+ \(\w+\)$", out, re.M)  # each with its site
