"""The report's plots as inline SVG (matplotlib's ``Figure``, no pyplot, no display needed).

:func:`recall_plot` draws recall at k per protocol for models and baselines; :func:`margin_plot` the
per-sequence margin histogram of each model; :func:`diagnostic_curves_plot` the offset sweep and the
rollout of every query set, and :func:`ablation_plot` the order ablations, each with its 95% interval.
Each takes an :func:`p7keras.evaluation.evaluate` result and returns an ``<svg>`` element the HTML page
(:mod:`p7keras.evaluation.html_page`) embeds.

Example:

    result = evaluate(None, "corpus.npz")
    svg = recall_plot(result)          # '<svg ...>...</svg>'
"""

from __future__ import annotations

import io

from p7keras.evaluation.baselines import BASELINES, DIRECT, MEAN
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


def _style(i: int, name: str) -> dict:
    """Baselines grey and dashed, models in colour (as in :func:`recall_plot`)."""
    return {DIRECT: dict(color="#555555", linestyle="--"), MEAN: dict(color="#999999", linestyle=":")}.get(
        name, dict(color=f"C{i}", linestyle="-"))


def _error_bars(means: list, lows: list, highs: list) -> list[list[float]]:
    """Matplotlib's ``yerr`` (distances below and above) of means with intervals; 0 where one is missing."""
    below = [0.0 if None in (m, lo) else m - lo for m, lo in zip(means, lows)]
    above = [0.0 if None in (m, hi) else hi - m for m, hi in zip(means, highs)]
    return [below, above]


def diagnostic_curves_plot(result: dict) -> str:
    """The offset sweep and the rollout of every model and baseline (bars: 95% intervals), as inline SVG."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(12, 3.8))
    sweep_ax, rollout_ax = figure.subplots(1, 2)
    for i, (name, found) in enumerate(result["diagnostics"].items()):
        style = _style(i - len(BASELINES), name)
        for ax, section, xs in ((sweep_ax, found["offset_sweep"], found["offset_sweep"]["offsets"]),
                                (rollout_ax, found["rollout"], found["rollout"]["steps"])):
            ys = [float("nan") if v is None else v for v in section["mean_cos"]]
            ax.errorbar(xs, ys, yerr=_error_bars(section["mean_cos"], section["low"], section["high"]),
                        label=name, marker="o", markersize=3, capsize=3, linewidth=1.8, **style)
    sweep_ax.axvline(0, color="#2e7d32", linewidth=1, linestyle=":")
    sweep_ax.set_title("offset sweep (0 = the true next chunk, -1 = c_K)")
    sweep_ax.set_xlabel("offset from the true next chunk")
    rollout_ax.set_title("rollout (step h vs the true chunk h-1 after the target)")
    rollout_ax.set_xlabel("step")
    for ax in (sweep_ax, rollout_ax):
        ax.set_ylabel("mean cosine")
        ax.grid(alpha=0.3)
    handles, labels = sweep_ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False,
                  bbox_to_anchor=(0.5, -0.08))
    return _svg(figure)


def ablation_plot(result: dict, names: list[str]) -> str:
    """The change in cos-to-target of each order ablation per query set (bars: 95% paired intervals)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    found = result["diagnostics"]
    figure = Figure(figsize=(12, 3.6))
    ax = figure.subplots()
    width = 0.8 / max(1, len(found))
    for i, (name, diagnostics) in enumerate(found.items()):
        figures = [diagnostics["ablations"]["ablations"][a] for a in names]
        deltas = [f["delta_cos_target"] for f in figures]
        intervals = [f.get("delta_cos_target_interval") or [d, d] for f, d in zip(figures, deltas)]
        xs = [j + (i - (len(found) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, deltas, width=width, label=name, yerr=_error_bars(deltas, *zip(*intervals)), capsize=2,
               color=_style(i - len(BASELINES), name)["color"])
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("change in cos(prediction, next)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(frameon=False, ncol=min(len(found), 6))
    return _svg(figure)
