"""bfloat16 matrix products on a CPU's bfloat16 units under JAX: accumulate in float32, ask XLA for float32.

Under ``mixed_bfloat16`` Keras' JAX layers multiply bfloat16 arrays into a bfloat16 result. XLA's CPU compiler
has no kernel for that product, so it converts both operands to float32, multiplies in float32 and rounds the
result: the bfloat16 units of an AMX CPU stay idle, and the policy trained the bench transformer at 0.75x
float32's speed there. Asked for a *float32* result of the same bfloat16 operands, XLA hands the product to a
library kernel (YNNPACK) that runs on the units: 809-887 GFLOP/s at (320 x 512)(512 x 2048) against 196-202 for
the bfloat16 result and 275-291 in float32, on a 2-core AMX Xeon (``python docs/bf16_products.py``,
2026-12-05). The kernel wants the left operand's contracted axis last: contracted first (a weight gradient,
``x^T g``) the product falls back to the float32 path, and XLA folds a plain transpose back into the product,
so the operand is first copied into a fresh row-major array (629-687 GFLOP/s with the copy, against 191-213).

:func:`use_float32_accumulating_bf16_dots` registers, as JAX's CPU lowering of ``dot_general``, one that writes
every bfloat16 x bfloat16 -> bfloat16 product as that float32-result product followed by a rounding to
bfloat16 (its left operand moved into that order first when needed); every other product is lowered as JAX
lowers it. A weight gradient (both operands contracted on their leading axes, no batch axes) is computed with
its operands swapped and its result transposed back: JAX's transpose rule computes it as ``g^T x`` and then
transposes it into the weight's order, and XLA cancels that transpose against ours, so the gradient leaves the
product in the weight's order. Left transposed, the optimizer's update read it with a stride: under
``mixed_bfloat16`` the bench transformer's JAX step spent 65.4 ms of op time a step in the update's 167 fusions
(3.1-3.6 ms in each of the 16 for the eight 512 x 2048 weights), 14.6 ms swapped, and trained at 1.58-1.74x the
plain-PyTorch reference, 2.27-2.36x swapped (a 2-core AMX Xeon, 2026-12-05; README). The arithmetic is the one
XLA did before (the bfloat16 operands' exact products summed in float32, then rounded once), in another
summation order. The registration is for the process, so it also applies to other JAX code there; other
platforms are unchanged.

Example:

    from p7keras.models.steps.bf16_dots import use_float32_accumulating_bf16_dots
    use_float32_accumulating_bf16_dots()     # p7keras does this when its JAX step is imported (with any model)
    jnp.ones((4, 8), jnp.bfloat16) @ jnp.ones((8, 2), jnp.bfloat16)   # float32 product, rounded to bfloat16
"""

from __future__ import annotations

import functools
import math

import numpy as np


def _contracted_last(dims, batch, contracting) -> tuple[int, ...]:
    """The axis order ``batch..., free..., contracting...`` of an operand of rank ``dims``."""
    free = [axis for axis in range(dims) if axis not in batch and axis not in contracting]
    return (*batch, *free, *contracting)


def _leading(axes) -> bool:
    """Whether ``axes`` are an array's first ``len(axes)`` axes."""
    return tuple(axes) == tuple(range(len(axes)))


def _bf16_product(lhs, rhs, *, dimension_numbers, swap: bool = True):
    """``dot_general`` of two bfloat16 arrays with a float32 result, rounded to bfloat16 (JAX code, lowered)."""
    import jax.numpy as jnp  # noqa: PLC0415 (JAX-only module, imported by the JAX step)
    from jax import lax  # noqa: PLC0415

    (lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch) = dimension_numbers
    if swap and not lhs_batch and _leading(lhs_contracting) and _leading(rhs_contracting) \
            and len(lhs_contracting) < lhs.ndim:
        # A weight gradient: JAX's transpose rule computes ``g^T x`` and transposes the result to the weight's
        # order. Computed as ``x^T g`` (the other operand copied into the kernel's order instead) and transposed
        # here, the two transposes cancel when XLA simplifies, and the weight's gradient leaves the product in
        # the weight's own order (transposed, it cost the optimizer's update a strided pass over it).
        swapped = _bf16_product(rhs, lhs, dimension_numbers=((rhs_contracting, lhs_contracting), ((), ())),
                                swap=False)
        rhs_free, lhs_free = rhs.ndim - len(rhs_contracting), lhs.ndim - len(lhs_contracting)
        return jnp.transpose(swapped, (*range(rhs_free, rhs_free + lhs_free), *range(rhs_free)))
    order = _contracted_last(lhs.ndim, lhs_batch, lhs_contracting)
    if order != tuple(range(lhs.ndim)):
        # A physical transpose: through a flat array and an optimisation barrier, because XLA would otherwise
        # give the transposed operand a column-major layout (or fold the transpose into the product), and the
        # bfloat16 kernel then declines it.
        shape = tuple(lhs.shape[axis] for axis in order)
        flat = lax.optimization_barrier(jnp.reshape(jnp.transpose(lhs, order), (math.prod(shape),)))
        lhs = jnp.reshape(flat, shape)
        # The result's axes (batch..., lhs free..., rhs free...) are unchanged: ``order`` keeps the free axes'
        # relative order.
        lhs_batch = tuple(range(len(lhs_batch)))
        lhs_contracting = tuple(range(lhs.ndim - len(lhs_contracting), lhs.ndim))
    product = lax.dot_general(lhs, rhs, ((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch)),
                              preferred_element_type=jnp.float32)
    return product.astype(jnp.bfloat16)


@functools.cache
def use_float32_accumulating_bf16_dots() -> bool:
    """Lowers JAX's bfloat16 x bfloat16 -> bfloat16 products on CPUs as float32-result products, then rounds.

    Idempotent; other products, and other platforms, are lowered as JAX lowers them.

    Example:

        use_float32_accumulating_bf16_dots()
        jax.jit(jnp.matmul)(a16, b16)   # on an AMX CPU: the bfloat16 units, not a float32 product

    Returns:
        True when the lowering is registered, False when this JAX has no ``_dot_general_lower`` to defer to.
    """
    import jax.numpy as jnp  # noqa: PLC0415
    from jax._src.lax import lax as jax_lax  # noqa: PLC0415 (JAX's own CPU lowering, for every other product)
    from jax.interpreters import mlir  # noqa: PLC0415

    jax_lowering = getattr(jax_lax, "_dot_general_lower", None)
    if jax_lowering is None:  # a JAX that moved it: its bfloat16 products stay as it lowers them (tests say so)
        return False
    default = functools.partial(jax_lowering, platform="cpu")
    bf16 = np.dtype(jnp.bfloat16)

    def lowering(ctx, lhs, rhs, *, dimension_numbers, precision, **params):
        if precision is None and {*(aval.dtype for aval in ctx.avals_in), ctx.avals_out[0].dtype} == {bf16}:
            rule = mlir.lower_fun(functools.partial(_bf16_product, dimension_numbers=dimension_numbers),
                                  multiple_results=False)
            return rule(ctx, lhs, rhs)
        return default(ctx, lhs, rhs, dimension_numbers=dimension_numbers, precision=precision, **params)

    mlir.register_lowering(jax_lax.dot_general_p, lowering, platform="cpu")
    return True

