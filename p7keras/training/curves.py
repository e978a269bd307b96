"""``curves.png``: margin, cos_next, cos_prev, cos_anchor, λ and gate weight by epoch.

Epochs are ticked at whole numbers; the margin, cos_next and cos_anchor panels carry dashed lines at
the PASS and MARGINAL levels of the verdict (``p7keras.config.DEFAULTS``).

Example:

    ```python
    plot_curves({"margin": [0.1, 0.2], "val_margin": [0.1, 0.3]}, "curves.png")
    ```
"""

from __future__ import annotations

import os

from p7keras.config import DEFAULTS

PANELS = ("margin", "cos_next", "cos_prev", "cos_anchor", "anchor_lambda", "gate_weight_mean")
# Panel -> (level, threshold, colour) of the dashed verdict lines (the val_ value is judged).
THRESHOLD_LINES = {
    "margin": (("PASS", DEFAULTS.pass_margin, "#2e7d32"), ("MARGINAL", DEFAULTS.marginal_margin, "#ef6c00")),
    "cos_next": (("PASS", DEFAULTS.pass_cos_next, "#2e7d32"), ("MARGINAL", DEFAULTS.marginal_cos_next, "#ef6c00")),
    "cos_anchor": (("PASS", DEFAULTS.pass_cos_anchor, "#2e7d32"),
                   ("MARGINAL", DEFAULTS.marginal_cos_anchor, "#ef6c00")),
}
THRESHOLD_GID = "p7-threshold"  # the ``gid`` of every threshold line (``<gid>:<level>``)


def curves_figure(history: dict):
    """Builds the curves figure of ``history`` (a ``matplotlib.figure.Figure``, no pyplot state).

    Example:

        ```python
        figure = curves_figure({"val_margin": [0.1, 0.3]})
        figure.axes[0].get_xticks()  # whole epochs only
        ```

    Args:
        history: metric name -> per-epoch values (Keras ``History.history`` layout).

    Returns:
        The figure: one panel per name of ``PANELS`` (in that order), epochs on the x axis from 1.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415 (plotting is optional at import time)
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    epochs = max((len(history.get(k) or ()) for name in PANELS for k in (name, f"val_{name}")), default=0)
    fig = Figure(figsize=(13, 7), constrained_layout=True)
    axes = fig.subplots(2, 3)
    for ax, name in zip(axes.flat, PANELS):
        for key, style in ((name, "-o"), (f"val_{name}", "--s")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, markersize=3, label=key)
        for level, threshold, color in THRESHOLD_LINES.get(name, ()):
            ax.axhline(threshold, color=color, linestyle=(0, (6, 4)), linewidth=1, alpha=0.8,
                       label=f"{level} >= {threshold:.2f}", gid=f"{THRESHOLD_GID}:{level}")
        ax.set_title("λ (anchor_lambda)" if name == "anchor_lambda" else name)
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, max(epochs, 1) + 0.5)  # half an epoch either side: one epoch gets its own tick
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle("P7 training curves")
    return fig


def plot_curves(history: dict, path: str | os.PathLike) -> str:
    """Draws the training and validation curves of ``history`` into a PNG (written atomically).

    Example:

        ```python
        plot_curves({"margin": [0.1, 0.2], "val_margin": [0.1, 0.3]}, "curves.png")
        ```

    Args:
        history: metric name -> per-epoch values (Keras ``History.history`` layout).
        path: the PNG to write.

    Returns:
        ``path`` as a string.
    """
    from p7keras.io import atomic_path  # noqa: PLC0415

    fig = curves_figure(history)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    return os.fspath(path)
