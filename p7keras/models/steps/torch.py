"""PyTorch steps: ``loss.backward()`` (keras.io, "custom train_step in PyTorch")."""

import torch


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

    def test_step(self, data):
        with torch.no_grad():
            return self._update_trackers(self.compute_terms(data, training=False))
