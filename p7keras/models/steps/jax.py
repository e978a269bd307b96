"""JAX steps: stateless, state in and state out (keras.io, "custom train_step in JAX")."""

import jax
from keras import StatelessScope

from p7keras.models.steps.bf16_dots import use_float32_accumulating_bf16_dots
from p7keras.models.steps.host_memory import keep_freed_host_memory
from p7keras.models.steps.threefry import use_unrolled_threefry

use_unrolled_threefry()  # dropout masks without the CPU lowering's loop; the same bits (threefry.py)
use_float32_accumulating_bf16_dots()  # bfloat16 products on a CPU's bfloat16 units (bf16_dots.py)
keep_freed_host_memory()  # XLA's step buffers reused, not mapped and faulted in anew every step (host_memory.py)


def _stateless(variables, values, fn):
    """Runs ``fn()`` with ``variables`` read as ``values``; returns its result and the new values."""
    with StatelessScope(state_mapping=list(zip(variables, values))) as scope:
        result = fn()
    updated = []
    for variable, value in zip(variables, values):
        current = scope.get_current_value(variable)
        updated.append(value if current is None else current)
    return result, updated


class JAXSteps:
    """Mixin giving a P7 ranker its JAX ``train_step`` and ``test_step``."""

    def _stateless_terms(self, trainable, non_trainable, data, training):
        variables = self.trainable_variables + self.non_trainable_variables
        terms, updated = _stateless(
            variables, list(trainable) + list(non_trainable), lambda: self.compute_terms(data, training)
        )
        return terms, updated[len(trainable) :]

    def _stateless_logs(self, metrics_variables, terms):
        return _stateless(self.metrics_variables, metrics_variables, lambda: self._update_trackers(terms))

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_variables, metrics_variables = state

        def loss_fn(trainable):
            terms, new_non_trainable = self._stateless_terms(trainable, non_trainable, data, True)
            loss = _stateless(
                self.optimizer.variables, optimizer_variables, lambda: self.optimizer.scale_loss(terms["loss"])
            )[0]
            return loss, (terms, new_non_trainable)

        (_, (terms, non_trainable)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, gradients, trainable
        )
        # The negative queue is non-trainable state: its update is carried out of the step like the rest.
        _, non_trainable = _stateless(self.non_trainable_variables, non_trainable,
                                      lambda: self.update_negative_queue(data))
        logs, metrics_variables = self._stateless_logs(metrics_variables, terms)
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def test_step(self, state, data):
        trainable, non_trainable, metrics_variables = state
        terms, non_trainable = self._stateless_terms(trainable, non_trainable, data, False)
        logs, metrics_variables = self._stateless_logs(metrics_variables, terms)
        return logs, (trainable, non_trainable, metrics_variables)
