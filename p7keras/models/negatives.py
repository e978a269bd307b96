"""The extra InfoNCE negatives a ranker shares across every sample: the negative queue and the negative bank.

``NegativePool`` is a mixin of ``P7Ranker`` (beside ``BackendSteps``), holding their state and the
public methods ``set_negative_bank``, ``update_negative_queue`` and ``negative_bank``:

* the queue (``negative_queue=N > 0``): the targets of the last N training samples (of earlier batches, first
  in, first out), two non-trainable variables built with D, saved in ``.keras``;
* the bank (``negatives="corpus"``): every training chunk, a backend tensor (not a variable, never saved),
  set with ``set_negative_bank`` before ``fit``.

The model's ``compute_terms`` passes :meth:`NegativePool._shared_negatives` to ``p7_combined_loss``.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from p7keras import ops as p7ops
from p7keras.config import DEFAULTS


class NegativePool:
    """Mixin of ``P7Ranker``: the negative queue and the negative bank (see the module docstring).

    The model calls ``_init_negatives`` in its constructor and ``_build_negative_queue`` in ``build``;
    the mixin reads the model's ``input_dim``, ``_unpack_batch`` and ``add_weight``.
    """

    def _init_negatives(self, negative_queue: int, negatives: str) -> None:
        self.negative_queue = int(negative_queue)
        self.queue_vectors = self.queue_count = None  # built with D when negative_queue > 0
        self.negatives = str(negatives)
        self._negative_bank = None  # a backend tensor (not a variable: never saved), set_negative_bank

    def _build_negative_queue(self, input_dim: int) -> None:
        if self.negative_queue:
            self.queue_vectors = self.add_weight(name="queue_vectors", shape=(self.negative_queue, input_dim),
                                                 initializer="zeros", trainable=False)
            self.queue_count = self.add_weight(name="queue_count", shape=(), initializer="zeros",
                                               trainable=False, dtype="int32")

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
                    self._check_negative_bank()
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

    def _check_negative_bank(self) -> None:
        """Raises before training when ``negatives="corpus"`` has no bank."""
        if self.negatives == "corpus" and self._negative_bank is None:
            raise ValueError(f"{type(self).__name__} has negatives='corpus' but no negative bank: call "
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
            data: a training batch in the contract of ``p7keras.models.inputs``.
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
