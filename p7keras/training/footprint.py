"""What a training run will write to disk, estimated from its settings before Keras loads.

:func:`parameter_count` counts the model's weights from ``TrainConfig`` and D with the layers' own formulas
(Dense, LayerNormalization, MultiHeadAttention, LSTM: ``tests/training/test_footprint.py`` checks it
against Keras' ``count_params`` for every model type, head and anchor mode). :func:`disk_need` turns it into
the files of a run, each named, and :func:`check_room` refuses a folder without that much free space.

Sizes, in float32 copies of the weights ``W`` (measured on a tiny run: ``best.keras`` 1.2 W, ``final.keras``
3.3 W; the README's default run: 1 W, 3 W and 2 W for the SavedModel):

* ``best.keras``: the weights only (W), rewritten at every better epoch;
* ``final.keras``: weights and AdamW's two moments (3 W);
* the training backup (``backup/``, Keras' ``BackupAndRestore``): the last two epochs, 3 W each;
* the SavedModel export (2 W: Keras' export stores every weight twice on TensorFlow, keras-team/keras#23553;
  and its graph; none with ``--no-export``);
* one file being written beside the one it replaces (atomic writes): the largest, 3 W;
* logs and plots: JSON files, ``curves.png``, TensorBoard scalars (a fixed part and a part per epoch);

plus 25 % for what the estimate cannot see.

Example:

>>> need = disk_need(TrainConfig(d_model=16, num_heads=2, num_layers=1, ff_dim=32, export=False), input_dim=16)
>>> "export" in need.parts, need.notes, need.total < 4 * 2**20
(False, ('no export (--no-export)',), True)
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from p7keras.config import DEFAULTS
from p7keras.training.config import TrainConfig

FLOAT = 4  # bytes of a float32 weight
FILE_OVERHEAD = 256 * 2**10  # a .keras archive's config and zip entries, an HDF5 file's headers (120 KB measured)
EXPORT_GRAPH = 512 * 2**10  # a SavedModel's graph (saved_model.pb, 180 KB for a one-block model) ...
EXPORT_GRAPH_PER_LAYER = 128 * 2**10  # ... and what each further encoder layer adds
LOGS = 1 * 2**20  # config/state/verdict JSON, curves.png (about 100 KB), TensorBoard's first records
LOGS_PER_EPOCH = 16 * 2**10  # history.json and TensorBoard scalars of one epoch (about 6 KB measured)
MARGIN = 0.25


def _dense(inputs: int, units: int) -> int:
    return inputs * units + units


def parameter_count(config: TrainConfig, input_dim: int) -> tuple[int, int]:
    """``(all weights, trainable weights)`` of the model ``config`` describes for vectors of D = ``input_dim``.

    Example:

    >>> parameter_count(TrainConfig(d_model=16, num_heads=2, num_layers=1, ff_dim=32, context_length=4), 16)
    (3138, 3137)

    Args:
        config: the run's settings (model type, sizes, head, anchor, negative queue).
        input_dim: D, the width of the chunk vectors.

    Returns:
        Both counts (the negative queue and the teacher switch are weights that are not trained).
    """
    d, k, dim = config.d_model, config.context_length, int(input_dim)
    trainable = _dense(dim, d) + _dense(d, d) + 2 * d + _dense(d, dim)  # input projection and the head
    if config.model_type == "transformer":
        layers = config.num_layers or DEFAULTS.num_layers
        block = 4 * _dense(d, d) + 2 * (2 * d) + _dense(d, config.ff_dim) + _dense(config.ff_dim, d)
        trainable += k * d + layers * block  # learned positions, then the encoder blocks
    elif config.model_type == "lstm":
        layers = config.num_layers or DEFAULTS.lstm_layers
        trainable += layers * 4 * (2 * d * d + d)  # kernel, recurrent kernel and bias of four gates
    else:  # flat: one Dense over the K projected positions
        trainable += _dense(k * d, d)
    if config.anchor_mode == "attention":
        trainable += _dense(d, 1)  # the anchor's score of each encoded position
    anchor = 1 if config.anchor_learnable else 0
    fixed = 1 + (1 - anchor) + (config.negative_queue * dim + 1 if config.negative_queue else 0)
    return trainable + anchor + fixed, trainable + anchor


@dataclasses.dataclass
class DiskNeed:
    """The bytes a run needs at its peak, by part (``parts``), and with the margin (``total``)."""

    parts: dict[str, int]
    weights: int  # parameters counted
    notes: tuple[str, ...] = ()  # what was left out, and why

    @property
    def counted(self) -> int:
        return sum(self.parts.values())

    @property
    def total(self) -> int:
        return int(self.counted * (1 + MARGIN))

    def describe(self) -> str:
        """``best.keras 0.3 + final.keras 0.9 + ... MiB for 69,666 weights, + 25% margin; no export (--no-export)``."""
        shown = " + ".join(f"{name} {size / 2**20:.1f}" for name, size in self.parts.items())
        return "; ".join([f"{shown} MiB for {self.weights:,} weights, + {MARGIN:.0%} margin", *self.notes])


def disk_need(config: TrainConfig, input_dim: int) -> DiskNeed:
    """The disk room a run of ``config`` on D = ``input_dim`` vectors needs at its peak, by file.

    Example:

        disk_need(TrainConfig(), 768).describe()
        # 'best.keras 52.4 + final.keras 156.6 + backup (2 epochs) 313.3 + ... + export 104.8 MiB for 13,663,490 ...'

    Args:
        config: the run's settings (``export``, ``epochs`` and the model's sizes matter).
        input_dim: D.

    Returns:
        A :class:`DiskNeed`.
    """
    weights, trainable = parameter_count(config, input_dim)
    plain = weights * FLOAT + FILE_OVERHEAD
    with_optimizer = (weights + 2 * trainable) * FLOAT + FILE_OVERHEAD  # AdamW: two moments per trained weight
    layers = config.num_layers or (DEFAULTS.num_layers if config.model_type == "transformer" else DEFAULTS.lstm_layers)
    parts = {
        "best.keras": plain,
        "final.keras": with_optimizer,
        "backup (2 epochs)": 2 * with_optimizer,
        "a file being replaced": with_optimizer,
        "logs and plots": LOGS + LOGS_PER_EPOCH * config.epochs,
    }
    if config.export:
        parts["export"] = 2 * weights * FLOAT + EXPORT_GRAPH + EXPORT_GRAPH_PER_LAYER * max(layers - 1, 0)
    return DiskNeed(parts, weights, () if config.export else ("no export (--no-export)",))


def _existing(folder: Path) -> Path:
    """``folder`` or its nearest existing parent (where the disk's free space can be asked)."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_room(folder: str | Path, need: DiskNeed, shown: str | None = None) -> None:
    """Raises ``ValueError`` (one line, exit code 2) when ``folder``'s disk has less free space than ``need``.

    Example:

        check_room("saved_models", disk_need(config, 768))
        # ValueError: output folder saved_models has 3 MiB free; this run needs about 800 MiB (best.keras ...)

    Args:
        folder: the output folder (it need not exist yet: its nearest existing parent is asked).
        need: the run's :class:`DiskNeed`.
        shown: the folder as the message names it (default ``folder``).
    """
    free = shutil.disk_usage(_existing(Path(folder))).free
    if free < need.total:
        raise ValueError(f"output folder {shown or folder} has {free / 2**20:.0f} MiB free; this run needs about "
                         f"{need.total / 2**20:.0f} MiB ({need.describe()})")
