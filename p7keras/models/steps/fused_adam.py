"""Keras' Adam and AdamW update, handed to the backend's own fused kernel where that changes nothing else.

Keras' optimizers compute Adam's update op by op. On PyTorch that is ``torch._foreach_*`` calls, which on a
CPU loop over the variables, every op a new pass over all the weights and a new temporary list; on
TensorFlow a graph of about ten elementwise ops per variable. On the bench model (13.7M weights, a 2-core AVX2
CPU, 2026-12-04) Keras' ``optimizer.apply`` took 110 ms on PyTorch, a third of the training step, and 61 ms on
TensorFlow; PyTorch's fused AdamW (``torch.optim.adamw.adamw(..., fused=True)``, one pass) does the same
update in 7.5 ms and TensorFlow's ``ResourceApplyAdam`` in 12.5 ms (``p7keras/models/steps/torch.py`` and
``tensorflow.py`` call them). JAX compiles the step into one XLA program, which fuses the update itself.

:func:`fused_adam_settings` says when the update can be handed over unchanged: the optimizer is Keras' own
``Adam`` or ``AdamW`` (a subclass may change the update) and uses nothing the kernels do not compute as
Keras does (amsgrad, EMA, gradient accumulation, loss scaling, ``clipnorm``/``clipvalue``, variable
constraints, ``overwrite_with_gradient``). The kernels compute Keras' formula (tested against
``optimizer.apply``, every backend): ``m, v`` the moments, ``t`` the step,

    var -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

after AdamW's ``var *= 1 - lr * weight_decay``, with the gradients first clipped to ``global_clipnorm`` as
Keras clips them (a non-finite norm makes them NaN, which the NaN guard then reports).
"""

from __future__ import annotations

import keras


def fused_adam_settings(optimizer, variables) -> dict | None:
    """The settings a fused Adam kernel needs, or None when Keras' own ``apply`` must run.

    Example:

        >>> import keras
        >>> v = keras.Variable([1.0, 2.0])
        >>> optimizer = keras.optimizers.AdamW(global_clipnorm=1.0)
        >>> optimizer.build([v])
        >>> sorted(fused_adam_settings(optimizer, [v]))
        ['beta_1', 'beta_2', 'epsilon', 'global_clipnorm', 'weight_decay']
        >>> fused_adam_settings(keras.optimizers.Adam(amsgrad=True), [v]) is None
        True

    Args:
        optimizer: the model's optimizer.
        variables: the variables the step updates.

    Returns:
        ``{"beta_1", "beta_2", "epsilon", "weight_decay", "global_clipnorm"}`` as Python floats (the last two 0.0
        when off), or None: not Keras' Adam/AdamW, not built yet, or a setting the kernels do not compute.
    """
    kind = type(optimizer)
    if not (isinstance(optimizer, keras.optimizers.Adam) and kind.__name__ in ("Adam", "AdamW")
            and kind.__module__.startswith("keras.")):
        return None
    if (not optimizer.built or optimizer.amsgrad or optimizer.use_ema or optimizer.gradient_accumulation_steps
            or optimizer.loss_scale_factor is not None or optimizer.clipnorm or optimizer.clipvalue):
        return None
    if not all(hasattr(optimizer, name) for name in ("_momentums", "_velocities", "_get_variable_index")):
        return None  # a Keras whose Adam keeps its moments elsewhere
    if any(v.constraint is not None or getattr(v, "overwrite_with_gradient", False) for v in variables):
        return None
    return {"beta_1": float(optimizer.beta_1), "beta_2": float(optimizer.beta_2),
            "epsilon": float(optimizer.epsilon), "weight_decay": float(optimizer.weight_decay or 0.0),
            "global_clipnorm": float(optimizer.global_clipnorm or 0.0)}


def moments(optimizer, variables) -> tuple[list, list]:
    """Adam's first and second moment variables of ``variables``, in their order.

    Args:
        optimizer: a built Keras ``Adam`` or ``AdamW`` (:func:`fused_adam_settings` not None).
        variables: variables the optimizer was built with.

    Returns:
        ``(momentums, velocities)``: two lists of Keras variables.
    """
    index = [optimizer._get_variable_index(v) for v in variables]
    return [optimizer._momentums[i] for i in index], [optimizer._velocities[i] for i in index]
