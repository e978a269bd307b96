"""``curves.png``: margin, cos_next, cos_prev, cos_anchor, λ and gate weight by epoch."""

from __future__ import annotations

import os

PANELS = ("margin", "cos_next", "cos_prev", "cos_anchor", "anchor_lambda", "gate_weight_mean")


def plot_curves(history: dict, path: str | os.PathLike) -> str:
    """Draws the training and validation curves of ``history`` into a PNG (written atomically).

    Example:

    >>> plot_curves({"margin": [0.1, 0.2], "val_margin": [0.1, 0.3]}, "curves.png")  # doctest: +SKIP

    Args:
        history: metric name -> per-epoch values (Keras ``History.history`` layout).
        path: the PNG to write.

    Returns:
        ``path`` as a string.
    """
    import matplotlib  # noqa: PLC0415 (plotting is optional at import time)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from p7keras.io import atomic_path  # noqa: PLC0415

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for ax, name in zip(axes.flat, PANELS):
        for key, style in ((name, "-o"), (f"val_{name}", "--s")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, markersize=3, label=key)
        ax.set_title("λ (anchor_lambda)" if name == "anchor_lambda" else name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle("P7 training curves")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return os.fspath(path)
