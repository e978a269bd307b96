"""The diagnostic battery as text: the terminal section of the evaluation report.

:func:`diagnostics_lines` formats ``result["diagnostics"]`` (:mod:`p7keras.evaluation.battery`, one entry per
model and per baseline): the offset sweep, the order ablations (the change in cosine to the true next
chunk, with its paired 95% interval, and in R@5), the rollout, retrieval within the article and the
coherence bins. The HTML page draws the same figures (:mod:`p7keras.evaluation.html_diagnostics`).

Example:

    print("\\n".join(diagnostics_lines(evaluate(model, "corpus.npz"), width=20)))
"""

from __future__ import annotations

from p7keras.evaluation.diagnostics import RECALL_SHOWN


def _mean(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _change(value: float, interval: list | None) -> str:
    """A change with its interval: ``-0.071 [-0.080, -0.062]``."""
    if interval is None or None in interval:
        return f"{value:+.3f}"
    return f"{value:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"


def ablation_names(diagnostics: dict) -> list[str]:
    """The ablations run on every query set, in the battery's order."""
    sets = [d["ablations"]["ablations"] for d in diagnostics.values()]
    return [name for name in sets[0] if all(name in s for s in sets)] if sets else []


def diagnostics_lines(result: dict, width: int) -> list[str]:
    """The battery of every model and baseline as terminal lines (none when it was not run).

    Args:
        result: an :func:`p7keras.evaluation.evaluate` result (or its JSON, loaded).
        width: the width of the name column.

    Returns:
        Lines of text.
    """
    found = result.get("diagnostics")
    if not found:
        return []
    width = max(width, *(len(name) + 2 for name in found))
    first = next(iter(found.values()))
    sweep = first["offset_sweep"]
    lines = ["", "diagnostics (means over the sequences; 95% intervals over the articles in the JSON and HTML report)",
             f"offset sweep: cos(prediction, chunk at offset o); {sweep['convention']}",
             f"{'':<{width}}" + "".join(f"{o:>+8d}" for o in sweep["offsets"])]
    lines += [f"{name:<{width}}" + "".join(f"{_mean(v):>8}" for v in d["offset_sweep"]["mean_cos"])
              for name, d in found.items()]

    names = ablation_names(found)
    cell = 25
    lines += ["", "order ablations: change in cos(prediction, true next chunk) [95% paired interval], "
              f"and in {RECALL_SHOWN} under 'all'",
              f"{'':<{width}}" + "".join(f"{name:<{cell}}" for name in found)]
    for ablation in names:
        cos_cells, recall_cells = [], []
        for d in found.values():
            figures = d["ablations"]["ablations"][ablation]
            cos_cells.append(_change(figures["delta_cos_target"], figures.get("delta_cos_target_interval")))
            recall_cells.append(f"{RECALL_SHOWN} {figures[f'delta_{RECALL_SHOWN}']:+.4f}")
        lines.append(f"{ablation:<{width}}" + "".join(f"{c:<{cell}}" for c in cos_cells))
        lines.append(f"{'':<{width}}" + "".join(f"{c:<{cell}}" for c in recall_cells))
    for name, why in first["ablations"].get("skipped", {}).items():
        lines.append(f"  {name}: not run ({why})")

    steps = first["rollout"]
    lines += ["", f"rollout: cos(prediction, true chunk) at each step; {steps['convention']}",
              f"{'':<{width}}" + "".join(f"{'step ' + str(h):>9}" for h in steps["steps"])]
    lines += [f"{name:<{width}}" + "".join(f"{_mean(v):>9}" for v in d["rollout"]["mean_cos"])
              for name, d in found.items()]

    if first["within_article"].get("available"):
        lines += ["", "within the article (bank = the target's article)",
                  f"{'':<{width}}" + "".join(f"{m:>8}" for m in ("R@1", "R@5", "R@10", "MRR@10"))]
        lines += [f"{name:<{width}}" + "".join(f"{d['within_article'][m]:>8.4f}"
                                                for m in ("R@1", "R@5", "R@10", "MRR@10"))
                  for name, d in found.items()]
    else:
        lines += ["", f"within the article: {first['within_article']['note']}"]

    coherence = first["coherence"]
    lines += ["", f"by context coherence ({coherence['definition']}): {RECALL_SHOWN} per quantile bin",
              f"{'bin':<{width}}{'coherence':>16}{'sequences':>11}" + "".join(f"{name[:12]:>14}" for name in found)]
    for i, row in enumerate(coherence["bins"]):
        span = f"{row['coherence_min']:.2f}–{row['coherence_max']:.2f}"
        cells = "".join(f"{d['coherence']['bins'][i][RECALL_SHOWN]:>14.4f}" for d in found.values())
        lines.append(f"{row['bin']:<{width}}{span:>16}{row['count']:>11}{cells}")
    return lines
