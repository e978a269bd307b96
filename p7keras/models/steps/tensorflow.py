"""TensorFlow steps: ``tf.GradientTape`` (keras.io, "custom train_step in TensorFlow").

Under a ``tf.distribute`` strategy with several replicas (``p7keras train --distribute data-parallel``),
each replica gets a slice of the global batch: the step all-gathers the targets so that the other
replicas' targets are negatives too (in-batch negatives mean the global batch, as on one device), and
scales the loss by 1 / replicas, since the strategy sums the replicas' gradients (as Keras' own
``compute_loss`` does). Keras' optimizer clips each replica's gradients before it sums them, which is not
what one device does with the global batch; so the step sums them itself, clips the sum like one device
(``clipnorm``, ``global_clipnorm`` or ``clipvalue``), and gives the optimizer that sum / replicas with its
clipping off (it sums the replicas' again).
"""

import contextlib

import tensorflow as tf

_CLIPS = ("clipnorm", "global_clipnorm", "clipvalue")


@contextlib.contextmanager
def _clipping_off(optimizer):
    saved = {name: getattr(optimizer, name) for name in _CLIPS}
    for name in _CLIPS:
        setattr(optimizer, name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(optimizer, name, value)


def _replicas(target) -> dict:
    """``compute_terms``' replica arguments: the global batch's targets with this replica's own rows
    masked out, and the sum over replicas (``{}`` on one replica)."""
    replica = tf.distribute.get_replica_context()
    if replica is None or replica.num_replicas_in_sync == 1:
        return {}
    everyone = replica.all_gather(target, axis=0)
    rows = tf.shape(target)[0]
    start = tf.cast(replica.replica_id_in_sync_group, tf.int32) * rows
    index = tf.range(tf.shape(everyone)[0])
    mask = tf.logical_or(index < start, index >= start + rows)
    count = replica.num_replicas_in_sync
    return {"replica_negatives": (everyone, mask),
            "replicas": (lambda value: replica.all_reduce("sum", value), count)}


class TensorFlowSteps:
    """Mixin giving a P7 ranker its TensorFlow ``train_step`` and ``test_step``."""

    def train_step(self, data):
        replicas = _replicas(self._unpack_batch(data)[1])
        count = replicas["replicas"][1] if replicas else 1
        with tf.GradientTape() as tape:
            terms = self.compute_terms(data, training=True, **replicas)
            scaled_loss = self.optimizer.scale_loss(terms["loss"] / count)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        if replicas:
            context = tf.distribute.get_replica_context()
            total = self.optimizer._clip_gradients(context.all_reduce("sum", gradients))
            with _clipping_off(self.optimizer):
                self.optimizer.apply([g / count for g in total], variables)
        else:
            self.optimizer.apply(gradients, variables)
        self.update_negative_queue(data)
        return self._update_trackers(terms)

    def test_step(self, data):
        return self._update_trackers(self.compute_terms(data, training=False, **_replicas(self._unpack_batch(data)[1])))
