"""Keras' Adam/AdamW update through the backends' fused kernels (p7keras.models.steps.fused_adam): the same
update as ``optimizer.apply``, taken only where nothing else changes, and taken by the training step."""

import importlib

import keras
import numpy as np
import pytest

from p7keras.models.optimizer import default_optimizer
from p7keras.models.steps.fused_adam import fused_adam_settings
from tests.helpers import D, rotation_batches
from tests.models.test_ranker import transformer

BACKEND = keras.backend.backend()
FUSED = {"torch": "p7keras.models.steps.torch", "tensorflow": "p7keras.models.steps.tensorflow"}
fused_backends = pytest.mark.skipif(BACKEND not in FUSED, reason="JAX compiles the update into the step (XLA)")
SHAPES = [(6, 4), (4,), (3, 2, 2)]


def _apply_fused():
    return importlib.import_module(FUSED[BACKEND]).apply_fused_adam


def _tensor(x):
    if BACKEND == "torch":
        import torch  # noqa: PLC0415
        return torch.tensor(x)
    return keras.ops.convert_to_tensor(x)


def _pair(rng, **settings):
    """Two optimizers over two equal sets of variables (the second variable excluded from weight decay)."""
    start = [rng.standard_normal(s).astype("float32") for s in SHAPES]
    pairs = []
    for _ in range(2):
        variables = [keras.Variable(x) for x in start]
        optimizer = keras.optimizers.AdamW(**settings)
        optimizer.exclude_from_weight_decay(var_list=[variables[1]])
        optimizer.build(variables)
        pairs.append((variables, optimizer))
    return pairs


SETTINGS = {
    "clipped": {"learning_rate": 0.01, "weight_decay": 0.1, "global_clipnorm": 1.0},
    "no clip, no decay": {"learning_rate": 0.01, "weight_decay": 0.0},
    "schedule": {"learning_rate": keras.optimizers.schedules.ExponentialDecay(0.02, 2, 0.5), "weight_decay": 0.05,
                 "global_clipnorm": 0.5, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3},
}


@fused_backends
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_fused_step_is_keras_update(name, rng):
    (keras_vars, keras_opt), (fused_vars, fused_opt) = _pair(rng, **SETTINGS[name])
    def fused_step(grads):
        return _apply_fused()(fused_opt, grads, fused_vars)

    if BACKEND == "tensorflow":  # the training step runs it in a graph
        import tensorflow as tf  # noqa: PLC0415
        fused_step = tf.function(fused_step)
    start = [np.asarray(v) for v in keras_vars]
    for step in range(6):
        scale = 10.0 if step % 2 else 0.01  # large gradients are clipped, small ones not
        grads = [scale * rng.standard_normal(s).astype("float32") for s in SHAPES]
        keras_opt.apply([_tensor(g) for g in grads], keras_vars)
        assert fused_step([_tensor(g) for g in grads])
    assert int(keras.ops.convert_to_numpy(fused_opt.iterations)) == 6
    moved = 0.0
    for mine, theirs, first in zip(fused_vars, keras_vars, start):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-5, atol=1e-6)
        moved = max(moved, float(np.abs(np.asarray(theirs) - first).max()))
    assert moved > 1e-3  # the variables did move
    for mine, theirs in zip(fused_opt.variables, keras_opt.variables):  # moments and counters too
        # the first moment averages gradients of +-10 into values near 0.1: float32 rounding of 1e-6 of 10
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-5, atol=1e-5)


@fused_backends
def test_a_non_finite_gradient_poisons_both_alike(rng):
    (keras_vars, keras_opt), (fused_vars, fused_opt) = _pair(rng, **SETTINGS["clipped"])
    grads = [rng.standard_normal(s).astype("float32") for s in SHAPES]
    grads[0][0, 0] = np.inf
    keras_opt.apply([_tensor(g) for g in grads], keras_vars)
    assert _apply_fused()(fused_opt, [_tensor(g) for g in grads], fused_vars)
    for mine, theirs in zip(fused_vars, keras_vars):
        assert np.isnan(np.asarray(theirs)).all()  # Keras' clipping: a NaN scale for a non-finite norm
        assert np.isnan(np.asarray(mine)).all()


class _MyAdamW(keras.optimizers.AdamW):
    pass


REFUSED = {
    "amsgrad": lambda: keras.optimizers.Adam(amsgrad=True),
    "ema": lambda: keras.optimizers.AdamW(use_ema=True),
    "clipnorm": lambda: keras.optimizers.AdamW(clipnorm=1.0),
    "clipvalue": lambda: keras.optimizers.AdamW(clipvalue=1.0),
    "accumulation": lambda: keras.optimizers.AdamW(gradient_accumulation_steps=2),
    "loss scale factor": lambda: keras.optimizers.AdamW(loss_scale_factor=8.0),
    "loss scale optimizer": lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.AdamW()),
    "SGD": lambda: keras.optimizers.SGD(),
    "a subclass": _MyAdamW,
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_the_kernels_do_not_compute_stays_with_keras(name):
    variables = [keras.Variable(np.ones((2, 2), "float32"))]
    optimizer = REFUSED[name]()
    optimizer.build(variables)
    assert fused_adam_settings(optimizer, variables) is None


def test_the_default_optimizer_is_fused_once_built():
    variables = [keras.Variable(np.ones((2, 2), "float32"))]
    optimizer = default_optimizer()
    assert fused_adam_settings(optimizer, variables) is None  # not built: Keras' apply builds it
    optimizer.build(variables)
    assert fused_adam_settings(optimizer, variables) == {
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 1e-4, "global_clipnorm": 1.0}
    layer = keras.layers.Dense(2, kernel_constraint=keras.constraints.NonNeg())
    layer.build((None, 3))
    optimizer = default_optimizer()
    optimizer.build(layer.trainable_variables)
    assert fused_adam_settings(optimizer, layer.trainable_variables) is None  # Keras applies constraints


@fused_backends
def test_the_training_step_takes_the_fused_path_and_trains_as_keras(monkeypatch):
    batch = rotation_batches(32, seed=5)
    fused, plain = transformer(input_dim=D), transformer(input_dim=D)
    start = fused.get_weights()
    plain.set_weights(start)
    module = importlib.import_module(FUSED[BACKEND])
    calls = []
    real = module.apply_fused_adam

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(module, "apply_fused_adam", counted)
    fused.compile()
    for _ in range(3):
        fused.train_on_batch(batch)
    assert len(calls) >= 1 and int(keras.ops.convert_to_numpy(fused.optimizer.iterations)) == 3

    monkeypatch.setattr(module, "apply_fused_adam", lambda *args: False)  # Keras' optimizer.apply
    plain.compile()
    for _ in range(3):
        plain.train_on_batch(batch)
    assert any(np.abs(w - s).max() > 1e-4 for w, s in zip(plain.get_weights(), start))
    for mine, theirs in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
