"""The evaluation report as one self-contained HTML page (inline CSS and SVG, no external files).

The page shows each model's gain over DIRECT with its 95% article-clustered interval and the learned-gain
judgement, the ship-gate verdict, the retrieval and directional tables, recall-at-k curves of models and
baselines and the per-sequence margin histogram (:mod:`p7keras.evaluation.plots`), latency and throughput,
the diagnostic battery (:mod:`p7keras.evaluation.html_diagnostics`), and each model's best and worst sequences
(the context, the true next chunk and the model's and DIRECT's top chunks, with their texts when the
corpus has them; :mod:`p7keras.evaluation.examples`).

Example:

    result = evaluate(None, "corpus.npz")
    write_html(result, "report.html")
"""

from __future__ import annotations

import datetime
import html
import os

from p7keras.config import DEFAULTS
from p7keras.evaluation.baselines import DIRECT
from p7keras.evaluation.directional import DIRECTIONAL_NAMES
from p7keras.evaluation.examples import CONTEXT_MARK, NEXT_MARK, chunk_label, describe_example
from p7keras.evaluation.html_diagnostics import diagnostics_section
from p7keras.evaluation.plots import margin_plot, recall_plot
from p7keras.evaluation.report import (
    TRAINING_DATA_NOTE,
    VERDICTS,
    GAIN_SHOWN,
    format_directional,
    format_gain,
    format_number,
    gate_requirement,
    judgement_line,
    may_hold_training_data,
    result_rows,
)
from p7keras.evaluation.retrieval import METRIC_NAMES, PROTOCOLS
from p7keras.io import atomic_path
from p7keras.verdict import describe_criteria, good_model_checks, quality_criteria

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2328;
       background: #f6f8fa; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 30px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.meta { color: #57606a; font-size: 14px; line-height: 1.6; }
.meta b { color: #1f2328; }
.verdicts { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { border-radius: 8px; padding: 12px 16px; min-width: 260px; border: 2px solid; }
.card .word { font-size: 24px; font-weight: 700; letter-spacing: 0.04em; }
.card .name { font-weight: 600; overflow-wrap: anywhere; }
.card .gains { font-size: 13px; margin-top: 4px; line-height: 1.5; }
.PASS { border-color: #1a7f37; background: #dafbe1; } .PASS .word { color: #1a7f37; }
.FAIL { border-color: #cf222e; background: #ffebe9; } .FAIL .word { color: #cf222e; }
.UNDECIDED { border-color: #9a6700; background: #fff8c5; } .UNDECIDED .word { color: #9a6700; }
.BASELINE { border-color: #8c959f; background: #f6f8fa; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0; }
th, td { padding: 4px 12px; text-align: right; border-bottom: 1px solid #eaeef2; }
th { background: #f6f8fa; font-weight: 600; }
td.name, th.name, td.protocol { text-align: left; }
td.name { font-weight: 600; overflow-wrap: anywhere; max-width: 320px; }
tr.baseline td { color: #57606a; }
tr.group td { border-top: 2px solid #d0d7de; }
td.good { color: #1a7f37; font-weight: 600; } td.bad { color: #cf222e; font-weight: 600; }
td.na { color: #8c959f; font-style: italic; }
td.best, tr.baseline td.best { color: #0550ae; font-weight: 700; }
.plot svg { max-width: 100%; height: auto; }
.gain { font-size: 15px; margin: 4px 0; }
.gain .judgement { font-weight: 600; }
.ci { color: #57606a; font-size: 12px; }
table.diag td { white-space: nowrap; }
.example { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 14px; margin: 10px 0; font-size: 14px; }
.example .where { font-weight: 600; margin: 4px 0; }
.example ol { margin: 4px 0 6px; padding-left: 28px; line-height: 1.45; }
.example .next { margin: 4px 0 8px; }
table.hits td.chunk { text-align: left; max-width: 420px; font-size: 13px; }
table.hits td.is-next { color: #1a7f37; font-weight: 700; }
table.hits td.in-context { color: #8c959f; }
.note { color: #57606a; font-size: 13px; line-height: 1.5; }
"""


def _e(value) -> str:
    return html.escape(str(value))


def _meta(data: dict) -> str:
    articles = _e(data["articles"]) if data["articles"] is not None else "none (no article ids)"
    subset = (f" (random subset of {data['sequences']}, seed {data['seed']})"
              if data["evaluated_sequences"] < data["sequences"] else "")
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f"<p class='meta'><b>data</b> {_e(data['source'])} &nbsp; <b>split</b> {_e(data['split'])} "
        f"(seed {data['seed']}) &nbsp; <b>K</b> {data['context_length']} &nbsp; <b>D</b> {data['dim']}<br>"
        f"<b>sequences</b> {data['evaluated_sequences']}{subset} &nbsp; <b>bank</b> {data['bank_size']} chunks "
        f"&nbsp; <b>articles</b> {articles} &nbsp; <b>backend</b> {_e(data['backend'])} &nbsp; "
        f"<b>generated</b> {when}</p>"
    )


def _gain_lines(result: dict) -> str:
    """At the top of the report, per model: its gain over DIRECT with 95% intervals and the judgement."""
    lines = []
    for name, model in result["models"].items():
        if "gains" not in model:
            continue
        rows = model["gains"][DIRECT]
        shown = " · ".join(f"{m} {format_gain(rows['all'].get(m))}" for m in GAIN_SHOWN)
        others = " · ".join(f"{protocol}: R@5 {format_gain(rows[protocol]['R@5'])}" for protocol in rows
                            if protocol != "all")
        lines.append(f"<p class='gain'><b>{_e(name)}</b> gain over DIRECT (all) — {_e(shown)}<br>"
                     f"<span class='judgement'>{_e(judgement_line(model))}</span>"
                     + (f"<br><span class='ci'>{_e(others)}</span>" if others else "") + "</p>")
    if lines:
        lines.append(f"<p class='note'>{_e(result['uncertainty']['note'])}; brackets: the 95% interval of the "
                     "paired gain (the same sequences scored by both).</p>")
    return "\n".join(lines)


def _verdict_cards(result: dict) -> str:
    if not result["models"]:
        return ("<div class='verdicts'><div class='card BASELINE'><div class='word'>BASELINES ONLY</div>"
                "<div class='gains'>No model evaluated: no ship-gate verdict.</div></div></div>")
    cards = []
    for name, model in result["models"].items():
        gate = model["ship_gate"]
        word = VERDICTS[gate["passed"]]
        cards.append(
            f"<div class='card {word}'><div class='name'>{_e(name)}</div><div class='word'>{word}</div>"
            f"<div class='gains'>R@5 gain {format_number(gate['r5_gain'], True)} "
            f"(needs +{gate['required_r5_gain']:.2f})<br>MRR@10 gain {format_number(gate['mrr10_gain'], True)} "
            f"(needs +{gate['required_mrr10_gain']:.2f})</div></div>"
        )
    first = next(iter(result["models"].values()))["ship_gate"]
    note = f"<p class='note'>Ship gate: {_e(gate_requirement(first))}, on {first['sequences']} sequences"
    if first["passed"] is None:
        note += f"; UNDECIDED below {DEFAULTS.ship_gate_min_sequences} sequences"
    return "<div class='verdicts'>" + "".join(cards) + "</div>" + note + ".</p>"


def _best(result: dict) -> dict:
    """(protocol, metric) -> best value across baselines and models (to highlight)."""
    best = {}
    for _, retrieval in result_rows(result):
        for protocol in PROTOCOLS:
            for m, v in (retrieval[protocol] or {}).items():
                best[protocol, m] = max(best.get((protocol, m), v), v)
    return best


def _retrieval_table(result: dict) -> str:
    best = _best(result)
    head = "".join(f"<th>{m}</th>" for m in METRIC_NAMES)
    rows = []
    for name, retrieval in result_rows(result):
        kind = "baseline" if name in result["baselines"] else "model"
        for i, protocol in enumerate(PROTOCOLS):
            metrics = retrieval[protocol]
            if metrics is None:
                cells = f"<td class='na' colspan='{len(METRIC_NAMES)}'>unavailable: no article ids</td>"
            else:
                cells = "".join(
                    f"<td{' class=best' if metrics[m] == best[protocol, m] else ''}>{format_number(metrics[m])}</td>"
                    for m in METRIC_NAMES
                )
            group = " group" if i == 0 else ""
            label = _e(name) if i == 0 else ""
            rows.append(f"<tr class='{kind}{group}'><td class='name'>{label}</td>"
                        f"<td class='protocol'>{protocol}</td>{cells}</tr>")
    return (f"<table><tr><th class='name'>query</th><th class='name'>protocol</th>{head}</tr>"
            + "".join(rows) + "</table><p class='note'>Bold blue: the best value of its protocol and "
            "column. Baselines in grey.</p>")


def _directional_cell(metric: str, value: float) -> str:
    good = good_model_checks({metric: value}).get(metric)
    css = "" if good is None else " class=good" if good else " class=bad"
    return f"<td{css}>{format_directional(value, metric)}</td>"


def _directional_table(result: dict) -> str:
    head = "".join(f"<th>{m}</th>" for m in DIRECTIONAL_NAMES) + "<th>verdict (section 6)</th>"
    rows = [
        f"<tr class='model'><td class='name'>{_e(name)}</td>"
        + "".join(_directional_cell(m, model["directional"][m]) for m in DIRECTIONAL_NAMES)
        + f"<td>{(model.get('criteria') or quality_criteria(model['directional']))['verdict']['status']}</td></tr>"
        for name, model in result["models"].items()
    ]
    rows += [
        f"<tr class='baseline'><td class='name'>{_e(name)} (baseline)</td>"
        + "".join(f"<td>{format_directional(d[m], m)}</td>" for m in DIRECTIONAL_NAMES) + "<td></td></tr>"
        for name, d in result.get("baseline_directional", {}).items()
    ]
    expectation = (f"{describe_criteria(ge='&ge;', le='&le;')} Green/red cells: section 8's good-model "
                   "figures. cos_anchor = cos(q, normalised mean of the context).")
    return (f"<table><tr><th class='name'>query</th>{head}</tr>" + "".join(rows)
            + f"</table><p class='note'>{expectation}</p>")


def _latency_table(result: dict) -> str:
    rows = "".join(
        f"<tr><td class='name'>{_e(name)}</td><td>{m['latency_ms']['p50']:.2f}</td>"
        f"<td>{m['latency_ms']['p95']:.2f}</td><td>{m['throughput_seq_per_s']:.0f}</td>"
        f"<td class='protocol'>{_e(m.get('kind', ''))}</td></tr>"
        for name, m in result["models"].items()
    )
    return ("<table><tr><th class='name'>model</th><th>p50 ms</th><th>p95 ms</th><th>batch sequences/s</th>"
            f"<th class='name'>loaded as</th></tr>{rows}</table><p class='note'>Latency: one sequence per call "
            "(after a warm-up). Throughput: batched prediction of every evaluated sequence.</p>")


HIT_WIDTH = 160  # characters of a top chunk shown in the examples' table (the whole text on hover)


def _hit_cells(hit: dict | None) -> str:
    """The cosine and chunk cells of one top chunk (marked when it is the true next or a context chunk)."""
    if hit is None:
        return "<td></td><td></td>"
    css, mark = ("is-next", NEXT_MARK) if hit["is_next"] else ("in-context", CONTEXT_MARK) if hit["in_context"] \
        else ("", "")
    return (f"<td class='{css}'>{hit['cosine']:.3f}</td><td class='chunk {css}' title='{_e(chunk_label(hit))}'>"
            f"{_e(mark)} {_e(chunk_label(hit, HIT_WIDTH))}</td>")


def _example_html(example: dict) -> str:
    """One example: where, the context (oldest first), the true next chunk, the queries' top chunks."""
    queries = example["queries"]
    ranks = " · ".join(f"{_e(name)}: rank {found['rank']}" for name, found in queries.items())
    context = "".join(f"<li>{_e(chunk_label(chunk))}</li>" for chunk in example["context"])
    head = "".join(f"<th>cos</th><th class='name'>{_e(name)} top {len(found['top'])}</th>"
                   for name, found in queries.items())
    rows = "".join(
        f"<tr><td>{place + 1}</td>"
        + "".join(_hit_cells(found["top"][place] if place < len(found["top"]) else None)
                  for found in queries.values()) + "</tr>"
        for place in range(max(len(found["top"]) for found in queries.values()))
    )
    return (f"<div class='example'><p class='where'>{_e(describe_example(example))} — true next at {ranks}</p>"
            f"<div class='note'>context, oldest first</div><ol class='context'>{context}</ol>"
            f"<p class='next'><b>true next</b> {_e(chunk_label(example['next']))}</p>"
            f"<table class='hits'><tr><th>#</th>{head}</tr>{rows}</table></div>")


def _examples_section(result: dict) -> str:
    """Each model's best and worst sequences (by the rank of the true next chunk, protocol all), beside DIRECT."""
    parts = []
    for name, model in result["models"].items():
        shown = model.get("examples")
        if not shown:
            continue
        for which in ("best", "worst"):
            if shown[which]:
                parts.append(f"<h3>{_e(name)}: its {len(shown[which])} {which} sequences</h3>")
                parts += [_example_html(example) for example in shown[which]]
    if not parts:
        return ""
    note = (f"<p class='note'>Sequences ranked by the rank of the true next chunk under the protocol 'all' "
            f"(bank: every chunk of the split). {NEXT_MARK} the true next chunk (green), {CONTEXT_MARK} a chunk "
            "of the context (grey); DIRECT's query is the last context chunk, so it finds itself first. "
            "Chunks are shown by their text when the corpus has texts, else as ARTICLE #POSITION.</p>")
    return "<h2>Examples</h2>" + note + "\n".join(parts)


def _notes(result: dict) -> str:
    data = result["data"]
    items = [
        "Rank = 1 + the number of bank rows scoring strictly higher (cosine) than the target chunk's row; "
        "R@k = share of sequences with rank &le; k; MRR@10 = mean of 1/rank for rank &le; 10, else 0.",
        "<b>all</b>: the bank is every chunk of the evaluated split, the query's own context included "
        "(the ship-gate protocol). <b>exclude-context</b>: the query's own K context chunks are removed "
        "from its candidates. <b>within-article</b>: the bank is the chunks of the target's article.",
        "Baselines: <b>DIRECT</b> (query = c<sub>K</sub>, the last context chunk) and <b>MEAN</b> "
        "(query = normalised mean of the context).",
    ]
    items += [_e(reason) for reason in data["unavailable"].values()]
    if may_hold_training_data(data) and result["models"]:
        items.append(_e(TRAINING_DATA_NOTE.format(split=data["split"])))
    return "<ul class='note'>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def render_html(result: dict) -> str:
    """The whole report as one self-contained HTML page (inline CSS and SVG, no external files).

    Args:
        result: what :func:`p7keras.evaluation.evaluate` returned (or its JSON, loaded).

    Returns:
        The HTML text.
    """
    data, models = result["data"], result["models"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>p7keras evaluation: {_e(os.path.basename(str(data['source'])))}</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>P7 directional ranker: evaluation</h1>",
        _gain_lines(result),
        _meta(data),
        _verdict_cards(result),
        "<h2>Retrieval</h2>",
        _retrieval_table(result),
        "<h2>Recall at k</h2>",
        f"<div class='plot'>{recall_plot(result)}</div>",
    ]
    if models:
        parts += [
            "<h2>Directional test</h2>", _directional_table(result),
            "<h2>Per-sequence margin</h2>", f"<div class='plot'>{margin_plot(result)}</div>",
            "<h2>Latency and throughput</h2>", _latency_table(result),
        ]
    parts += [diagnostics_section(result)]
    if models:
        parts += [_examples_section(result)]
    parts += ["<h2>Notes</h2>", _notes(result), "</main></body></html>"]
    return "\n".join(parts)


def write_html(result: dict, path: str | os.PathLike) -> None:
    """Write :func:`render_html` to ``path``, atomically.

    Args:
        result: an evaluation result.
        path: the destination ``.html`` file.
    """
    page = render_html(result)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(page)
