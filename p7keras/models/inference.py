"""Compiled prediction, one per backend: :class:`CompiledPredict` is ``model.predict`` without its overhead.

``CompiledPredict(model)(contexts)`` maps ``(B, K, D)`` float32 to ``(B, D)`` numpy, equal to
``model.predict`` (to float rounding), for one sequence as for a million:

* **TensorFlow**: one ``tf.function`` with the fixed signature ``(None, K, D)`` float32
  (``reduce_retracing``): traced once for every batch size. With ``compile_single=True`` and a model that computes
  in float32 (``int8`` quantized too), the one-sequence call runs a ``(1, K, D)`` ``tf.function`` compiled by XLA
  (about a second, on the first such call), for latency: on an AMX Xeon p50 3.8-5.3 ms against 7.5-8.1 for the graph
  (``p7keras bench``, README). A mixed-precision model keeps the graph (XLA was slower there). A model with Keras'
  int8 layers (``p7keras.models.precision.reduced_precision(model, "int8")``) runs every call under XLA instead,
  padded to buckets as on JAX: TensorFlow's graph multiplies int8 matrices about 25x slower than XLA on a CPU
  (batch-1024 about 200 against 5,000 sequences/s on the AMX Xeon, README).
* **JAX**: ``jax.jit`` of ``model.stateless_call`` on the variables' values, read once (and again only
  after a variable is assigned). Batches are padded to power-of-two buckets (1, 2, 4, ... up to
  ``chunk_size``), so it compiles once per bucket.
* **PyTorch**: the model exported once with ``torch.export`` (non-strict, the batch dimension
  dynamic) and run under ``torch.inference_mode``: one graph for every batch size and none of the
  Keras layer machinery per call. Its nodes that do nothing at run time (tensor-metadata assertions,
  ``.to`` to the dtype and device a tensor already has: 528 of the bench transformer's 727) are
  removed from the graph first (:func:`without_noop_nodes`). ``torch.compile`` of every batch size was
  measured and not kept (see ``TORCH_NOTE``); with ``compile_single=True`` the one-sequence call alone runs
  the graph compiled by ``torch.compile`` (Inductor, compiled on the first such call: 24 s for the bench
  transformer on 2 cores the first time, then from Inductor's on-disk cache), for latency (on an AMX Xeon
  p50 2.05 ms against 2.87-2.91 for the graph; README). A model ``torch.export`` cannot capture runs
  eagerly under ``torch.inference_mode``.

Inputs larger than ``chunk_size`` are predicted ``chunk_size`` rows at a time. ``traces`` counts the
compilations (the test of "one per bucket").

Example:

    predict = CompiledPredict(model)          # a built P7 ranker (or any keras.Model (B, K, D) -> (B, D))
    predict(contexts)                         # == model.predict(contexts), (B, D) float32
    predict.traces                            # TensorFlow 1, JAX one per bucket used, PyTorch 1
"""

from __future__ import annotations

import keras
import numpy as np

CHUNK_SIZE = 1024  # rows per compiled call; the largest bucket
TORCH_EXPORT_EXAMPLE_BATCH = 2  # an example batch of 1 would make torch.export specialise the dimension
TORCH_NOTE = (
    "torch.compile (inductor, per-bucket, dynamic=False) was measured against the exported graph on the "
    "bench configuration and did not pay: ~50 s compile per bucket on 2 cores for no lower latency"
)


def bucket_size(rows: int, chunk_size: int = CHUNK_SIZE) -> int:
    """The padded batch size of ``rows`` rows: the smallest power of two >= rows, at most ``chunk_size``.

    Example:

    >>> [bucket_size(n, 1024) for n in (1, 3, 1000, 1024)]
    [1, 4, 1024, 1024]

    Args:
        rows: rows in one call, 1 to ``chunk_size``.
        chunk_size: the largest bucket.

    Returns:
        The bucket size.
    """
    return min(1 << max(rows - 1, 0).bit_length(), chunk_size)


def padded_to_bucket(x: np.ndarray, chunk_size: int = CHUNK_SIZE) -> np.ndarray:
    """``x`` with copies of its last row appended up to :func:`bucket_size` rows (finite inputs; the rows of a
    prediction are independent, so the first ``len(x)`` results are ``x``'s).

    Example:

    >>> padded_to_bucket(np.arange(3.0)[:, None], 1024).ravel().tolist()
    [0.0, 1.0, 2.0, 2.0]

    Args:
        x: 1 to ``chunk_size`` rows.
        chunk_size: the largest bucket.

    Returns:
        ``x`` itself when it fills its bucket, else a padded copy.
    """
    size = bucket_size(len(x), chunk_size)
    if size == len(x):
        return x
    return np.concatenate([x, np.broadcast_to(x[-1:], (size - len(x), *x.shape[1:]))])


def _shape_of(model) -> tuple[int | None, int | None]:
    """(K, D) of a model: P7 attributes, else its ``(None, K, D)`` input shape, else unknown."""
    k, d = getattr(model, "context_length", None), getattr(model, "input_dim", None)
    if k is None and d is None:
        try:
            _, k, d = tuple(model.input_shape)
        except (AttributeError, ValueError, TypeError):
            return None, None
    return (None if k is None else int(k)), (None if d is None else int(d))


class CompiledPredict:
    """A ``model.predict``-compatible function compiled for the active backend.

    Every call predicts with the model's current weights (training further or loading weights needs no
    new function and compiles nothing again).

    Example:

        predict = CompiledPredict(model, chunk_size=1024)
        predict(contexts[:1])   # one sequence, no Keras predict overhead
        predict(contexts)       # many, 1024 at a time

    Args:
        model: a ``keras.Model`` mapping ``(B, K, D)`` to ``(B, D)``; built here on the first call if needed.
        chunk_size: rows per compiled call (>= 1); larger inputs are split.
        compile_single: run one-sequence calls compiled for them (compiled on the first one, once): PyTorch
            through ``torch.compile`` of the exported graph, TensorFlow through XLA (float32 models); other
            batch sizes run as before. JAX compiles every call already and ignores it.

    Attributes:
        backend: the Keras backend compiled for.
        mode: ``"tf.function"``, ``"tf.function+compile_single"``, ``"tf.function+xla"`` (int8 models),
            ``"jax.jit"``, ``"torch.export"``, ``"torch.export+compile_single"`` or ``"torch.eager"`` (fallback).
        traces: compilations so far.
        pads: whether calls are padded to :func:`bucket_size` buckets (JAX; int8 models on TensorFlow).
    """

    def __init__(self, model, chunk_size: int = CHUNK_SIZE, compile_single: bool = False):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.model = model
        self.chunk_size = int(chunk_size)
        self.compile_single = bool(compile_single)
        self.backend = keras.backend.backend()
        if self.backend not in _BUILDERS:
            raise ValueError(f"no compiled prediction for the {self.backend!r} backend")
        self.pads = self.backend == "jax"
        self.mode = None
        self.traces = 0
        self._run = None

    def _count_trace(self) -> None:
        self.traces += 1

    def __call__(self, contexts) -> np.ndarray:
        """Predictions for ``contexts``.

        Args:
            contexts: ``(B, K, D)`` array-like, cast to float32.

        Returns:
            ``(B, D)`` float32 numpy array.
        """
        x = np.ascontiguousarray(contexts, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"contexts must have shape (B, K, D); got shape {x.shape}")
        if self._run is None:
            if not self.model.built:
                self.model(x[:1])
            self._run = _BUILDERS[self.backend](self)
        if len(x) == 0:
            return np.zeros((0, _shape_of(self.model)[1] or x.shape[2]), dtype=np.float32)
        if len(x) <= self.chunk_size and not self.pads:
            return self._run(x)
        parts = [self._chunk(x[start : start + self.chunk_size]) for start in range(0, len(x), self.chunk_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        return self._run(padded_to_bucket(x, self.chunk_size) if self.pads else x)[: len(x)]


def _tensorflow(compiled: CompiledPredict):
    import tensorflow as tf

    from p7keras.config import CONTEXT_KEY

    model = compiled.model
    k, d = _shape_of(model)
    if has_int8_layers(model):  # Keras' int8 products: XLA is ~25x TensorFlow's graph (module docstring)
        compiled.pads, compiled.mode = True, "tf.function+xla"
        return _xla_by_batch_size(compiled, k, d)

    @tf.function(input_signature=[tf.TensorSpec((None, k, d), tf.float32, name=CONTEXT_KEY)],
                 reduce_retracing=True)
    def forward(context):
        compiled._count_trace()  # Python runs only while tracing
        return model(context, training=False)

    concrete = forward.get_concrete_function()  # called directly: no signature matching per call
    compiled.mode = "tf.function"

    def graph(x: np.ndarray) -> np.ndarray:
        return concrete(tf.constant(x)).numpy()

    if not (compiled.compile_single and model.dtype_policy.compute_dtype == "float32"):
        return graph
    compiled.mode = "tf.function+compile_single"
    xla = _xla_by_batch_size(compiled, k, d)
    return lambda x: xla(x) if len(x) == 1 else graph(x)


def _xla_by_batch_size(compiled: CompiledPredict, k: int | None, d: int | None):
    """The model's prediction under XLA, traced (and counted in ``traces``) once per batch size it is called
    with; XLA compiles each on its first call."""
    import tensorflow as tf  # noqa: PLC0415

    from p7keras.config import CONTEXT_KEY  # noqa: PLC0415

    model = compiled.model
    xla = tf.function(lambda context: model(context, training=False), jit_compile=True)
    by_size = {}

    def run(x: np.ndarray) -> np.ndarray:
        if len(x) not in by_size:
            by_size[len(x)] = xla.get_concrete_function(tf.TensorSpec((len(x), k, d), tf.float32, name=CONTEXT_KEY))
            compiled._count_trace()
        return by_size[len(x)](tf.constant(x)).numpy()

    return run


def has_int8_layers(model) -> bool:
    """Whether ``model`` computes with Keras' int8 quantization (``model.quantize("int8")``).

    Example:

        has_int8_layers(p7keras.models.precision.reduced_precision(model, "int8"))   # True

    Args:
        model: a ``keras.Model``.

    Returns:
        ``True`` when one of its variables is int8 (the kernels ``quantize("int8")`` stores).
    """
    return any(keras.backend.standardize_dtype(variable.dtype) == "int8" for variable in model.variables)


def _jax(compiled: CompiledPredict):
    import jax

    model = compiled.model
    variables = [*model.trainable_variables, *model.non_trainable_variables]
    split = len(model.trainable_variables)
    state = {"sources": None, "values": None}

    def forward(trainable, non_trainable, context):
        compiled._count_trace()  # Python runs only while tracing
        return model.stateless_call(trainable, non_trainable, context, training=False)[0]

    jitted = jax.jit(forward)

    def run(x: np.ndarray) -> np.ndarray:
        # The arrays the variables hold: Keras' ``Variable.value`` outside any scope, without its scope checks (the
        # bench model's 87 ``.value`` reads took about 70 us a call, ``_value`` 1 us; README "On a CPU with AMX").
        sources = [v._value for v in variables]
        if state["sources"] is None or any(a is not b for a, b in zip(sources, state["sources"])):
            # Read once, again only when a variable was assigned (fit, load_weights). Copies: Keras'
            # own predict and fit donate the variables' buffers, which would delete these.
            if jax.process_count() > 1:  # weights replicated over several processes: predict with a local copy
                values = [jax.device_put(np.asarray(value), jax.local_devices()[0]) for value in sources]
            else:
                values = [jax.numpy.array(value, copy=True) for value in sources]
            state.update(sources=sources, values=(values[:split], values[split:]))
        return np.asarray(jitted(*state["values"], x))

    compiled.mode = "jax.jit"
    return run


def _torch(compiled: CompiledPredict):
    import torch

    model = compiled.model
    k, d = _shape_of(model)
    call = None
    if k is not None and d is not None:
        example = keras.ops.convert_to_tensor(np.zeros((TORCH_EXPORT_EXAMPLE_BATCH, k, d), np.float32))
        try:
            call = exported_torch_graph(model, example)
            without_noop_nodes(call)
            compiled.mode = "torch.export"
        except Exception:  # noqa: BLE001 (a model torch.export cannot capture runs eagerly)
            call = None
    if call is None:
        compiled.mode = "torch.eager"

        def call(context):
            return model(context, training=False)

    compiled._count_trace()
    exported = compiled.mode == "torch.export"
    single = _compiled_single(compiled, call) if compiled.compile_single and exported else call

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return (single if len(x) == 1 else call)(keras.ops.convert_to_tensor(x)).cpu().numpy()

    return run


def _compiled_single(compiled: CompiledPredict, graph):
    """``graph`` for one sequence, compiled by ``torch.compile`` on its first call (counted in ``traces``)."""
    import torch  # noqa: PLC0415

    compiled.mode = "torch.export+compile_single"
    inductor = []

    def single(context):
        if not inductor:
            inductor.append(torch.compile(graph, dynamic=False))
            compiled._count_trace()
        return inductor[0](context)

    return single


def exported_torch_graph(model, example):
    """The model's prediction (``training=False``) exported with ``torch.export``, the batch dimension dynamic.

    Example:

        module = exported_torch_graph(model, torch.zeros((2, k, d)))   # a batch of 2: 1 would be specialised
        module(contexts)                                                # any batch size

    Args:
        model: a built Keras model on the PyTorch backend, ``(B, K, D) -> (B, D)``.
        example: an example input tensor, ``(B, K, D)`` with B >= 2.

    Returns:
        The exported program's ``torch.fx.GraphModule`` (``ExportedProgram.module()``), as exported.
    """
    import torch

    class Forward(torch.nn.Module):  # what torch.export takes
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, context):
            return self.model(context, training=False)

    program = torch.export.export(
        Forward(), (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), strict=False
    )
    return program.module()


def without_noop_nodes(module) -> int:
    """Removes from an exported PyTorch graph the nodes that do nothing when it runs; returns how many.

    ``torch.export`` records every ``aten._assert_tensor_metadata`` check and every ``.to`` that Keras' torch
    backend calls on its way (``convert_to_tensor`` and the layers' autocasting call ``.to(dtype)`` on tensors
    that already have that dtype): 264 and 264 of the 727 operations of the bench transformer's graph. The
    graph module runs each node as a Python call (several microseconds each), so they cost a single-sequence
    prediction 4-7 ms (p50 5.83-8.89 -> 1.94-2.13 ms at D 16, where the products cost nothing: four rounds of
    ``KERAS_BACKEND=torch python -m p7keras bench --what predict --dim 16 --d-model 16`` on a 2-core AMD EPYC,
    2026-12-05). A ``.to`` is removed only when its input already has the result's dtype, device and layout
    (no memory format, no ``copy=True``): a cast that changes the dtype (a ``mixed_bfloat16`` model's) stays.

    Example:

        module = exported_torch_graph(model, example)
        without_noop_nodes(module)     # the same results, fewer Python calls per prediction

    Args:
        module: a ``torch.fx.GraphModule`` from ``ExportedProgram.module()`` (its nodes carry ``meta["val"]``).

    Returns:
        The number of nodes removed (the module is recompiled in place).
    """
    import torch

    graph, removed = module.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        if node.target is torch.ops.aten._assert_tensor_metadata.default:
            graph.erase_node(node)
            removed += 1
        elif node.target.overloadpacket is torch.ops.aten.to and _same_tensor_kind(node):
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
            removed += 1
    if removed:
        graph.lint()
        module.recompile()
    return removed


def _same_tensor_kind(node) -> bool:
    """Whether a ``.to`` node's result has its input's dtype, device and layout (then it returns its input)."""
    import torch

    source = node.args[0] if node.args else None
    before = getattr(source, "meta", {}).get("val")
    after = node.meta.get("val")
    if not (isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor)):
        return False
    arguments = node.normalized_arguments(node.graph.owning_module, normalize_to_only_use_kwargs=True)
    if arguments is None:
        return False
    options = arguments.kwargs
    if options.get("copy", False) or options.get("memory_format") not in (None, torch.preserve_format):
        return False
    return (before.dtype, before.device, before.layout) == (after.dtype, after.device, after.layout)


_BUILDERS = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}
