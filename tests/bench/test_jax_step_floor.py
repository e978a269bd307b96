"""``docs/jax_step_floor.py``: the JAX step's products (read from its jaxpr) and its optimizer update timed alone,
beside the whole step and the reference; here at tiny sizes."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--dim", "16", "--d-model", "16", "--num-layers", "1", "--batch-size", "8", "--calls", "2", "--rounds", "1"]
pytestmark = pytest.mark.one_backend  # the script runs JAX in its own process whatever the suite's backend


def _run(backend, *flags):
    return subprocess.run([sys.executable, "docs/jax_step_floor.py", *flags], cwd=ROOT, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True)


def test_every_product_of_a_jaxpr_is_found_with_its_count():
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT / "docs"))
    from jax_step_floor import step_products

    def loss(w, x):
        inner = jax.jit(lambda a, b: a @ b)(x, w)  # a nested jaxpr
        return jnp.sum(jnp.einsum("bij,bjk->bik", inner[None], inner.T[None]))

    jaxpr = jax.make_jaxpr(jax.grad(loss))(jnp.ones((4, 3)), jnp.ones((5, 4)))
    found = step_products(jaxpr.jaxpr)
    assert sum(found.values()) == 2 + 2 + 1  # forward: x w, the batched product; backward: its two, w's one
    assert {key[:2] for key in found} >= {((5, 4), (4, 3)), ((1, 5, 3), (1, 3, 5))}
    assert all(key[2] == "float32" for key in found)


def test_the_floor_is_printed_with_its_parts():
    done = _run("jax", *TINY)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"^JAX [\d.]+, float32; bench model D 16, d_model 16, 1 layers, batch 8: \d+ products", out, re.M)
    step, reference, ratio = re.search(r"^round 1: step ([\d.]+) ms .*reference ([\d.]+) ms .*ratio ([\d.]+)x$",
                                       out, re.M).groups()
    assert float(reference) / float(step) == pytest.approx(float(ratio), rel=0.1)  # ms printed to 0.1
    products, update, floor = map(float, re.search(
        r"products alone ([\d.]+) ms \+ update alone ([\d.]+) ms = floor ([\d.]+) ms", out).groups())
    assert products > 0 and update > 0 and abs(products + update - floor) < 0.15
    assert re.search(r"every product \([\d.]+ GFLOP\) at the fastest rate .*at most [\d.]+x the reference", out)
    assert len(re.findall(r"^ +[\d.]+ ms: \d+ x \(", out, re.M)) == 5


def test_another_backend_is_refused_in_one_line():
    done = _run("tensorflow", *TINY)
    assert done.returncode == 2
    assert done.stdout.strip() == "error: this script measures JAX's step; KERAS_BACKEND is 'tensorflow'"
