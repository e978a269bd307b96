"""Keras' int8 x int8 matrix products on PyTorch's CPU through ``torch._int_mm``: the same integers, faster.

A model quantized with ``model.quantize("int8")`` multiplies int8 activations by int8 kernels (``Dense`` through
``ops.matmul``, ``EinsumDense`` through ``ops.einsum``). On a CPU Keras' PyTorch backend computes both as int32
products (``torch._int_mm`` is used on CUDA only), and PyTorch has no fast kernel for int32 products: at
(320 x 512)(512 x 2048) one took 36.8 ms against 2.0 ms in float32 and 0.43 ms for ``torch._int_mm`` (a 2-core AMX
Xeon, torch 2.13), so the bench transformer predicted about 106 sequences/s in int8 against about 2,000 in float32.
``torch._int_mm`` takes int8 operands and returns their exact int32 products, as the int32 product does.
It is fast only on a CPU with int8 dot-product instructions (:data:`p7keras.machine.INT8_CPU_FLAGS`: AMX-INT8,
AVX512-VNNI, AVX-VNNI): on a 2-core AVX2 AMD EPYC without them it took 622 ms at the shape above, against 73 ms for
Keras' int32 product and 10.9 ms in float32 (torch 2.13), and the bench transformer's int8 predictions slowed from
32 to 14 sequences/s. So it is used only on a CPU that lists one of those flags.

:func:`use_int_mm_for_int8_products` replaces the PyTorch backend's ``matmul`` and ``einsum``, on such a CPU, with
functions that compute an int8 x int8 product whose right operand is a 2-D matrix (``matmul``), or an ``einsum`` that
is one matrix product (the left operand's last axes contracted with the right's first, in order, no shared free
axes: every equation ``EinsumDense`` uses for a projection) as one ``torch._int_mm`` of the operands folded to 2-D.
Every other call, and one ``torch._int_mm`` refuses, goes to Keras' own function. The results are the same integers,
so nothing but the time changes; the replacement is for the process and idempotent.

Example:

    from p7keras.models.steps.int8_products import use_int_mm_for_int8_products
    use_int_mm_for_int8_products()   # p7keras does this when its PyTorch step is imported
    keras.ops.matmul(a_int8, b_int8)  # int32, through torch._int_mm on a CPU with AMX-INT8 or VNNI
"""

from __future__ import annotations

import functools
import math

from p7keras.machine import CPUINFO, int8_cpu_flags

# Set on the functions that replace Keras' products, so a second installation leaves them as they are.
INSTALLED = "p7keras_int_mm"


def _is_int8_on_cpu(*tensors) -> bool:
    import torch  # noqa: PLC0415 (PyTorch-only module)

    return all(isinstance(t, torch.Tensor) and t.dtype == torch.int8 and t.device.type == "cpu" for t in tensors)


def _rows_times_matrix(lhs, rhs, contracted: int):
    """``lhs`` (its last ``contracted`` axes) times ``rhs`` (its first ones) as one ``torch._int_mm``, or None."""
    import torch  # noqa: PLC0415

    if tuple(lhs.shape[lhs.ndim - contracted:]) != tuple(rhs.shape[:contracted]):
        return None  # Keras' own product says what is wrong
    inner = math.prod(rhs.shape[:contracted])
    try:
        product = torch._int_mm(lhs.reshape(-1, inner).contiguous(), rhs.reshape(inner, -1).contiguous())
    except RuntimeError:  # a shape or build this PyTorch's kernel refuses: Keras' own product
        return None
    return product.reshape(*lhs.shape[: lhs.ndim - contracted], *rhs.shape[contracted:])


def matrix_product_axes(subscripts: str) -> int | None:
    """How many axes an ``einsum`` of two operands contracts, when it is one matrix product; else None.

    One matrix product: the left operand's last axes contracted with the right operand's first, in the same
    order, and the output the left's other axes followed by the right's.

    Example:

    >>> matrix_product_axes("abc,cde->abde"), matrix_product_axes("abcd,cde->abe"), matrix_product_axes("ab,cb->ac")
    (1, 2, None)

    Args:
        subscripts: the ``einsum`` equation.

    Returns:
        The number of contracted axes, or None for any other equation (batch axes, ellipses, transposes).
    """
    inputs, arrow, output = subscripts.replace(" ", "").partition("->")
    operands = inputs.split(",")
    if not arrow or len(operands) != 2 or "." in subscripts:
        return None
    lhs, rhs = operands
    if len(set(lhs)) != len(lhs) or len(set(rhs)) != len(rhs):
        return None
    contracted = len(set(lhs) & set(rhs))
    if contracted == 0 or lhs[len(lhs) - contracted:] != rhs[:contracted]:
        return None
    if output != lhs[: len(lhs) - contracted] + rhs[contracted:]:
        return None
    return contracted


@functools.cache
def use_int_mm_for_int8_products(cpuinfo: str = CPUINFO) -> bool:
    """Computes Keras' int8 x int8 ``matmul`` and one-product ``einsum`` on PyTorch's CPU with ``torch._int_mm``.

    Only on a CPU with int8 dot-product instructions (``cpuinfo`` lists one of
    :data:`p7keras.machine.INT8_CPU_FLAGS`); idempotent; every other product is Keras' own.

    Example:

        use_int_mm_for_int8_products()
        reduced_precision(model, "int8").predict(contexts)   # an AMX or VNNI CPU: the int8 products through _int_mm

    Args:
        cpuinfo: the CPU's flags file (``/proc/cpuinfo``; none off Linux: Keras' products stay).

    Returns:
        True when installed (now or before); False when the CPU has no int8 dot-product instructions, this PyTorch
        has no ``torch._int_mm`` or this Keras keeps its PyTorch functions elsewhere (Keras' products stay).
    """
    import torch  # noqa: PLC0415

    if not int8_cpu_flags(cpuinfo):
        return False
    try:  # Keras' private backend module: a Keras that moved it keeps its own products
        from keras.src.backend.torch import numpy as torch_numpy  # noqa: PLC0415 (the functions ops call)
        from keras.src.backend.torch.core import convert_to_tensor  # noqa: PLC0415
    except ImportError:
        return False
    if not (hasattr(torch, "_int_mm") and hasattr(torch_numpy, "matmul") and hasattr(torch_numpy, "einsum")):
        return False
    if getattr(torch_numpy.matmul, INSTALLED, False):
        return True
    keras_matmul, keras_einsum = torch_numpy.matmul, torch_numpy.einsum

    @functools.wraps(keras_matmul)
    def matmul(x1, x2):
        x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
        if _is_int8_on_cpu(x1, x2) and x1.ndim >= 2 and x2.ndim == 2:
            product = _rows_times_matrix(x1, x2, 1)
            if product is not None:
                return product
        return keras_matmul(x1, x2)

    @functools.wraps(keras_einsum)
    def einsum(subscripts, *operands, **kwargs):
        operands = [convert_to_tensor(operand) for operand in operands]
        if len(operands) == 2 and not kwargs and _is_int8_on_cpu(*operands):
            contracted = matrix_product_axes(subscripts)
            ranks = tuple(len(letters) for letters in subscripts.replace(" ", "").partition("->")[0].split(","))
            if contracted is not None and ranks == (operands[0].ndim, operands[1].ndim):
                product = _rows_times_matrix(*operands, contracted)
                if product is not None:
                    return product
        return keras_einsum(subscripts, *operands, **kwargs)

    setattr(matmul, INSTALLED, True)
    setattr(einsum, INSTALLED, True)
    torch_numpy.matmul, torch_numpy.einsum = matmul, einsum
    return True
