"""``default_callbacks()``: the set a P7 run wants, as a ``P7Callbacks`` list with named members."""

from __future__ import annotations

import math
import os
import typing

import keras

from p7keras.callbacks.best_checkpoint import BestModelCheckpoint
from p7keras.callbacks.history import HistoryWriter
from p7keras.callbacks.monitor import P7Monitor
from p7keras.callbacks.nan_guard import NaNGuard
from p7keras.callbacks.retrieval import RETRIEVAL_METRICS, RetrievalMetrics
from p7keras.config import DEFAULTS, SELECT_METRICS
from p7keras.models.warmup import TeacherWarmup

if typing.TYPE_CHECKING:
    from p7keras.data import SequenceSet

# Every ``Model.fit`` wraps its callbacks in a ``keras.callbacks.CallbackList``, which flattens them with Keras'
# tree module (optree, or torch's pytree on PyTorch). Both look node types up exactly, so an unregistered list
# subclass is a single leaf, and a plain ``keras.Model.fit(callbacks=P7Callbacks(...))`` would fail on it.
# Registered like Keras' own TrackedList, P7Callbacks flattens as a list. Keras 3 exports no register function
# (``keras.tree`` has none), so this is the one private Keras API p7keras uses; ``P7Ranker.fit`` passes a plain
# list to Keras and does not need it.
try:
    from keras.src.tree import register_tree_node_class as _register_tree_node
except ImportError:  # a Keras without it: only a non-P7 model's fit loses the flattening

    def _register_tree_node(cls):
        return cls


@_register_tree_node
class P7Callbacks(list):
    """A list of callbacks whose P7 members are reachable by name; pass it straight to ``model.fit``.

    Each named attribute is the list's first callback of that class (None when it holds none), so the
    names stay right after ``append``, ``extend``, ``+=`` or ``+`` (which returns a ``P7Callbacks``
    too, on either side). Keras flattens it like a plain list on every backend.

    Example:

        ```python
        callbacks = default_callbacks(warmup_epochs=2, run_dir="saved_models/run")
        callbacks += [keras.callbacks.TensorBoard("saved_models/run/tensorboard")]
        model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
        callbacks.monitor.verdict["status"], callbacks.best_checkpoint.best
        ```
    """

    def _first(self, cls: type) -> keras.callbacks.Callback | None:
        return next((c for c in self if isinstance(c, cls)), None)

    @property
    def warmup(self) -> TeacherWarmup | None:
        """The ``TeacherWarmup``."""
        return self._first(TeacherWarmup)

    @property
    def nan_guard(self) -> NaNGuard | None:
        """The ``NaNGuard``."""
        return self._first(NaNGuard)

    @property
    def monitor(self) -> P7Monitor | None:
        """The ``P7Monitor`` (its ``verdict`` after training)."""
        return self._first(P7Monitor)

    @property
    def retrieval(self) -> RetrievalMetrics | None:
        """The ``RetrievalMetrics`` (None without validation sequences)."""
        return self._first(RetrievalMetrics)

    @property
    def best_checkpoint(self) -> BestModelCheckpoint | None:
        """The ``BestModelCheckpoint`` (None without a run directory)."""
        return self._first(BestModelCheckpoint)

    @property
    def history_writer(self) -> HistoryWriter | None:
        """The ``HistoryWriter`` (None without a run directory)."""
        return self._first(HistoryWriter)

    def __add__(self, other) -> P7Callbacks:
        return type(self)([*self, *other])

    def __radd__(self, other) -> P7Callbacks:
        return type(self)([*other, *self])

    def __repr__(self) -> str:
        return f"P7Callbacks({list.__repr__(self)})"

    # the tree-node protocol of Keras' tree module (optree / dm-tree, then torch pytree)
    def tree_flatten(self):
        return list(self), None

    @classmethod
    def tree_unflatten(cls, metadata, children):
        return cls(children)

    def torchtree_flatten(self):
        return list(self), None

    @classmethod
    def torchtree_unflatten(cls, children, metadata):
        return cls(children)

    def torchtree_flatten_with_keys(self):
        from torch.utils import _pytree as torch_tree  # noqa: PLC0415 (torch backend only)

        return [(torch_tree.SequenceKey(i), c) for i, c in enumerate(self)], None


def default_callbacks(
    warmup_epochs: int = DEFAULTS.warmup_epochs,
    run_dir: str | None = None,
    history: dict | None = None,
    validation: SequenceSet | None = None,
    select: str = DEFAULTS.select,
    patience: int = DEFAULTS.patience,
) -> P7Callbacks:
    """The callbacks a P7 training run wants: (retrieval,) warm-up, NaN guard, monitor (+ run files).

    Example:

        ```python
        callbacks = default_callbacks(warmup_epochs=2, run_dir="saved_models/run",
                                      validation=splits.val, select="val_R@5", patience=3)
        model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
        callbacks.monitor.verdict["status"], callbacks.monitor.verdict["best_by"]
        ```

    Args:
        warmup_epochs: epochs with the teacher term on.
        run_dir: when given, also keep ``best.keras`` (highest ``select``) and ``history.json`` there.
        history: metrics of earlier epochs (a resumed run).
        validation: the validation ``SequenceSet``; when given, ``RetrievalMetrics`` comes first and logs
            ``val_R@5`` / ``val_MRR@10`` every epoch.
        select: the metric that picks the best epoch (one of ``p7keras.config.SELECT_METRICS``).
        patience: epochs without a new best ``select`` before training stops (0: never).

    Returns:
        A ``P7Callbacks`` list ``[(RetrievalMetrics,) TeacherWarmup, NaNGuard, P7Monitor, (BestModelCheckpoint,
        HistoryWriter)]`` with the attributes ``retrieval``, ``warmup``, ``nan_guard``, ``monitor``,
        ``best_checkpoint`` and ``history_writer`` (None when left out).

    Raises:
        ValueError: an unknown ``select``, or a retrieval ``select`` without ``validation``.
    """
    if select not in SELECT_METRICS:
        raise ValueError(f"select must be one of {SELECT_METRICS}, got {select!r}")
    if select in RETRIEVAL_METRICS and validation is None:
        raise ValueError(f"select {select!r} needs the validation sequences (validation=...) to compute it")
    callbacks = P7Callbacks([] if validation is None else [RetrievalMetrics(validation)])
    callbacks += [TeacherWarmup(warmup_epochs), NaNGuard(),
                  P7Monitor(warmup_epochs=warmup_epochs, history=history, select=select, patience=patience)]
    if run_dir is not None:
        previous = (history or {}).get(select) or []
        finite = [v for v in previous if math.isfinite(v)]
        callbacks.append(BestModelCheckpoint(os.path.join(run_dir, "best.keras"), monitor=select,
                                             best=max(finite, default=None)))
        callbacks.append(HistoryWriter(os.path.join(run_dir, "history.json"), history=history))
    return callbacks
