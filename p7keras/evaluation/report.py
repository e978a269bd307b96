"""The terminal report of an :func:`p7keras.evaluation.evaluate` result, and the wording it shares with the page.

:func:`format_table` prints retrieval, the directional test, the ship gate and latency as text; the
helpers that format a number, a model's rows and the ship gate's requirement are used by the HTML page
too (:mod:`p7keras.evaluation.html_page`), so both say the same thing.

Example:

    result = evaluate(None, "corpus.npz")
    print(format_table(result))
"""

from __future__ import annotations

from p7keras.config import DEFAULTS
from p7keras.evaluation.baselines import DIRECT
from p7keras.evaluation.diagnostics_report import diagnostics_lines
from p7keras.evaluation.directional import DIRECTIONAL_NAMES
from p7keras.evaluation.retrieval import METRIC_NAMES, PROTOCOLS
from p7keras.verdict import describe_criteria, quality_criteria

VERDICTS = {True: "PASS", False: "FAIL", None: "UNDECIDED"}
GAIN_SHOWN = ("R@5", "MRR@10", "margin")  # the gains the terminal table shows
NOT_AVAILABLE = "n/a"
TRAINING_DATA_NOTE = (
    "split '{split}' evaluates sequences a model may have been trained on; for an honest test of a "
    "model trained on this file, evaluate the held-out split (--split ood)"
)


def may_hold_training_data(data: dict) -> bool:
    """Whether the evaluated split may hold sequences a model was trained on (``all`` or ``train``)."""
    return data["split"] in ("all", "train")


def format_number(value, signed: bool = False) -> str:
    """Four decimals (with the sign when ``signed``); ``n/a`` for None.

    Example: ``format_number(0.125, signed=True)`` -> ``'+0.1250'``.
    """
    if value is None:
        return NOT_AVAILABLE
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def format_directional(value: float, metric: str) -> str:
    """A directional metric: four decimals; the margin with its sign."""
    return format_number(value, signed=(metric == "margin"))


def _data_line(data: dict) -> str:
    articles = f"{data['articles']} articles" if data["articles"] is not None else "no article ids"
    subset = (f" (random subset of {data['sequences']})" if data["evaluated_sequences"] < data["sequences"] else "")
    return (
        f"{data['source']}  split {data['split']}  K={data['context_length']}  D={data['dim']}\n"
        f"  {data['evaluated_sequences']} sequences{subset}, bank {data['bank_size']} chunks, {articles}, "
        f"backend {data['backend']}"
    )


def result_rows(result: dict) -> list[tuple[str, dict]]:
    """(name, retrieval dict) of the baselines then the models."""
    rows = list(result["baselines"].items())
    rows += [(name, model["retrieval"]) for name, model in result["models"].items()]
    return rows


def format_gain(row: dict | None) -> str:
    """A gain and its interval, ``+0.0096 [+0.0027, +0.0169]`` (``n/a`` for None).

    Example: ``format_gain({"gain": 0.01, "low": -0.002, "high": 0.02})`` -> ``'+0.0100 [-0.0020, +0.0200]'``.
    """
    if row is None:
        return NOT_AVAILABLE
    return f"{row['gain']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"


def judgement_line(model: dict) -> str:
    """The learned-gain judgement of one model and the smallest gain its split resolves, in words."""
    learned = model["learned_gain"]
    return (f"{learned['judgement']} ({learned['metric']} over DIRECT, protocol '{learned['protocol']}'); this "
            f"split resolves gains of about ±{learned['resolution']:.4f} {learned['metric']} (half the interval)")


def _gain_section(result: dict, width: int) -> list[str]:
    """Each model's gain over each baseline under ``all``, with intervals, p-values and the judgement."""
    models = {name: m for name, m in result["models"].items() if "gains" in m}
    if not models:
        return []
    note = result["uncertainty"]["note"]
    cell = 29
    lines = []
    for baseline in next(iter(models.values()))["gains"]:
        lines += ["", f"gain over {baseline}, protocol 'all' ({note}; p: paired permutation test)",
                  f"{'':<{width}}" + "".join(f"{m:<{cell}}" for m in GAIN_SHOWN) + f"{'p(R@5)':>8}"]
        for name, model in models.items():
            rows = model["gains"][baseline]["all"]
            lines.append(f"{name:<{width}}" + "".join(f"{format_gain(rows.get(m)):<{cell}}" for m in GAIN_SHOWN)
                         + f"{rows['R@5']['p_value']:>8.3f}")
        if baseline == DIRECT:
            lines += [f"  {name}: {judgement_line(model)}" for name, model in models.items()]
    return lines


def gate_requirement(gate: dict) -> str:
    """What the ship gate needs, in words (the same on the terminal and the page)."""
    return (
        f"needs R@5 gain >= +{gate['required_r5_gain']:.2f} over DIRECT {gate['direct_r5']:.4f} and "
        f"MRR@10 gain >= +{gate['required_mrr10_gain']:.2f} over DIRECT {gate['direct_mrr10']:.4f}, "
        f"protocol '{gate['protocol']}'"
    )


def format_table(result: dict) -> str:
    """The terminal report: retrieval, directional test, ship gate, latency.

    Args:
        result: what :func:`p7keras.evaluation.evaluate` returned (or its JSON, loaded).

    Returns:
        Multi-line text.
    """
    data, models = result["data"], result["models"]
    width = max([len(name) for name, _ in result_rows(result)] + [len("directional")]) + 2
    proto = max(len(p) for p in PROTOCOLS) + 2
    lines = [f"p7keras evaluate: {_data_line(data)}", ""]
    lines.append(f"{'retrieval':<{width}}{'protocol':<{proto}}" + "".join(f"{m:>8}" for m in METRIC_NAMES))
    for name, retrieval in result_rows(result):
        for i, protocol in enumerate(PROTOCOLS):
            metrics = retrieval[protocol]
            label = name if i == 0 else ""
            cells = (
                "".join(f"{format_number(metrics[m]):>8}" for m in METRIC_NAMES)
                if metrics is not None
                else f"  {NOT_AVAILABLE} (no article ids)"
            )
            lines.append(f"{label:<{width}}{protocol:<{proto}}{cells}")
    if data["unavailable"]:
        lines += [f"  note: {reason}" for reason in data["unavailable"].values()]
    if not models:
        lines += ["", "no model evaluated: baselines only"]
        return "\n".join(lines)
    lines += ["", f"{'directional':<{width}}" + "".join(f"{m:>12}" for m in DIRECTIONAL_NAMES)
              + f"{'verdict':>10}{'good':>7}"]
    for name, model in models.items():
        d = model["directional"]
        cells = "".join(f"{format_directional(d[m], m):>12}" for m in DIRECTIONAL_NAMES)
        criteria = model.get("criteria") or quality_criteria(d)
        good = criteria["good_model"]
        lines.append(f"{name:<{width}}{cells}{criteria['verdict']['status']:>10}"
                     f"{f'{sum(good.values())}/{len(good)}':>7}")
    lines.append(f"  ({describe_criteria()})")
    first_gate = next(iter(models.values()))["ship_gate"]
    lines += ["", f"ship gate ({gate_requirement(first_gate)})"]
    for name, model in models.items():
        gate = model["ship_gate"]
        lines.append(
            f"{name:<{width}}{VERDICTS[gate['passed']]:<11}R@5 gain {format_number(gate['r5_gain'], True)}   "
            f"MRR@10 gain {format_number(gate['mrr10_gain'], True)}"
        )
    if any(m["ship_gate"]["passed"] is None for m in models.values()):
        lines.append(f"  UNDECIDED: fewer than {DEFAULTS.ship_gate_min_sequences} sequences evaluated")
    lines += _gain_section(result, width)
    lines += diagnostics_lines(result, width)
    lines += ["", f"{'latency':<{width}}{'p50 ms':>10}{'p95 ms':>10}{'batch seq/s':>14}"]
    for name, model in models.items():
        lat = model["latency_ms"]
        lines.append(f"{name:<{width}}{lat['p50']:>10.2f}{lat['p95']:>10.2f}{model['throughput_seq_per_s']:>14.0f}")
    if may_hold_training_data(data):
        lines += ["", f"note: {TRAINING_DATA_NOTE.format(split=data['split'])}"]
    return "\n".join(lines)
