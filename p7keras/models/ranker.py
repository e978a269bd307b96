"""The shared P7 ranker: input checks, head, anchoring, loss terms, metrics and compile defaults.

Subclasses (``TransformerP7Ranker``, ``LSTMP7Ranker``) only define the sequence encoder. The
per-backend ``train_step``/``test_step`` come from ``p7keras.models.steps``; all of them call the one
``compute_terms`` below, so the loss is written once.

Batch contract (what ``fit``/``evaluate`` consume, produced by ``p7keras.data``):

* a dict ``{"context": (B, K, D), "target": (B, D), "hard_negatives": (B, M, D)}``
  (``hard_negatives`` optional), or
* ``x = contexts (B, K, D)`` with ``y = targets (B, D)`` (no hard negatives).

The previous chunk is ``context[:, -1]``. ``predict`` takes contexts ``(B, K, D)`` or such a dict.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

import keras
from keras import ops

from p7keras import losses
from p7keras import ops as p7ops
from p7keras.config import (
    CONTEXT_KEY,
    DEFAULTS,
    HARD_NEGATIVES_KEY,
    PREDICTION_KEY,
    SERVE_ENDPOINT,
    TARGET_KEY,
    loss_problems,
    model_problems,
    raise_problems,
)
from p7keras.layers import SemanticAnchor
from p7keras.models.steps import BackendSteps

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


class P7Ranker(BackendSteps, keras.Model):
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
        context_negatives: which context chunks are InfoNCE negatives: ``"prev"`` (spec), ``"none"``, ``"older"``
            (the K−1 before ``c_K``), ``"all"``.
        negative_queue: N > 0 keeps the targets of the last N training samples (of earlier batches, first in,
            first out) as extra negatives of every sample (0: no queue). Its variables are built with D.
        negatives: ``"batch"`` (the spec's pool) or ``"corpus"``: every row of a bank of training chunks
            (``set_negative_bank``, before ``fit``) is an extra negative of every sample too, false negatives
            masked. The bank is not a weight and is not saved in ``.keras``.
    """

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
        self.negative_queue = int(negative_queue)
        self.queue_vectors = self.queue_count = None  # built with D when negative_queue > 0
        self.negatives = str(negatives)
        self._negative_bank = None  # a backend tensor (not a variable: never saved), set_negative_bank
        self.loss_params = loss_params
        self.anchor = SemanticAnchor(
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
        self.input_projection = keras.layers.Dense(self.d_model, name="input_projection")
        self.head_hidden = keras.layers.Dense(self.d_model, activation="relu", name="head_hidden")
        self.head_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="head_norm")
        self.head_output = None  # Dense(D), created once D is known
        self.head_unit = keras.layers.UnitNormalization(name="head_unit")
        self._trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}

    # ----------------------------------------------------------------------------------- shapes
    def _context_shape_error(self, shape, problem: str) -> ValueError:
        expected = f"(batch, K={self.context_length}, D={self.input_dim or 'any'})"
        return ValueError(
            f"{type(self).__name__} expects contexts of shape {expected}; got shape "
            f"{tuple(shape)}: {problem}"
        )

    def _check_context_shape(self, shape) -> None:
        shape = tuple(shape)
        if len(shape) != 3:
            raise self._context_shape_error(shape, f"rank {len(shape)}, expected rank 3")
        if shape[1] is not None and shape[1] != self.context_length:
            raise self._context_shape_error(
                shape, f"context length K={shape[1]} but the model was built for K={self.context_length}"
            )
        if shape[2] is not None and self.input_dim is not None and shape[2] != self.input_dim:
            raise self._context_shape_error(
                shape, f"embedding width D={shape[2]} but the model was built for D={self.input_dim}"
            )

    @staticmethod
    def _context_of(inputs):
        if isinstance(inputs, dict):
            if CONTEXT_KEY not in inputs:
                raise KeyError(
                    f"batch dict has keys {sorted(inputs)}; the P7 batch contract needs "
                    f"'{CONTEXT_KEY}' (B, K, D) and '{TARGET_KEY}' (B, D)"
                )
            return inputs[CONTEXT_KEY]
        return inputs

    def build(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape[CONTEXT_KEY]
        self._check_context_shape(input_shape)
        if input_shape[2] is None:
            raise self._context_shape_error(input_shape, "D must be known to build the model")
        self.input_dim = int(input_shape[2])
        batch_shape = (None, self.context_length, self.input_dim)
        self.input_projection.build(batch_shape)
        encoded_shape = self._build_encoder((None, self.context_length, self.d_model))
        self.head_hidden.build((None, self.d_model))
        self.head_norm.build((None, self.d_model))
        # The residual head starts as the identity on c_K: its last layer is zero.
        zero = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
        initializers = zero if self.head == "residual" else {}
        self.head_output = keras.layers.Dense(self.input_dim, name="head_output", **initializers)
        self.head_output.build((None, self.d_model))
        self.anchor.build((None, self.input_dim), batch_shape, encoded_shape)
        if self.negative_queue:
            self.queue_vectors = self.add_weight(name="queue_vectors", shape=(self.negative_queue, self.input_dim),
                                                 initializer="zeros", trainable=False)
            self.queue_count = self.add_weight(name="queue_count", shape=(), initializer="zeros",
                                               trainable=False, dtype="int32")
        self.built = True

    # ------------------------------------------------------------------------------ forward pass
    def _build_encoder(self, projected_shape):
        """Builds the sequence encoder; returns the shape of the encoded positions."""
        raise NotImplementedError

    def _encode(self, projected, training):
        """Encodes ``(B, K, d_model)``; returns ``(last_vector (B, d_model), positions (B, K, E))``."""
        raise NotImplementedError

    def call(self, inputs, training=None):
        context = self._context_of(inputs)
        self._check_context_shape(context.shape)
        last, encoded = self._encode(self.input_projection(context), training)
        raw = self.head_output(self.head_norm(self.head_hidden(last)))
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
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            context = self._context_of(x)
            target = x.get(TARGET_KEY, y)
            hard_negatives = x.get(HARD_NEGATIVES_KEY)
        else:
            context, target, hard_negatives = x, y, None
        if target is None:
            raise ValueError(
                f"the batch has no target: pass a dict with '{TARGET_KEY}' (B, D) or fit(contexts, targets)"
            )
        self._check_context_shape(context.shape)
        return context, target, hard_negatives

    def compute_terms(self, data, training: bool = False, replica_negatives=None, replicas=None) -> dict:
        """Forward pass plus every loss term and metric of spec section 5 for one batch.

        Example:

            terms = model.compute_terms({"context": c, "target": y}, training=False)
            float(terms["margin"])

        Args:
            data: a batch in the contract of this module (dict, or ``(contexts, targets)``).
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
        query = self(context, training=training)
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

    def _shared_negatives(self, training: bool = False, replica_negatives=None) -> dict:
        """``p7_combined_loss``'s ``extra_negatives``/``extra_negative_mask``: the other replicas' targets,
        the queue's filled rows, then the negative bank's rows (``negatives="corpus"``).

        A training step without a bank raises; evaluation without one leaves the bank out.
        """
        parts = [] if replica_negatives is None else [tuple(replica_negatives)]
        if self.negative_queue:
            filled = ops.arange(self.negative_queue, dtype="int32") < ops.minimum(self.queue_count.value,
                                                                                   self.negative_queue)
            parts.append((self.queue_vectors.value, filled))
        if self.negatives == "corpus":
            if self._negative_bank is None:
                if training:
                    raise self._missing_bank_error()
            else:
                parts.append((self._negative_bank, None))
        if not parts:
            return {}
        if len(parts) == 1:
            return {"extra_negatives": parts[0][0], "extra_negative_mask": parts[0][1]}
        vectors = ops.concatenate([vectors for vectors, _ in parts], axis=0)
        mask = ops.concatenate([ops.ones((ops.shape(vectors)[0],), "bool") if keep is None else keep
                                for vectors, keep in parts], axis=0)
        return {"extra_negatives": vectors, "extra_negative_mask": mask}

    def _missing_bank_error(self) -> ValueError:
        return ValueError(f"{type(self).__name__} has negatives='corpus' but no negative bank: call "
                          "model.set_negative_bank(training_chunk_vectors) before fit")

    @property
    def negative_bank(self):
        """The bank of ``negatives="corpus"`` as a backend tensor ``(V, D)``, or None when none is set."""
        return self._negative_bank

    def set_negative_bank(self, vectors, max_bytes: int | None = None) -> None:
        """Sets the training chunks that ``negatives="corpus"`` adds to every sample's InfoNCE pool.

        The bank is a constant of the compiled steps (a backend tensor, not a variable): it is not saved in
        ``.keras``, so set it again on a loaded model before training it further. Setting it drops the
        compiled train/test functions, which are rebuilt with the new bank. ``train_step`` needs a bank;
        ``test_step`` (``evaluate``) uses it when one is set and leaves it out otherwise; ``predict`` never
        uses it. Rows equal to a sample's positive or to one of its context chunks are masked.

        Example:

            model = TransformerP7Ranker(negatives="corpus")
            model.set_negative_bank(splits.train.bank)    # (V, D) float32 unit rows
            model.fit(train_batches)

        Args:
            vectors: ``(V, D)`` chunk vectors of the training split (normalised in the loss), or None to
                remove the bank.
            max_bytes: the largest bank accepted, ``V × D × 4`` bytes (default
                ``DEFAULTS.negative_bank_max_bytes``, 2 GiB).

        Raises:
            ValueError: a model with ``negatives="batch"``, a bank of the wrong shape, with NaN/inf, or
                larger than ``max_bytes``.
        """
        if vectors is None:
            self._negative_bank = None
        else:
            if self.negatives != "corpus":
                raise ValueError(f"set_negative_bank needs negatives='corpus'; this model has "
                                 f"negatives={self.negatives!r}")
            shape = tuple(np.shape(vectors))
            if len(shape) != 2 or shape[0] < 1:
                raise ValueError(f"the negative bank must have shape (V >= 1, D); got {shape}")
            if self.input_dim is not None and shape[1] != self.input_dim:
                raise ValueError(f"the negative bank has D={shape[1]} but the model was built for "
                                 f"D={self.input_dim}")
            limit = DEFAULTS.negative_bank_max_bytes if max_bytes is None else int(max_bytes)
            size = shape[0] * shape[1] * 4
            if size > limit:
                raise ValueError(
                    f"the negative bank of {shape[0]} chunks x D={shape[1]} needs {size} bytes "
                    f"({size / 1024**3:.2f} GiB), more than negative_bank_max_bytes={limit} "
                    f"({limit / 1024**3:.2f} GiB): use --negatives batch with --negative-queue N instead"
                )
            vectors = np.asarray(vectors, dtype="float32")
            if not np.isfinite(vectors).all():
                raise ValueError("the negative bank holds NaN/inf values")
            self._negative_bank = ops.convert_to_tensor(vectors)
        # The compiled steps closed over the old bank (a constant): rebuild them on the next fit/evaluate.
        self.train_function = self.test_function = None

    def update_negative_queue(self, data) -> None:
        """Pushes a training batch's targets into the negative queue (first in, first out; every backend).

        The train steps call it after the loss, so a batch is never its own queued negative; ``test_step``
        never does. Slot ``j`` receives the last batch row ``i`` with ``(count + i) mod N == j``, so a batch
        larger than the queue keeps its last N targets. Nothing happens with ``negative_queue=0``.

        Example:

            model.update_negative_queue({"context": contexts, "target": targets})

        Args:
            data: a training batch in the contract of this module.
        """
        if not self.negative_queue:
            return
        _, target, _ = self._unpack_batch(data)
        size, queue, count = self.negative_queue, self.queue_vectors.value, self.queue_count.value
        batch = ops.cast(ops.shape(target)[0], "int32")
        offset = ops.mod(ops.arange(size, dtype="int32") - count, size)  # first batch row of slot j
        last = offset + size * ops.floor_divide(batch - 1 - offset, size)  # last batch row of slot j
        rows = ops.take(p7ops.l2_normalize(target), ops.clip(last, 0, batch - 1), axis=0)
        self.queue_vectors.assign(ops.where((offset < batch)[:, None], rows, queue))
        self.queue_count.assign(count + batch)

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

        ``compile()`` with no arguments gives AdamW(5e-4, weight decay 1e-4) clipped at global
        norm 1.0, and a compiled step (XLA on TensorFlow, ``jax.jit`` on JAX, ``torch.compile`` is
        opt-in with ``jit_compile=True`` on PyTorch). The P7 loss is built in; ``loss`` must be None.

        Args:
            optimizer: a Keras optimizer or its name; None for the default.
            loss: must be None (the model owns its loss).
            jit_compile: as ``keras.Model.compile``.
            **kwargs: passed to ``keras.Model.compile``.
        """
        if loss is not None:
            raise ValueError("P7 rankers own their loss (p7_combined_loss); compile(loss=...) must be None")
        if optimizer is None:
            optimizer = keras.optimizers.AdamW(
                learning_rate=DEFAULTS.learning_rate,
                weight_decay=DEFAULTS.weight_decay,
                global_clipnorm=DEFAULTS.global_clipnorm,
            )
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        """Re-compiles a loaded model with its saved optimizer (``.keras`` loading calls this)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _check_in_memory(self, x, y) -> None:
        """Checks numpy inputs of fit/evaluate/predict before any backend sees them."""
        arrays = dict(x) if isinstance(x, dict) else {CONTEXT_KEY: x}
        if y is not None:
            arrays[TARGET_KEY] = y
        if not all(isinstance(a, np.ndarray) for a in arrays.values()):
            return  # datasets and generators are checked by p7keras.data when loaded
        context = arrays.get(CONTEXT_KEY)
        if context is None:
            self._context_of(arrays)
        self._check_context_shape(context.shape)
        expected = {
            CONTEXT_KEY: (self.context_length, self.input_dim),
            TARGET_KEY: (self.input_dim,),
            HARD_NEGATIVES_KEY: (None, self.input_dim),
        }
        for key, array in arrays.items():
            if key not in expected:
                raise KeyError(f"unknown batch key {key!r}; the P7 batch contract has {sorted(expected)}")
            want = expected[key]
            if array.ndim != len(want) + 1 or any(
                w is not None and w != got for w, got in zip(want, array.shape[1:])
            ):
                shown = tuple("N" if w is None else w for w in want)
                raise ValueError(
                    f"'{key}' has shape {array.shape}; expected (batch,) + {shown} for this model"
                )
            if len(array) != len(context):
                raise ValueError(f"'{key}' has {len(array)} rows but '{CONTEXT_KEY}' has {len(context)}")
            if not np.issubdtype(array.dtype, np.floating):
                raise ValueError(f"'{key}' has dtype {array.dtype}; expected float32")
            bad = ~np.isfinite(array)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise ValueError(f"'{key}' holds {int(bad.sum())} NaN/inf values (first in row {row})")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        """``keras.Model.fit`` plus input checks and the teacher warm-up.

        A ``p7keras.callbacks.TeacherWarmup(warmup_epochs)`` is added unless ``callbacks`` holds one.
        """
        from p7keras.callbacks import TeacherWarmup  # noqa: PLC0415 (callbacks import models)

        self._check_in_memory(x, y)
        if self.negatives == "corpus" and self._negative_bank is None:
            raise self._missing_bank_error()
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
        float32 to ``{"prediction": (None, D)}``. PyTorch cannot write a SavedModel: there the model is
        saved to a temporary ``.keras`` file and exported by a TensorFlow child process
        (``p7keras.export``).

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
        if keras.backend.backend() == "torch":
            from p7keras.export import export_saved_model  # p7keras.export imports models

            with tempfile.TemporaryDirectory() as folder:
                saved = os.path.join(folder, "model.keras")
                self.save(saved)
                export_saved_model(saved, filepath)
            return None
        import tensorflow as tf  # TensorFlow only to export

        archive = keras.export.ExportArchive()
        archive.track(self)
        spec = tf.TensorSpec((None, self.context_length, self.input_dim), tf.float32, name=CONTEXT_KEY)

        def serve(context):
            return {PREDICTION_KEY: self(context, training=False)}

        archive.add_endpoint(SERVE_ENDPOINT, serve, input_signature=[spec])
        archive.write_out(os.fspath(filepath), verbose=bool(verbose))
        return None

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
        return config
