"""The shared P7 ranker: head, anchoring, loss terms and metrics, on top of a sequence encoder.

Subclasses (``TransformerP7Ranker``, ``LSTMP7Ranker``, ``FlatP7Ranker``) only define the sequence encoder. The
per-backend ``train_step``/``test_step`` come from ``p7keras.models.steps``; all of them call the one
``compute_terms`` below, so the loss is written once. Beside it in ``p7keras.models``: the batch contract and
its checks (``inputs``), the negative queue and bank (``negatives``), the teacher warm-up (``warmup``), the
default optimiser (``optimizer``) and saving / export (``saving``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from p7keras import losses
from p7keras.config import CONTEXT_KEY, DEFAULTS, loss_problems, model_problems, raise_problems
from p7keras.jit_compile import auto_jit_compile, tensorflow_sees_gpu
from p7keras.layers import SemanticAnchor
from p7keras.models.inputs import check_arrays, check_context_shape, context_of, unpack_batch
from p7keras.models.negatives import NegativePool
from p7keras.models.optimizer import default_optimizer
from p7keras.models.saving import write_saved_model
from p7keras.models.steps import BackendSteps
from p7keras.models.warmup import TeacherWarmup

# Everything the steps log, in the order the progress bar shows it (spec section 5).
METRIC_NAMES = (
    "loss",
    "loss_rank",
    "loss_margin",
    "loss_teacher",
    "cos_next",
    "cos_prev",
    "margin",
    "cos_anchor",
    "gate_weight_mean",
    "teacher_violations",
    "anchor_lambda",
)

# Loss hyperparameters: constructor argument -> default. They are passed to p7_combined_loss.
LOSS_PARAMETERS = {
    "temperature": DEFAULTS.temperature,
    "margin": DEFAULTS.margin,
    "w_rank": DEFAULTS.w_rank,
    "w_margin": DEFAULTS.w_margin,
    "w_teacher": DEFAULTS.w_teacher,
    "floor_threshold": DEFAULTS.floor_threshold,
    "gate_threshold": DEFAULTS.gate_threshold,
    "gate_weak_weight": DEFAULTS.gate_weak_weight,
    "gate_mode": DEFAULTS.gate_mode,
    "context_negatives": DEFAULTS.context_negatives,
}


class P7Ranker(BackendSteps, NegativePool, keras.Model):
    """Base class of the P7 rankers: maps contexts ``(B, K, D)`` to unit predictions ``(B, D)``.

    Args:
        context_length: K, the number of context chunks (>= 2).
        input_dim: D, the embedding width; inferred from the first batch when None.
        d_model: width of the sequence encoder and of the head.
        dropout: dropout rate inside the encoder.
        anchor_lambda: starting (or fixed) λ of the semantic anchor.
        anchor_lambda_min: lower bound of λ.
        anchor_lambda_max: upper bound of λ.
        anchor_learnable: train λ (True) or keep it fixed.
        anchor_mode: ``"mean"`` (context centroid) or ``"attention"``.
        warmup_epochs: epochs with the teacher term on (set per epoch by ``TeacherWarmup``).
        in_batch_negatives: use the batch's other targets as negatives.
        head: ``"mlp"`` (the spec's head) or ``"residual"``: the raw prediction is ``c_K + g(h)`` with the
            head's last Dense initialised to zero, so an untrained model predicts
            ``normalize(λ·c_K + (1−λ)·anchor)``.
        temperature, margin, w_rank, w_margin, w_teacher, floor_threshold, gate_threshold,
        gate_weak_weight, gate_mode: loss parameters of spec section 4.
        dtype: Keras' dtype policy, e.g. ``"mixed_bfloat16"`` (``p7keras.config.PRECISIONS`` for training,
            ``"bfloat16"`` for inference): the input projection, the sequence encoder and the head compute
            in it; the inputs, the final normalisation, the anchor and every loss term stay float32.
        context_negatives: which context chunks are InfoNCE negatives: ``"prev"`` (spec), ``"none"``, ``"older"``
            (the K−1 before ``c_K``), ``"all"``.
        negative_queue: N > 0 keeps the targets of the last N training samples (of earlier batches, first in,
            first out) as extra negatives of every sample (0: no queue). Its variables are built with D.
        negatives: ``"batch"`` (the spec's pool) or ``"corpus"``: every row of a bank of training chunks
            (``set_negative_bank``, before ``fit``) is an extra negative of every sample too, false negatives
            masked. The bank is not a weight and is not saved in ``.keras``.
        quantized: ``"int8"``: the model's Dense kernels are quantized once it is built (what ``get_config``
            of a model given to :meth:`quantize` says, so a quantized ``.keras`` file loads as saved).
    """

    MODEL_TYPE: str | None = None  # a subclass's name in p7keras.config.MODEL_TYPES (what --model-type takes)

    def __init__(
        self,
        context_length: int = DEFAULTS.context_length,
        input_dim: int | None = None,
        d_model: int = DEFAULTS.d_model,
        dropout: float = DEFAULTS.dropout,
        anchor_lambda: float = DEFAULTS.anchor_lambda,
        anchor_lambda_min: float = DEFAULTS.anchor_lambda_min,
        anchor_lambda_max: float = DEFAULTS.anchor_lambda_max,
        anchor_learnable: bool = DEFAULTS.anchor_learnable,
        anchor_mode: str = DEFAULTS.anchor_mode,
        warmup_epochs: int = DEFAULTS.warmup_epochs,
        in_batch_negatives: bool = True,
        head: str = DEFAULTS.head,
        negative_queue: int = DEFAULTS.negative_queue,
        negatives: str = DEFAULTS.negatives,
        quantized: str | None = None,
        **kwargs,
    ):
        loss_params = {name: kwargs.pop(name, default) for name, default in LOSS_PARAMETERS.items()}
        super().__init__(**kwargs)
        raise_problems(model_problems(context_length, d_model, dropout=dropout, input_dim=input_dim, head=head)
                       + loss_problems(warmup_epochs=warmup_epochs, negative_queue=negative_queue,
                                         negatives=negatives, **loss_params))
        self.context_length = int(context_length)
        self.input_dim = None if input_dim is None else int(input_dim)
        self.d_model = int(d_model)
        self.dropout = float(dropout)
        self.warmup_epochs = int(warmup_epochs)
        self.in_batch_negatives = bool(in_batch_negatives)
        self.head = str(head)
        self._init_negatives(negative_queue, negatives)
        self.loss_params = loss_params
        policy = self.dtype_policy  # the encoder's and the head's; the output path stays float32
        self.anchor = SemanticAnchor(
            dtype="float32",
            anchor_mode=anchor_mode,
            anchor_lambda=anchor_lambda,
            anchor_lambda_min=anchor_lambda_min,
            anchor_lambda_max=anchor_lambda_max,
            anchor_learnable=anchor_learnable,
            name="semantic_anchor",
        )
        self.teacher_active = self.add_weight(
            name="teacher_active",
            shape=(),
            initializer="ones" if self.warmup_epochs > 0 else "zeros",
            trainable=False,
        )
        self.input_projection = keras.layers.Dense(self.d_model, name="input_projection", dtype=policy)
        self.head_hidden = keras.layers.Dense(self.d_model, activation="relu", name="head_hidden", dtype=policy)
        self.head_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="head_norm", dtype=policy)
        self.head_output = None  # Dense(D), created once D is known
        self.head_unit = keras.layers.UnitNormalization(name="head_unit", dtype="float32")
        self._trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}
        if quantized not in (None, "int8"):
            raise ValueError(f"quantized must be None or 'int8', got {quantized!r}")
        self.quantized = quantized

    # ----------------------------------------------------------------------------------- shapes
    def _check_context_shape(self, shape, need_dim: bool = False) -> None:
        check_context_shape(shape, self.context_length, self.input_dim, type(self).__name__, need_dim)

    def build(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape[CONTEXT_KEY]
        self._check_context_shape(input_shape, need_dim=True)
        self.input_dim = int(input_shape[2])
        batch_shape = (None, self.context_length, self.input_dim)
        self.input_projection.build(batch_shape)
        encoded_shape = self._build_encoder((None, self.context_length, self.d_model))
        self.head_hidden.build((None, self.d_model))
        self.head_norm.build((None, self.d_model))
        # The residual head starts as the identity on c_K: its last layer is zero.
        zero = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
        initializers = zero if self.head == "residual" else {}
        self.head_output = keras.layers.Dense(self.input_dim, name="head_output", dtype=self.dtype_policy,
                                              **initializers)
        self.head_output.build((None, self.d_model))
        self.anchor.build((None, self.input_dim), batch_shape, encoded_shape)
        self._build_negative_queue(self.input_dim)
        self.built = True
        if self.quantized:
            self.quantize(self.quantized)  # a quantized model's file: its int8 weights load into int8 kernels

    @property
    def input_dtype(self):
        """Contexts enter in float32 under every policy (the anchor and the residual use them as given)."""
        return "float32"

    # ------------------------------------------------------------------------------ forward pass
    def _build_encoder(self, projected_shape):
        """Builds the sequence encoder; returns the shape of the encoded positions."""
        raise NotImplementedError

    def _encode(self, projected, training):
        """Encodes ``(B, K, d_model)``; returns ``(last_vector (B, d_model), positions (B, K, E))``."""
        raise NotImplementedError

    def call(self, inputs, training=None):
        context = context_of(inputs)
        self._check_context_shape(context.shape)
        last, encoded = self._encode(self.input_projection(context), training)
        raw = ops.cast(self.head_output(self.head_norm(self.head_hidden(last))), "float32")
        if self.head == "residual":
            raw = context[:, -1] + raw
        return self.anchor(self.head_unit(raw), context, encoded)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape[CONTEXT_KEY]
        return (input_shape[0], self.input_dim or input_shape[-1])

    @property
    def anchor_lambda(self) -> float:
        """The current λ of the semantic anchor."""
        return float(ops.convert_to_numpy(self.anchor.anchor_lambda))

    # ------------------------------------------------------------------------------ loss terms
    def _unpack_batch(self, data):
        context, target, hard_negatives = unpack_batch(data)
        self._check_context_shape(context.shape)
        return context, target, hard_negatives

    def compute_terms(self, data, training: bool = False, replica_negatives=None, replicas=None) -> dict:
        """Forward pass plus every loss term and metric of spec section 5 for one batch.

        Example:

            terms = model.compute_terms({"context": c, "target": y}, training=False)
            float(terms["margin"])

        Args:
            data: a batch in the contract of ``p7keras.models.inputs`` (dict, or ``(contexts, targets)``).
            training: run dropout.
            replica_negatives: ``(targets, mask)`` of the whole global batch when an engine split it across
                replicas (``mask`` False on this replica's own rows, already in-batch): the other replicas'
                targets join the pool, so in-batch negatives mean the global batch.
            replicas: ``(sum over replicas, replica count)`` with ``replica_negatives`` (see
                :func:`p7keras.losses.p7_combined_loss`).

        Returns:
            Dict of scalar tensors named as ``METRIC_NAMES``, plus ``batch_size``.
        """
        context, target, hard_negatives = self._unpack_batch(data)
        query = ops.cast(self(context, training=training), "float32")  # float32 under every dtype policy
        terms = losses.p7_combined_loss(
            query,
            context,
            target,
            hard_negatives,
            teacher_active=self.teacher_active,
            in_batch_negatives=self.in_batch_negatives,
            **self._shared_negatives(training, replica_negatives),
            replicas=replicas,
            **self.loss_params,
        )
        terms["anchor_lambda"] = self.anchor.anchor_lambda
        terms["batch_size"] = ops.cast(ops.shape(target)[0], "float32")
        return terms

    def loss_terms(self, batch, training: bool = False) -> dict[str, float]:
        """``compute_terms`` on in-memory arrays, as Python floats (for notebooks and tests).

        Args:
            batch: dict of arrays in the batch contract, or ``(contexts, targets)``.
            training: run dropout.

        Returns:
            Dict ``name -> float`` of every term and metric.
        """
        converted = keras.tree.map_structure(
            lambda a: None if a is None else ops.convert_to_tensor(np.asarray(a, "float32")), batch
        )
        terms = self.compute_terms(converted, training=training)
        return {name: float(ops.convert_to_numpy(value)) for name, value in terms.items()}

    # --------------------------------------------------------------------------------- metrics
    @property
    def metrics(self):
        return list(self._trackers.values())

    def _update_trackers(self, terms: dict) -> dict:
        """Adds one batch's terms to the epoch means (weighted by batch size); returns the logs."""
        logs = {}
        for name, tracker in self._trackers.items():
            tracker.update_state(terms[name], sample_weight=terms["batch_size"])
            logs[name] = tracker.result()
        return logs

    # ------------------------------------------------------------------------ compile, fit, I/O
    def compile(self, optimizer=None, loss=None, jit_compile="auto", **kwargs):
        """Compiles with the spec's optimiser unless told otherwise.

        ``compile()`` with no arguments gives ``default_optimizer()`` (AdamW(5e-4, weight decay 1e-4) clipped at
        global norm 1.0), and ``jit_compile="auto"``: Keras' choice (``jax.jit`` on JAX, eager on PyTorch, XLA on
        TensorFlow with a GPU), and XLA on a TensorFlow CPU too for the float32 transformer and flat rankers,
        where it was measured faster (:mod:`p7keras.jit_compile`). ``jit_compile=True`` is XLA on TensorFlow and
        ``torch.compile`` on PyTorch. The P7 loss is built in; ``loss`` must be None. The saved model keeps
        ``"auto"``, so a model loaded on another backend or machine decides again there.

        Args:
            optimizer: a Keras optimizer or its name; None for the default.
            loss: must be None (the model owns its loss).
            jit_compile: ``"auto"``, True or False.
            **kwargs: passed to ``keras.Model.compile``.
        """
        if loss is not None:
            raise ValueError("P7 rankers own their loss (p7_combined_loss); compile(loss=...) must be None")
        if optimizer is None:
            optimizer = default_optimizer()
        if jit_compile != "auto":
            self._jit_compile = bool(jit_compile)  # TensorFlow's setattr reads the old value: no "auto" to resolve
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if jit_compile == "auto":  # Keras records what "auto" resolved to here; the model decides again when loaded
            self._compile_config.config["jit_compile"] = "auto"

    def _resolve_auto_jit_compile(self):
        """Keras' ``"auto"`` (called by ``compile``), and XLA where :meth:`auto_jit_compile` says so: on
        TensorFlow, Keras' own rule keeps a CPU-only machine on the graph."""
        choice = super()._resolve_auto_jit_compile()
        if choice or keras.backend.backend() != "tensorflow":
            return choice
        from tensorflow.python.framework.config import is_op_determinism_enabled  # noqa: PLC0415 (as Keras checks)

        return bool(self.auto_jit_compile()[0]) and not is_op_determinism_enabled()

    def auto_jit_compile(self) -> tuple[bool | None, str]:
        """What ``jit_compile="auto"`` compiles for this model on this backend and machine, and why.

        Example:

            TransformerP7Ranker().auto_jit_compile()   # TensorFlow, no GPU: (True, "auto: XLA on TensorFlow's CPU ...")

        Returns:
            :func:`p7keras.jit_compile.auto_jit_compile` of the model's type, dtype policy, GPU and strategy:
            ``(True, reason)`` for XLA beyond Keras' rule, ``(None, reason)`` where Keras decides.
        """
        gpu = distributed = False
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415 (TensorFlow backend only)

            gpu = tensorflow_sees_gpu()
            distributed = bool(self._distribute_strategy) or tf.distribute.has_strategy()
        return auto_jit_compile(keras.backend.backend(), self.MODEL_TYPE, self.dtype_policy.name, gpu, distributed)

    def compile_from_config(self, config):
        """Re-compiles a loaded model with its saved optimizer (``.keras`` loading calls this)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _check_in_memory(self, x, y) -> None:
        check_arrays(x, y, self.context_length, self.input_dim, type(self).__name__)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        """``keras.Model.fit`` plus input checks and the teacher warm-up.

        A ``TeacherWarmup(warmup_epochs)`` (``p7keras.models.warmup``) is added unless ``callbacks`` holds one.
        """
        self._check_in_memory(x, y)
        self._check_negative_bank()
        callbacks = list(callbacks or [])
        if not any(isinstance(c, TeacherWarmup) for c in callbacks):
            callbacks.insert(0, TeacherWarmup(self.warmup_epochs))
        return super().fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks, **kwargs
        )

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_in_memory(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_in_memory(x, None)
        return super().predict(x, *args, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Exports a serving artifact; by default a SavedModel served by TensorFlow alone.

        Its ``serving_default`` signature (and ``serve`` endpoint) maps ``context`` ``(None, K, D)``
        float32 to ``{"prediction": (None, D)}``; its ``serve_one`` signature does the same for one sequence
        ``(1, K, D)``, compiled by XLA when written by TensorFlow in float32. PyTorch cannot write a SavedModel:
        there a TensorFlow child process exports it (:func:`p7keras.models.saving.write_saved_model`).

        Example:

            model.export("run/export")
            tf.saved_model.load("run/export").signatures["serving_default"](context=contexts)["prediction"]

        Args:
            filepath: output directory.
            format: as ``keras.Model.export``; other formats, an ``input_signature`` or ``kwargs`` go to
                ``keras.Model.export`` unchanged.
            verbose: print Keras' export summary.
            input_signature: as ``keras.Model.export``.
            **kwargs: passed to ``keras.Model.export``.
        """
        if format != "tf_saved_model" or input_signature is not None or kwargs:
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature,
                                  **kwargs)
        write_saved_model(self, filepath, verbose=bool(verbose))
        return None

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """``keras.Model.quantize`` of the Dense and EinsumDense layers (the only ones Keras quantizes).

        Example:

            model.quantize("int8")    # or p7keras.models.precision.reduced_precision(model, "int8"): a copy

        Args:
            mode: ``"int8"`` (the mode a saved p7keras model records and reloads); the other modes of
                ``keras.Model.quantize`` work in memory.
            config, filters, **kwargs: as ``keras.Model.quantize`` (default filter: Dense and EinsumDense).
        """
        dense = (keras.layers.Dense, keras.layers.EinsumDense)
        super().quantize(mode, config=config, filters=filters or (lambda layer: isinstance(layer, dense)), **kwargs)
        self.quantized = mode

    def get_config(self):
        config = {
            "name": self.name,
            "context_length": self.context_length,
            "input_dim": self.input_dim,
            "d_model": self.d_model,
            "dropout": self.dropout,
            "anchor_lambda": self.anchor.initial_lambda,
            "anchor_lambda_min": self.anchor.anchor_lambda_min,
            "anchor_lambda_max": self.anchor.anchor_lambda_max,
            "anchor_learnable": self.anchor.anchor_learnable,
            "anchor_mode": self.anchor.anchor_mode,
            "warmup_epochs": self.warmup_epochs,
            "in_batch_negatives": self.in_batch_negatives,
            "head": self.head,
            "negative_queue": self.negative_queue,
            "negatives": self.negatives,
        }
        config.update(self.loss_params)
        if self.dtype_policy.name != "float32":
            config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        if self.quantized:
            config["quantized"] = self.quantized
        return config
