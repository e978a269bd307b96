"""Named training recipes (``p7keras train --preset NAME``): settings on top of the spec's defaults.

A preset is data: ``TrainConfig`` fields and values. Flags given with ``--preset`` override it; the
run's ``config.json`` records the preset's name and every resolved value. ``p7keras tune --preset
NAME`` searches around it (its grid, :data:`PRESET_GRIDS`).

``real-text`` is the best recipe measured so far on real chunk embeddings (techprose and rustdocs,
MiniLM 384-d; the figures and commands are in ``docs/real-text.md``, and ``python -m tuner.study``
reruns the comparison): a small MLP over the flattened context that starts as DIRECT (residual head) and learns a
correction; the InfoNCE pool with the older context chunks but not the previous chunk, plus a queue of
4096 earlier targets, and no prev-repel term (on real text the next
chunk is as close to the previous chunk as that one is to the chunk before it, so pushing away from the
previous chunk pushes away from the target); almost no centroid anchoring; temperature 0.03 and
learning rate 5e-5 (the best of ``p7keras tune --preset real-text`` on techprose's validation articles);
model selection and early stopping on validation R@5 (the starting model, DIRECT, kept unless an epoch beats
it beyond noise). On unseen techprose articles it beats DIRECT by +0.0092 R@5 [+0.0026, +0.0162] (95%
article-clustered interval, seed 0); on rustdocs seed 1 by +0.040 [+0.022, +0.057] while seeds 0 and 2 keep
DIRECT; it does not pass the ship gate.

Example:

    from p7keras.training.presets import preset_settings
    preset_settings("real-text", {"epochs": 4})["epochs"]      # 4: a flag given with the preset wins
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "real-text": {
        "model_type": "flat",
        "d_model": 256,
        "head": "residual",
        "context_negatives": "older",
        "negative_queue": 4096,
        "w_margin": 0.0,
        "warmup_epochs": 0,
        "temperature": 0.03,
        "anchor_lambda_min": 0.95,
        "anchor_lambda_max": 1.0,
        "anchor_lambda": 1.0,
        "anchor_learnable": False,
        "learning_rate": 5e-5,
        "batch_size": 256,
        "epochs": 8,
        "select": "val_R@5",
        "patience": 3,
    },
}
# The grid ``p7keras tune --preset NAME`` searches when no --grid is given (tuner/spaces.py).
PRESET_GRIDS = {"real-text": "real-text"}


def preset_settings(name: str | None, given: dict) -> dict:
    """The ``TrainConfig`` settings of preset ``name`` with ``given`` (explicit flags) on top.

    Args:
        name: a key of :data:`PRESETS`, or None (no preset: ``given`` alone).
        given: the settings given explicitly.

    Returns:
        Field -> value, with ``preset`` set to ``name``.

    Raises:
        ValueError: an unknown preset.
    """
    if name is None:
        return dict(given)
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {name!r}")
    return {**PRESETS[name], **given, "preset": name}


def describe(name: str) -> str:
    """One line naming the preset and its settings (printed at the start of a run)."""
    return f"preset {name}: " + ", ".join(f"{k}={v}" for k, v in PRESETS[name].items())
