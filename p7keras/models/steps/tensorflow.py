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

from p7keras.models.steps.fused_adam import fused_adam_settings, moments

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


def apply_fused_adam(optimizer, gradients, variables) -> bool:
    """Keras' Adam/AdamW step through TensorFlow's fused ``ResourceApplyAdam`` (``p7keras.models.steps.fused_adam``).

    Keras' own clipping and AdamW weight decay run first, as in ``optimizer.apply``; the kernel then computes
    Keras' Adam update of each variable in one pass.

    Example, under ``KERAS_BACKEND=tensorflow``, in a graph as the training step runs it::

        variables = [keras.Variable([1.0, 2.0])]
        optimizer = keras.optimizers.AdamW(learning_rate=0.1)
        optimizer.build(variables)
        update = tf.function(lambda grads: apply_fused_adam(optimizer, grads, variables))
        update([tf.constant([1.0, -1.0])])  # a True tensor; optimizer.iterations is 1

    Args:
        optimizer: the model's optimizer.
        gradients: one tensor per variable.
        variables: the Keras variables to update.

    Returns:
        True when the step was taken here (the optimizer's ``iterations`` counted), False when
        ``optimizer.apply`` must take it (nothing was changed): not a fusable optimizer, a ``tf.distribute``
        strategy in scope, or a gradient missing or sparse.
    """
    settings = fused_adam_settings(optimizer, variables)
    if (settings is None or tf.distribute.has_strategy()
            or any(g is None or isinstance(g, tf.IndexedSlices) for g in gradients)):
        return False
    gradients = optimizer._clip_gradients(gradients)
    optimizer._apply_weight_decay(variables)
    step = tf.cast(optimizer.iterations + 1, "float32")
    scalars = {"beta1_power": tf.pow(settings["beta_1"], step), "beta2_power": tf.pow(settings["beta_2"], step),
               "lr": tf.cast(optimizer.learning_rate, "float32"), "beta1": settings["beta_1"],
               "beta2": settings["beta_2"], "epsilon": settings["epsilon"]}
    in_dtype = {}  # the scalars cast once per variable dtype (float32 under every training policy)
    first, second = moments(optimizer, variables)
    for gradient, variable, m, v in zip(gradients, variables, first, second):
        dtype = variable.dtype
        if dtype not in in_dtype:
            in_dtype[dtype] = {name: tf.cast(value, dtype) for name, value in scalars.items()}
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=m.handle, v=v.handle, grad=tf.cast(gradient, dtype),
                                     **in_dtype[dtype])
    optimizer.iterations.assign_add(1)
    return True


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
        elif not apply_fused_adam(self.optimizer, gradients, variables):
            self.optimizer.apply(gradients, variables)
        self.update_negative_queue(data)
        return self._update_trackers(terms)

    def test_step(self, data):
        return self._update_trackers(self.compute_terms(data, training=False, **_replicas(self._unpack_batch(data)[1])))
