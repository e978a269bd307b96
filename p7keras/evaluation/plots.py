"""The report's plots as inline SVG (matplotlib's ``Figure``, no pyplot, no display needed).

:func:`recall_plot` draws recall at k per protocol for models and baselines; :func:`margin_plot` the
per-sequence margin histogram of each model. Both take an :func:`p7keras.evaluation.evaluate` result
and return an ``<svg>`` element the HTML page (:mod:`p7keras.evaluation.html_page`) embeds.

Example:

    result = evaluate(None, "corpus.npz")
    svg = recall_plot(result)          # '<svg ...>...</svg>'
"""

from __future__ import annotations

import io

from p7keras.evaluation.baselines import DIRECT, MEAN
from p7keras.evaluation.retrieval import PROTOCOLS
from p7keras.verdict import good_model_limits


def _svg(figure) -> str:
    """A matplotlib figure as an inline ``<svg>`` element."""
    buffer = io.StringIO()
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=no_metadata)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _series(result: dict):
    """(label, curves per protocol, style) of baselines (grey) then models (colours)."""
    styles = {DIRECT: dict(color="#555555", linestyle="--"), MEAN: dict(color="#999999", linestyle=":")}
    for name, curves in result["curves"]["baselines"].items():
        yield name, curves, {**styles.get(name, dict(color="#777777")), "linewidth": 1.8}
    for i, (name, curves) in enumerate(result["curves"]["models"].items()):
        yield name, curves, dict(color=f"C{i}", linestyle="-", linewidth=2.2, marker="o", markersize=3)


def recall_plot(result: dict) -> str:
    """Recall at k (k = 1 .. max) per protocol, models and baselines, as inline SVG."""
    from matplotlib.figure import Figure  # noqa: PLC0415 (no pyplot: no global backend state)

    ks = result["curves"]["k"]
    figure = Figure(figsize=(12, 3.8))
    axes = figure.subplots(1, len(PROTOCOLS), sharey=True)
    for ax, protocol in zip(axes, PROTOCOLS):
        drawn = False
        for label, curves, style in _series(result):
            if curves[protocol] is not None:
                ax.plot(ks, curves[protocol], label=label, **style)
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "unavailable:\nno article ids", ha="center", va="center", transform=ax.transAxes,
                    color="#777777")
        ax.set_title(protocol)
        ax.set_xlabel("k")
        ax.set_xlim(1, ks[-1])
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        for cutoff in (5, 10):
            ax.axvline(cutoff, color="#cccccc", linewidth=0.8, zorder=0)
    axes[0].set_ylabel("recall at k")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False,
                  bbox_to_anchor=(0.5, -0.08))
    return _svg(figure)


def margin_plot(result: dict) -> str:
    """Histogram of the per-sequence margin cos(q, y) - cos(q, c_K) of each model, as inline SVG."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(8, 3.4))
    ax = figure.subplots()
    for i, (name, model) in enumerate(result["models"].items()):
        hist = model["margin_histogram"]
        ax.stairs(hist["counts"], hist["edges"], label=name, color=f"C{i}", linewidth=2,
                  fill=len(result["models"]) == 1, alpha=0.35 if len(result["models"]) == 1 else 1.0)
        ax.axvline(model["directional"]["margin"], color=f"C{i}", linestyle="--", linewidth=1)
    ax.axvline(0, color="#333333", linewidth=1)
    good_margin = good_model_limits()["margin"][0]
    ax.axvline(good_margin, color="#2e7d32", linestyle=":", linewidth=1.2,
               label=f"good model mean >= {good_margin:.2f}")
    ax.set_xlabel("margin = cos(q, next) - cos(q, previous), per sequence (dashed: the mean)")
    ax.set_ylabel("sequences")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _svg(figure)
