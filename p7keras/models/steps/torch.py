"""PyTorch steps: ``loss.backward()`` (keras.io, "custom train_step in PyTorch").

With ``jit_compile=True`` only the train step is ``torch.compile``-d: training batches have one shape
(``p7keras.training.train.fit_batches`` drops the ragged one), while validation and prediction batches
vary (the last is smaller) and would make torch recompile, minutes each on a CPU, so they run eagerly.
"""

import contextlib

import torch


@contextlib.contextmanager
def _eager(model):
    """``model.jit_compile`` off while a Keras step function is made."""
    compiled = model.jit_compile
    model.jit_compile = False
    try:
        yield
    finally:
        model.jit_compile = compiled


class TorchSteps:
    """Mixin giving a P7 ranker its PyTorch ``train_step`` and ``test_step``."""

    def train_step(self, data):
        self.zero_grad()
        terms = self.compute_terms(data, training=True)
        self.optimizer.scale_loss(terms["loss"]).backward()
        variables = self.trainable_weights
        gradients = [v.value.grad for v in variables]
        with torch.no_grad():
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
