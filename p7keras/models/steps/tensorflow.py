"""TensorFlow steps: ``tf.GradientTape`` (keras.io, "custom train_step in TensorFlow")."""

import tensorflow as tf


class TensorFlowSteps:
    """Mixin giving a P7 ranker its TensorFlow ``train_step`` and ``test_step``."""

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.compute_terms(data, training=True)
            scaled_loss = self.optimizer.scale_loss(terms["loss"])
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply(gradients, variables)
        self.update_negative_queue(data)
        return self._update_trackers(terms)

    def test_step(self, data):
        return self._update_trackers(self.compute_terms(data, training=False))
