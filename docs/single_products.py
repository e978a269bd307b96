"""Time the bench model's matrix products for one sequence with each backend's kernels, and with ONNX Runtime's.

One single-sequence prediction of the bench configuration (D 768, K 5, d_model 512, 4 layers) multiplies its
activations by every weight matrix once: 27 products of 1 or 5 rows (13.6M weights). This script times those
products alone (nothing else of the model), p50 of 300 calls of one compiled function, in float32, in bfloat16
(bfloat16 weights, the activations rounded to bfloat16 first; on JAX as p7keras lowers such products,
``p7keras.models.steps.bf16_dots``) and in int8 as Keras computes int8 on each backend (activations quantized
per row, an int8 x int8 -> int32 product: ``jnp.matmul(..., preferred_element_type=int32)`` on JAX,
``tf.matmul(..., output_type=int32)`` on TensorFlow, an int32 ``torch.matmul`` on a PyTorch CPU), and the same
products in ONNX Runtime (float32 and its dynamic int8, ``MatMulInteger``) when onnxruntime and onnx are
installed. What a backend's products cost here is a floor under
its single-sequence latency (README, Benchmarks).

    KERAS_BACKEND=jax python docs/single_products.py        # or tensorflow, torch
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

# (rows, inputs, outputs) of every product of one bench-model prediction: the input projection, three full
# encoder blocks (query, key, value, output, two feed-forward), the last block (key and value over 5 rows; query,
# output and feed-forward on the last row only) and the head.
PRODUCTS = ([(5, 768, 512)] + [(5, 512, 512)] * 4 * 3 + [(5, 512, 2048), (5, 2048, 512)] * 3
            + [(5, 512, 512)] * 2 + [(1, 512, 512)] * 2 + [(1, 512, 2048), (1, 2048, 512)]
            + [(1, 512, 512), (1, 512, 768)])
CALLS = 300


def p50_ms(fn) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((m, k)).astype(np.float32) for m, k, _ in PRODUCTS]
    ws = [(rng.standard_normal((k, n)) * 0.05).astype(np.float32) for _, k, n in PRODUCTS]
    return xs, ws


def int8(w: np.ndarray) -> np.ndarray:
    return np.clip(np.round(w / np.abs(w).max(axis=0) * 127), -127, 127).astype(np.int8)


def backend_products(backend: str, xs, ws) -> dict[str, float]:
    w8 = [int8(w) for w in ws]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def quantized(x):
            scale = 127 / jnp.max(jnp.abs(x), axis=-1, keepdims=True)
            return jnp.round(x * scale).astype(jnp.int8), scale

        from p7keras.models.steps.bf16_dots import use_float32_accumulating_bf16_dots

        use_float32_accumulating_bf16_dots()
        f32 = jax.jit(lambda xs, ws: [x @ w for x, w in zip(xs, ws)])
        b16 = jax.jit(lambda xs, ws: [x.astype(jnp.bfloat16) @ w for x, w in zip(xs, ws)])
        i8 = jax.jit(lambda xs, ws: [jnp.matmul(quantized(x)[0], w, preferred_element_type=jnp.int32).astype(
            jnp.float32) / quantized(x)[1] for x, w in zip(xs, ws)])
        jx, jw, jw8 = ([jnp.asarray(a) for a in arrays] for arrays in (xs, ws, w8))
        jw16 = [w.astype(jnp.bfloat16) for w in jw]
        return {"float32": p50_ms(lambda: jax.block_until_ready(f32(jx, jw))),
                "bfloat16": p50_ms(lambda: jax.block_until_ready(b16(jx, jw16))),
                "int8": p50_ms(lambda: jax.block_until_ready(i8(jx, jw8)))}
    if backend == "tensorflow":
        import tensorflow as tf

        tx, tw, tw8 = ([tf.constant(a) for a in arrays] for arrays in (xs, ws, w8))
        tw16 = [tf.cast(w, tf.bfloat16) for w in tw]

        @tf.function
        def f32():
            return [tf.matmul(x, w) for x, w in zip(tx, tw)]

        @tf.function
        def b16():
            return [tf.matmul(tf.cast(x, tf.bfloat16), w) for x, w in zip(tx, tw16)]

        @tf.function
        def i8():
            out = []
            for x, w in zip(tx, tw8):
                scale = 127 / tf.reduce_max(tf.abs(x), axis=-1, keepdims=True)
                q = tf.cast(tf.round(x * scale), tf.int8)
                out.append(tf.cast(tf.matmul(q, w, output_type=tf.int32), tf.float32) / scale)
            return out

        return {"float32": p50_ms(f32), "bfloat16": p50_ms(b16), "int8": p50_ms(i8)}
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    tx, tw, tw32 = [torch.from_numpy(a) for a in xs], [torch.from_numpy(a) for a in ws], \
        [torch.from_numpy(a).to(torch.int32) for a in w8]

    def i8():
        with torch.inference_mode():
            for x, w in zip(tx, tw32):
                scale = 127 / x.abs().amax(-1, keepdim=True)
                torch.matmul(torch.round(x * scale).to(torch.int32), w).float() / scale

    def f32():
        with torch.inference_mode():
            for x, w in zip(tx, tw):
                x @ w

    tw16 = [w.to(torch.bfloat16) for w in tw]

    def b16():
        with torch.inference_mode():
            for x, w in zip(tx, tw16):
                x.to(torch.bfloat16) @ w

    return {"float32": p50_ms(f32), "bfloat16": p50_ms(b16), "int8": p50_ms(i8)}


def onnx_products(xs, ws) -> dict[str, float]:
    import logging

    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import quantize_dynamic

    nodes, inputs, outputs, weights = [], [], [], []
    for i, ((m, k, n), w) in enumerate(zip(PRODUCTS, ws)):
        inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [m, k]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [m, n]))
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"x{i}", f"w{i}"], [f"y{i}"], name=f"product{i}"))
    model = helper.make_model(helper.make_graph(nodes, "products", inputs, outputs, weights),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    feed = {f"x{i}": x for i, x in enumerate(xs)}
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        float32, quantized = os.path.join(folder, "f32.onnx"), os.path.join(folder, "int8.onnx")
        onnx.save(model, float32)
        logging.disable(logging.WARNING)
        quantize_dynamic(float32, quantized, per_channel=True, reduce_range=True)
        for name, path in (("float32", float32), ("int8", quantized)):
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            result[name] = p50_ms(lambda: session.run(None, feed))
    return result


def main() -> None:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    xs, ws = data()
    weights = sum(k * n for _, k, n in PRODUCTS)
    print(f"{len(PRODUCTS)} products, {weights / 1e6:.1f}M weights, p50 of {CALLS} calls")
    for name, ms in backend_products(backend, xs, ws).items():
        print(f"{backend:<12} {name:<8} {ms:6.2f} ms")
    try:
        figures = onnx_products(xs, ws)
    except ImportError:
        print("onnxruntime  (not installed: pip install -e \".[onnx]\")")
        return
    for name, ms in figures.items():
        print(f"{'onnxruntime':<12} {name:<8} {ms:6.2f} ms")


if __name__ == "__main__":
    main()
