"""PyTorch steps: ``loss.backward()`` (keras.io, "custom train_step in PyTorch").

With ``jit_compile=True`` only the train step is ``torch.compile``-d: training batches have one shape
(``p7keras.training.train.fit_batches`` drops the ragged one), while validation and prediction batches
vary (the last is smaller) and would make torch recompile, minutes each on a CPU, so they run eagerly.
"""

import contextlib
import math

import torch
from torch.optim.adamw import adamw

from p7keras.models.steps.fused_adam import fused_adam_settings, moments
from p7keras.models.steps.int8_products import use_int_mm_for_int8_products

use_int_mm_for_int8_products()  # Keras' int8 products on a CPU through torch._int_mm (int8_products.py)


@contextlib.contextmanager
def _eager(model):
    """``model.jit_compile`` off while a Keras step function is made."""
    compiled = model.jit_compile
    model.jit_compile = False
    try:
        yield
    finally:
        model.jit_compile = compiled


def apply_fused_adam(optimizer, gradients, variables) -> bool:
    """Keras' Adam/AdamW step through PyTorch's fused AdamW kernel (``p7keras.models.steps.fused_adam``).

    Example, under ``KERAS_BACKEND=torch``::

        v = keras.Variable([1.0, 2.0])
        optimizer = keras.optimizers.AdamW(learning_rate=0.1)
        optimizer.build([v])
        apply_fused_adam(optimizer, [torch.tensor([1.0, -1.0])], [v])  # True; optimizer.iterations is 1

    Args:
        optimizer: the model's optimizer.
        gradients: one tensor per variable (clipped in place).
        variables: the Keras variables to update.

    Returns:
        True when the step was taken here (the optimizer's ``iterations`` counted), False when
        ``optimizer.apply`` must take it (nothing was changed): not a fusable optimizer, or a gradient missing
        or of another dtype than its variable.
    """
    settings = fused_adam_settings(optimizer, variables)
    if settings is None or any(g is None or g.dtype != v.value.dtype for g, v in zip(gradients, variables)):
        return False
    with torch.no_grad():
        clip = settings["global_clipnorm"]
        # Keras' clip_by_global_norm rule (scale NaN when the norm is not finite), in place: 7 ms on the bench model
        # against 15-16 ms for optimizer._clip_gradients, which squares and scales into new tensors
        if clip:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gradients]))
            scale = clip * torch.clamp(1.0 / norm, max=1.0 / clip) + (norm - norm)
            for g in gradients:
                g.mul_(scale)
        step = int(optimizer.iterations.value) + 1
        # torch adds epsilon to sqrt(v) / sqrt(1 - beta_2**t), Keras to sqrt(v): the same update with this epsilon
        epsilon = settings["epsilon"] / math.sqrt(1.0 - settings["beta_2"] ** step)
        learning_rate = float(optimizer.learning_rate)
        first, second = moments(optimizer, variables)
        decayed = [bool(settings["weight_decay"]) and optimizer._use_weight_decay(v) for v in variables]
        for decay in set(decayed):
            chosen = [i for i, d in enumerate(decayed) if d == decay]
            params = [variables[i].value for i in chosen]
            # the kernel adds 1 to each step tensor before it uses it
            steps = list(torch.full((len(chosen),), float(step - 1), device=params[0].device).unbind())
            adamw([p.data for p in params], [gradients[i] for i in chosen], [first[i].value for i in chosen],
                  [second[i].value for i in chosen], [], steps, fused=True, amsgrad=False,
                  beta1=settings["beta_1"], beta2=settings["beta_2"], lr=learning_rate,
                  weight_decay=settings["weight_decay"] if decay else 0.0, eps=epsilon, maximize=False)
        optimizer.iterations.assign_add(1)
    return True


class TorchSteps:
    """Mixin giving a P7 ranker its PyTorch ``train_step`` and ``test_step``."""

    def train_step(self, data):
        self.zero_grad()
        terms = self.compute_terms(data, training=True)
        self.optimizer.scale_loss(terms["loss"]).backward()
        variables = self.trainable_weights
        gradients = [v.value.grad for v in variables]
        with torch.no_grad():
            # torch.compile fuses Keras' own update (Inductor); the fused kernel is for the eager step
            if torch.compiler.is_compiling() or not apply_fused_adam(self.optimizer, gradients, variables):
                self.optimizer.apply(gradients, variables)
            self.update_negative_queue(data)
        return self._update_trackers(terms)

    def make_test_function(self, force=False):
        with _eager(self):
            return super().make_test_function(force)

    def make_predict_function(self, force=False):
        with _eager(self):
            return super().make_predict_function(force)

    def test_step(self, data):
        with torch.no_grad():
            return self._update_trackers(self.compute_terms(data, training=False))
