"""bfloat16 products lowered as float32-result products on a CPU (p7keras.models.steps.bf16_dots): the values of
the bfloat16 product XLA computed before (exact products summed in float32, rounded once), in every operand
layout the ranker's step has, gradients included; other products lowered as JAX lowers them."""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the lowering is JAX's")

BF16_ULP = 2.0**-7  # bfloat16 keeps 8 significant bits: one rounding moves a value by at most 2^-8 of it

# (lhs shape, rhs shape, ((lhs contracting, rhs contracting), (lhs batch, rhs batch))): the forward product, the
# input gradient (rhs contracted on its last axis) and the weight gradient (lhs contracted on its first axis) of
# a dense layer, a batched attention product in both forms, and two contracted axes.
LAYOUTS = {
    "NN": ((40, 24), (24, 16), (((1,), (0,)), ((), ()))),
    "NT": ((40, 24), (16, 24), (((1,), (1,)), ((), ()))),
    "TN": ((24, 40), (24, 16), (((0,), (0,)), ((), ()))),
    "TT": ((24, 40), (16, 24), (((0,), (1,)), ((), ()))),
    "batched": ((3, 4, 5, 8), (3, 4, 8, 6), (((3,), (2,)), ((0, 1), (0, 1)))),
    "batched, lhs contracted first": ((3, 4, 8, 5), (3, 4, 8, 6), (((2,), (2,)), ((0, 1), (0, 1)))),
    "two contracted axes": ((6, 4, 5), (4, 5, 7), (((1, 2), (0, 1)), ((), ()))),
    "TN, two contracted axes": ((4, 5, 6), (4, 5, 7), (((0, 1), (0, 1)), ((), ()))),
}


def _register():
    import p7keras.models.steps  # noqa: F401, PLC0415 (p7keras' JAX step, which registers it; so does any model)
    from p7keras.models.steps.bf16_dots import use_float32_accumulating_bf16_dots  # noqa: PLC0415

    assert use_float32_accumulating_bf16_dots.cache_info().currsize == 1  # registered by the JAX step
    assert use_float32_accumulating_bf16_dots() is True  # idempotent: the registration's answer, kept


def _operands(lhs_shape, rhs_shape, seed=0):
    import jax.numpy as jnp  # noqa: PLC0415

    rng = np.random.default_rng(seed)  # positive values: no cancellation, so relative errors are meaningful
    return (jnp.asarray(rng.uniform(0.5, 1.5, lhs_shape), jnp.bfloat16),
            jnp.asarray(rng.uniform(0.5, 1.5, rhs_shape), jnp.bfloat16))


def _float32_product(lhs, rhs, dimension_numbers):
    """The product of the bfloat16 operands in float32 (numpy, via JAX's float32 product on float32 copies)."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    with jax.default_matmul_precision("highest"):
        return np.asarray(jax.lax.dot_general(lhs.astype(jnp.float32), rhs.astype(jnp.float32), dimension_numbers))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_bf16_products_round_the_float32_product_once(layout):
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    _register()
    lhs_shape, rhs_shape, dimension_numbers = LAYOUTS[layout]
    lhs, rhs = _operands(lhs_shape, rhs_shape)
    product = jax.jit(lambda a, b: jax.lax.dot_general(a, b, dimension_numbers))
    text = product.lower(lhs, rhs).as_text()
    assert "xf32>" in text.split("stablehlo.dot_general")[1].split("\n")[0]  # the product's result is float32
    assert "stablehlo.convert" in text
    assert ("optimization_barrier" in text) == (layout in ("TN", "TT", "batched, lhs contracted first",
                                                                 "TN, two contracted axes"))
    out = product(lhs, rhs)
    assert out.dtype == jnp.bfloat16
    expected = _float32_product(lhs, rhs, dimension_numbers)
    assert out.shape == expected.shape
    assert np.max(np.abs(np.asarray(out, np.float32) - expected) / expected) <= BF16_ULP / 2


def test_keras_layers_and_gradients_use_it():
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    _register()
    x, kernel = _operands((32, 24), (24, 16), seed=1)
    g = jnp.asarray(np.random.default_rng(2).uniform(0.5, 1.5, (32, 16)), jnp.float32)

    def loss(x, kernel):
        return jnp.sum(keras.ops.matmul(x, kernel).astype(jnp.float32) * g)

    grad_x, grad_kernel = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, kernel)
    # d/dx = g k^T, d/dk = x^T g: the cotangent g is rounded to bfloat16 first (the product's dtype)
    g16 = np.asarray(g.astype(jnp.bfloat16), np.float32)
    expected_x = g16 @ np.asarray(kernel, np.float32).T
    expected_kernel = np.asarray(x, np.float32).T @ g16
    assert np.max(np.abs(np.asarray(grad_x, np.float32) - expected_x) / expected_x) <= BF16_ULP / 2
    assert np.max(np.abs(np.asarray(grad_kernel, np.float32) - expected_kernel) / expected_kernel) <= BF16_ULP / 2


def test_other_products_are_lowered_as_jax_lowers_them():
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    _register()
    for dtype in (jnp.float32, jnp.float16):
        a = jnp.ones((8, 4), dtype)
        text = jax.jit(jnp.matmul).lower(a, a.T).as_text()
        assert "stablehlo.convert" not in text and "optimization_barrier" not in text, dtype
    mixed = jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32))
    text = mixed.lower(jnp.ones((8, 4), jnp.bfloat16), jnp.ones((4, 2), jnp.bfloat16)).as_text()
    assert "stablehlo.convert" not in text  # asked for a float32 result already: nothing to round
    np.testing.assert_array_equal(np.asarray(mixed(jnp.ones((8, 4), jnp.bfloat16), jnp.ones((4, 2), jnp.bfloat16))),
                                  np.full((8, 2), 4.0, np.float32))


def test_a_weight_gradient_leaves_the_product_in_the_weights_order():
    """JAX's transpose rule computes a weight's gradient as ``g^T x`` and transposes the result into the weight's
    order; the lowering computes ``x^T g`` and transposes back, so XLA cancels the two: the compiled function
    has one transpose (an operand copied into the kernel's order), none of the product's result."""
    import re  # noqa: PLC0415

    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    _register()
    g, x = _operands((32, 16), (32, 24), seed=3)
    numbers = (((0,), (0,)), ((), ()))
    gradient = jax.jit(lambda g, x: jnp.transpose(jax.lax.dot_general(g, x, numbers)))
    compiled = gradient.lower(g, x).compile().as_text()
    assert len(re.findall(r" transpose\(", compiled)) == 1, compiled
    assert re.search(r"f32\[24,16\]\S* fusion\(", compiled), compiled  # the float32 product is (24, 16) itself
    expected = _float32_product(g, x, numbers).T
    out = np.asarray(gradient(g, x), np.float32)
    assert out.shape == (24, 16)
    assert np.max(np.abs(out - expected) / expected) <= BF16_ULP / 2
