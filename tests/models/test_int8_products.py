"""Keras' int8 products on PyTorch's CPU through ``torch._int_mm`` (p7keras.models.steps.int8_products): the same
int32 values as Keras' own products, for the shapes an int8 model computes; every other product is Keras' own."""

import keras
import numpy as np
import pytest

from p7keras.models.steps.int8_products import INSTALLED, matrix_product_axes
from tests.helpers import cpuinfo_file

torch_only = pytest.mark.skipif(keras.backend.backend() != "torch", reason="the products are PyTorch's")


@pytest.fixture
def int_mm_calls(monkeypatch, tmp_path):
    """Counts ``torch._int_mm`` calls, with the products installed as on a CPU with AVX512-VNNI (this test's only)."""
    import torch  # noqa: PLC0415
    from keras.src.backend.torch import numpy as torch_numpy  # noqa: PLC0415

    from p7keras.models.steps.int8_products import use_int_mm_for_int8_products  # noqa: PLC0415

    monkeypatch.setattr(torch_numpy, "matmul", torch_numpy.matmul)  # whatever this machine had, back after the test
    monkeypatch.setattr(torch_numpy, "einsum", torch_numpy.einsum)
    assert use_int_mm_for_int8_products.__wrapped__(cpuinfo_file(tmp_path, "avx512_vnni")) is True
    calls = []
    int_mm = torch._int_mm

    def counted(a, b):
        calls.append((tuple(a.shape), tuple(b.shape)))
        return int_mm(a, b)

    monkeypatch.setattr(torch, "_int_mm", counted)
    return calls


def _int8(shape, seed):
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


def test_matrix_product_equations_are_recognised():
    assert matrix_product_axes("abc,cde->abde") == 1  # EinsumDense's query, key and value projections
    assert matrix_product_axes("abcd,cde->abe") == 2  # its output projection
    assert matrix_product_axes("ab, bc -> ac") == matrix_product_axes("abc,cd->abd") == 1
    for other in ("ab,cb->ac", "abc,acd->abd", "...b,bc->...c", "ab,bc", "ab,bc,cd->ad",
                  "aab,bc->aac", "abc,cde->adbe", "ab,cd->abcd"):
        assert matrix_product_axes(other) is None, other


@torch_only
@pytest.mark.parametrize("lhs, rhs", [((7, 24), (24, 5)), ((2, 5, 24), (24, 16)), ((1, 1, 3), (3, 1)),
                                      ((0, 8), (8, 4))])
def test_int8_matmul_gives_the_exact_int32_product(int_mm_calls, lhs, rhs):
    a, b = _int8(lhs, 0), _int8(rhs, 1)
    out = keras.ops.matmul(a, b)
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), a.astype(np.int64) @ b.astype(np.int64))
    assert len(int_mm_calls) == 1


@torch_only
@pytest.mark.parametrize("equation, lhs, rhs", [("abc,cde->abde", (2, 5, 24), (24, 4, 8)),
                                                ("abcd,cde->abe", (2, 5, 4, 8), (4, 8, 24))])
def test_int8_projection_einsum_gives_the_exact_int32_product(int_mm_calls, equation, lhs, rhs):
    a, b = _int8(lhs, 2), _int8(rhs, 3)
    out = keras.ops.einsum(equation, a, b)
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out),
                                  np.einsum(equation, a.astype(np.int64), b.astype(np.int64)))
    assert len(int_mm_calls) == 1


@torch_only
def test_other_products_are_keras_own(int_mm_calls):
    a, b = _int8((3, 4, 6), 4), _int8((3, 6, 2), 5)
    batched = keras.ops.einsum("abc,acd->abd", a, b)  # a batch axis: not one matrix product
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(batched),
                                  np.einsum("abc,acd->abd", a.astype(np.int64), b.astype(np.int64)))
    floats = keras.ops.matmul(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32))
    assert keras.backend.standardize_dtype(floats.dtype) == "float32"
    with pytest.raises((ValueError, RuntimeError)):  # mismatched shapes: Keras' own product says so
        keras.ops.matmul(_int8((2, 3), 6), _int8((4, 2), 7))
    assert int_mm_calls == []


@torch_only
def test_an_int8_model_predicts_what_keras_own_products_give(int_mm_calls, monkeypatch):
    """The ranker's int8 copy: exported graph and eager call use ``torch._int_mm``; the predictions are those of
    Keras' own int32 products (about 20x slower on a CPU in batch: README)."""
    from keras.src.backend.torch import numpy as torch_numpy  # noqa: PLC0415

    from p7keras.models.inference import CompiledPredict  # noqa: PLC0415
    from p7keras.models.precision import reduced_precision  # noqa: PLC0415
    from tests.helpers import rotation_batches  # noqa: PLC0415
    from tests.models.test_ranker import transformer  # noqa: PLC0415

    contexts = rotation_batches(n=6)["context"]
    model = transformer()
    model(contexts[:1])
    small = reduced_precision(model, "int8")
    compiled = CompiledPredict(small)(contexts)
    # Every int8 kernel: the input projection, four attention projections, two feed-forward layers per block...
    assert len(int_mm_calls) >= 7
    eager = keras.ops.convert_to_numpy(small(contexts, training=False))
    monkeypatch.setattr(torch_numpy, "matmul", torch_numpy.matmul.__wrapped__)
    monkeypatch.setattr(torch_numpy, "einsum", torch_numpy.einsum.__wrapped__)
    calls = len(int_mm_calls)
    keras_own = keras.ops.convert_to_numpy(small(contexts, training=False))
    assert len(int_mm_calls) == calls  # Keras' own products here
    np.testing.assert_allclose(eager, keras_own, atol=1e-6, rtol=0)
    np.testing.assert_allclose(compiled, keras_own, atol=1e-5, rtol=0)


@torch_only
def test_without_int_mm_keras_products_stay(monkeypatch, tmp_path):
    import torch  # noqa: PLC0415
    from keras.src.backend.torch import numpy as torch_numpy  # noqa: PLC0415

    from p7keras.models.steps.int8_products import use_int_mm_for_int8_products  # noqa: PLC0415

    installed = torch_numpy.matmul, torch_numpy.einsum
    monkeypatch.delattr(torch, "_int_mm")
    assert use_int_mm_for_int8_products.__wrapped__(cpuinfo_file(tmp_path, "amx_int8")) is False  # the uncached body
    assert (torch_numpy.matmul, torch_numpy.einsum) == installed


@torch_only
@pytest.mark.parametrize("flags", ["", "avx512bw amx_bf16", None])  # AVX-512F only, with AMX-BF16 but no VNNI, no file
def test_without_int8_dot_products_keras_products_stay(monkeypatch, tmp_path, flags):
    """On a CPU without AMX-INT8 or VNNI, ``torch._int_mm`` was 1.9-5.9x slower than Keras' int32 product (README)."""
    from keras.src.backend.torch import numpy as torch_numpy  # noqa: PLC0415

    from p7keras.models.steps.int8_products import use_int_mm_for_int8_products  # noqa: PLC0415

    for name in ("matmul", "einsum"):  # Keras' own functions, whatever this machine installed
        product = getattr(torch_numpy, name)
        monkeypatch.setattr(torch_numpy, name, product.__wrapped__ if hasattr(product, INSTALLED) else product)
    keras_own = torch_numpy.matmul, torch_numpy.einsum
    cpuinfo = str(tmp_path / "absent") if flags is None else cpuinfo_file(tmp_path, flags)
    assert use_int_mm_for_int8_products.__wrapped__(cpuinfo) is False
    assert (torch_numpy.matmul, torch_numpy.einsum) == keras_own


@torch_only
def test_installed_once_and_only_on_this_machine_when_its_cpu_has_int8_dot_products():
    from keras.src.backend.torch import numpy as torch_numpy  # noqa: PLC0415

    import p7keras.models.steps  # noqa: F401, PLC0415 (imports the PyTorch step, which installs them)
    from p7keras.machine import int8_cpu_flags  # noqa: PLC0415
    from p7keras.models.steps.int8_products import use_int_mm_for_int8_products  # noqa: PLC0415

    expected = bool(int8_cpu_flags())
    assert use_int_mm_for_int8_products() is expected
    assert hasattr(torch_numpy.matmul, INSTALLED) is expected
    assert hasattr(torch_numpy.einsum, INSTALLED) is expected
    if expected:  # a second installation wraps nothing twice
        wrapped = torch_numpy.matmul
        assert use_int_mm_for_int8_products.__wrapped__() is True and torch_numpy.matmul is wrapped
        assert not hasattr(wrapped.__wrapped__, INSTALLED)


def test_int8_cpu_flags_are_read_fromcpuinfo_file(tmp_path):
    from p7keras.machine import int8_cpu_flags  # noqa: PLC0415

    assert int8_cpu_flags(cpuinfo_file(tmp_path, "amx_tile amx_bf16 amx_int8 avx512_vnni")) == ("amx_int8", "avx512_vnni")
    assert int8_cpu_flags(cpuinfo_file(tmp_path, "avx_vnni")) == ("avx_vnni",)
    assert int8_cpu_flags(cpuinfo_file(tmp_path, "avx512f avx512_bf16")) == ()
    assert int8_cpu_flags(str(tmp_path / "absent")) == ()
