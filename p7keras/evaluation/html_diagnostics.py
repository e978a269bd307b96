"""The diagnostic battery on the HTML page: its plots and tables, with every interval.

:func:`diagnostics_section` renders ``result["diagnostics"]`` (:mod:`p7keras.evaluation.battery`) for the
page of :mod:`p7keras.evaluation.html_page`: the offset sweep and the rollout as curves with 95%
intervals, the order ablations as bars and a table (change in cos-to-target and in R@5, each with its
paired interval), retrieval within the article and the coherence bins.

Example:

    html = diagnostics_section(evaluate(model, "corpus.npz"))
"""

from __future__ import annotations

import html

from p7keras.evaluation.diagnostics import RECALL_SHOWN
from p7keras.evaluation.diagnostics_report import ablation_names
from p7keras.evaluation.plots import ablation_plot, diagnostic_curves_plot

WITHIN_METRICS = ("R@1", "R@5", "R@10", "MRR@10")


def _e(value) -> str:
    return html.escape(str(value))


def _shown(value: float | None, interval: list | None, signed: bool = True, digits: int = 3) -> str:
    """A figure and its interval: ``+0.071 [+0.060, +0.082]``."""
    if value is None:
        return "n/a"
    number = f"{{:{'+' if signed else ''}.{digits}f}}".format
    shown = number(value)
    if interval and None not in interval:
        shown += f" <span class='ci'>[{number(interval[0])}, {number(interval[1])}]</span>"
    return shown


def _interval(value: float | None, interval: list | None, signed: bool = True) -> str:
    return "<td class='na'>n/a</td>" if value is None else f"<td>{_shown(value, interval, signed)}</td>"


def _header(names) -> str:
    return "<tr><th class='name'></th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"


def _ablation_table(found: dict, names: list[str]) -> str:
    rows = [_header(found)]
    for ablation in names:
        first = next(iter(found.values()))["ablations"]["ablations"][ablation]
        cells = []
        for d in found.values():
            f = d["ablations"]["ablations"][ablation]
            recall = _shown(f[f"delta_{RECALL_SHOWN}"], f.get(f"delta_{RECALL_SHOWN}_interval"), digits=4)
            cells.append(f"<td>{_shown(f['delta_cos_target'], f.get('delta_cos_target_interval'))}<br>"
                         f"<span class='ci'>{RECALL_SHOWN} {recall}</span></td>")
        rows.append(f"<tr><td class='name' title='{_e(first['definition'])}'>{_e(ablation)}</td>{''.join(cells)}</tr>")
    return "<table class='diag'>" + "".join(rows) + "</table>"


def _within_table(found: dict) -> str:
    first = next(iter(found.values()))["within_article"]
    if not first.get("available"):
        return f"<p class='note'>{_e(first.get('note', 'unavailable'))}</p>"
    rows = ["<tr><th class='name'></th>" + "".join(f"<th>{m}</th>" for m in WITHIN_METRICS) + "</tr>"]
    for name, d in found.items():
        w = d["within_article"]
        cells = "".join(_interval(w[m], w.get("intervals", {}).get(m), signed=False) for m in WITHIN_METRICS)
        rows.append(f"<tr><td class='name'>{_e(name)}</td>{cells}</tr>")
    return "<table class='diag'>" + "".join(rows) + "</table>"


def _coherence_table(found: dict) -> str:
    first = next(iter(found.values()))["coherence"]
    rows = ["<tr><th class='name'>bin</th><th>coherence</th><th>sequences</th>"
            + "".join(f"<th>{_e(n)} {RECALL_SHOWN}</th>" for n in found) + "</tr>"]
    for i, row in enumerate(first["bins"]):
        cells = "".join(_interval(d["coherence"]["bins"][i][RECALL_SHOWN],
                                  d["coherence"]["bins"][i].get(f"{RECALL_SHOWN}_interval"), signed=False)
                        for d in found.values())
        rows.append(f"<tr><td class='name'>{row['bin']}</td><td>{row['coherence_min']:.2f}–{row['coherence_max']:.2f}"
                    f"</td><td>{row['count']}</td>{cells}</tr>")
    return f"<p class='note'>{_e(first['definition'])}</p><table class='diag'>" + "".join(rows) + "</table>"


def diagnostics_section(result: dict) -> str:
    """The page's diagnostics section ('' when the battery was not run).

    Args:
        result: an :func:`p7keras.evaluation.evaluate` result (or its JSON, loaded).

    Returns:
        HTML.
    """
    found = result.get("diagnostics")
    if not found:
        return ""
    first = next(iter(found.values()))
    names = ablation_names(found)
    skipped = "".join(f"<li>{_e(n)}: not run ({_e(why)})</li>" for n, why in first["ablations"].get("skipped", {}).items())
    return "\n".join([
        "<h2 id='diagnostics'>Diagnostics</h2>",
        "<p class='note'>Every figure is a mean over the evaluated sequences; brackets and bars are 95% intervals "
        f"by a bootstrap over the articles. Offset sweep: {_e(first['offset_sweep']['convention'])}. Rollout: "
        f"{_e(first['rollout']['convention'])}.</p>",
        f"<div class='plot'>{diagnostic_curves_plot(result)}</div>",
        "<h3>Order ablations</h3>",
        "<p class='note'>The context rearranged; the change in cos(prediction, true next chunk) and in "
        f"{RECALL_SHOWN} under 'all' against the context as it is (hover a name for its definition). A model "
        "that uses the order of its context loses under shuffle and reverse.</p>",
        f"<div class='plot'>{ablation_plot(result, names)}</div>",
        _ablation_table(found, names),
        f"<ul class='note'>{skipped}</ul>" if skipped else "",
        "<h3>Retrieval within the article</h3>", _within_table(found),
        "<h3>By context coherence</h3>", _coherence_table(found),
    ])
