"""``docs/optimizer_update.py``: times the optimizer update (and whole steps) with Keras' ``apply`` and fused, on
this backend; here at tiny sizes."""

import os
import pathlib
import re
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BACKEND = keras.backend.backend()
TINY = ["--dim", "16", "--d-model", "16", "--num-layers", "1", "--calls", "2", "--rounds", "2"]


def _run(*flags):
    return subprocess.run([sys.executable, "docs/optimizer_update.py", *TINY, *flags], cwd=ROOT, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": BACKEND}, capture_output=True, text=True)


def test_the_update_is_timed_both_ways():
    done = _run()
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(rf"^{BACKEND}: one update of [\d,]+ weights \(D 16, d_model 16, 1 layers\)", done.stdout, re.M)
    ways = re.findall(r"^  (.+): median [\d.]+ ms \(rounds: [\d.]+, [\d.]+\)$", done.stdout, re.M)
    assert ways == (["Keras optimizer.apply (jit)"] if BACKEND == "jax"
                    else ["Keras optimizer.apply", "fused (ResourceApplyAdam)" if BACKEND == "tensorflow"
                          else "fused (torch fused AdamW)"])


@pytest.mark.skipif(BACKEND == "jax", reason="JAX has no fused path: the script says so")
def test_whole_steps_are_timed_both_ways():
    done = _run("--what", "step")
    assert done.returncode == 0, done.stderr[-2000:]
    ways = re.findall(r"^  (steps, .+): median [\d.]+ ms", done.stdout, re.M)
    assert ways == ["steps, Keras optimizer.apply", "steps, fused"]


@pytest.mark.skipif(BACKEND != "jax", reason="the other backends have a fused path")
def test_jax_steps_are_refused_in_one_line():
    done = _run("--what", "step")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == \
        "jax has no fused update (XLA compiles it into the step)"
