"""The HTML report: the gain over DIRECT per protocol at the top (issue 11), the examples section (issue 12)."""

import dataclasses
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from p7keras.evaluation import evaluate, render_html
from tests.evaluation.conftest import last_context
from tests.helpers import K

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


def _mean_context(contexts):
    mean = np.asarray(contexts).mean(axis=1)
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


def test_gain_line_at_the_top_holds_the_gains_with_intervals_and_the_judgement(corpus):
    result = evaluate({"direct_copy": last_context, "mean_copy": _mean_context}, corpus, context_length=K,
                      strict_gate=False, latency_calls=1, resamples=200)
    html = render_html(result)
    direct, mean = result["baselines"]["DIRECT"], result["baselines"]["MEAN"]
    for protocol in ("all", "exclude-context", "within-article"):
        gains = result["models"]["mean_copy"]["gains"]["DIRECT"][protocol]
        for metric in ("R@5", "MRR@10"):
            assert gains[metric]["gain"] == pytest.approx(mean[protocol][metric] - direct[protocol][metric])
            assert gains[metric]["low"] <= gains[metric]["gain"] <= gains[metric]["high"]
        same = result["models"]["direct_copy"]["gains"]["DIRECT"][protocol]["R@5"]
        assert (same["gain"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    top = result["models"]["mean_copy"]["gains"]["DIRECT"]["all"]["R@5"]
    lines = [line for line in html.splitlines() if "gain over DIRECT (all)" in line]
    assert len(lines) == 2 and "<b>direct_copy</b>" in lines[0] and "<b>mean_copy</b>" in lines[1]
    assert "R@5 +0.0000 [+0.0000, +0.0000]" in lines[0] and "no evidence of a gain" in lines[0]
    assert f"R@5 {top['gain']:+.4f} [{top['low']:+.4f}, {top['high']:+.4f}]" in lines[1]
    assert result["models"]["mean_copy"]["learned_gain"]["judgement"] in lines[1]
    assert html.index("gain over DIRECT") < html.index("<h2>")  # at the top
    assert "paired bootstrap over" in html and "<h2 id='diagnostics'>Diagnostics</h2>" in html


def test_no_gain_line_without_a_model(corpus):
    result = evaluate({}, corpus, context_length=K, strict_gate=False, latency_calls=1)
    assert "gain over DIRECT" not in render_html(result)


# ------------------------------------------------------------------------------- examples (issue 12)
class _Examples(HTMLParser):
    """Collects the text of the examples section: each example's title, context items and hit cells."""

    def __init__(self):
        super().__init__()
        self.in_section, self.examples, self.stack = False, [], []
        self.headings: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "h2":
            self.stack.append("h2")
        elif self.in_section and tag == "h3":
            self.stack.append("h3")
        elif self.in_section and tag == "div" and "example" in classes:
            self.examples.append({"where": "", "context": [], "next": "", "hits": [], "marked": 0})
        elif self.in_section and self.examples:
            if tag == "p" and "where" in classes:
                self.stack.append("where")
            elif tag == "li":
                self.examples[-1]["context"].append("")
                self.stack.append("li")
            elif tag == "p" and "next" in classes:
                self.stack.append("next")
            elif tag == "td" and "chunk" in classes:
                self.examples[-1]["hits"].append("")
                self.examples[-1]["marked"] += "is-next" in classes
                self.stack.append("hit")

    def handle_endtag(self, tag):
        if self.stack and tag in ("h2", "h3", "p", "li", "td"):
            self.stack.pop()

    def handle_data(self, data):
        where = self.stack[-1] if self.stack else None
        if where == "h2":
            self.in_section = data.strip() == "Examples"
        elif where == "h3":
            self.headings.append(data)
        elif where == "where":
            self.examples[-1]["where"] += data
        elif where == "li":
            self.examples[-1]["context"][-1] += data
        elif where == "next":
            self.examples[-1]["next"] += data
        elif where == "hit":
            self.examples[-1]["hits"][-1] += data


def _parse(page: str) -> _Examples:
    parser = _Examples()
    parser.feed(page)
    return parser


def _with_texts(corpus):
    return dataclasses.replace(corpus, texts=np.array([f"chunk text number {i}" for i in range(corpus.num_chunks)]))


def test_examples_section_shows_the_best_and_worst_sequences_with_texts(corpus):
    result = evaluate({"mean_copy": _mean_context}, _with_texts(corpus), context_length=K, strict_gate=False,
                      latency_calls=1, examples=2)
    shown = result["models"]["mean_copy"]["examples"]
    assert len(shown["best"]) == 2 and len(shown["worst"]) == 2
    ranks = [e["queries"]["mean_copy"]["rank"] for e in shown["best"] + shown["worst"]]
    assert ranks[0] <= ranks[1] <= ranks[3] <= ranks[2]
    parsed = _parse(render_html(result))
    assert parsed.headings == ["mean_copy: its 2 best sequences", "mean_copy: its 2 worst sequences"]
    assert len(parsed.examples) == 4
    for example, data in zip(parsed.examples, shown["best"] + shown["worst"]):
        assert example["where"].startswith(f"article {data['article']}, next chunk at position {data['position']}")
        assert f"mean_copy: rank {data['queries']['mean_copy']['rank']}" in example["where"]
        assert example["context"] == [c["text"] for c in data["context"]]
        assert example["next"].strip() == f"true next {data['next']['text']}"
        assert len(example["hits"]) == 2 * 5 and all("chunk text number" in hit for hit in example["hits"])
        in_top = sum(found["rank"] <= 5 for found in data["queries"].values())
        assert example["marked"] == in_top  # the true next is marked wherever it is in a top 5


def test_examples_section_without_texts_shows_article_and_position(corpus):
    result = evaluate({"direct_copy": last_context}, corpus, context_length=K, strict_gate=False, latency_calls=1)
    parsed = _parse(render_html(result))
    assert len(parsed.examples) == 6  # 3 best and 3 worst by default
    first = result["models"]["direct_copy"]["examples"]["best"][0]
    assert parsed.examples[0]["context"] == [f"{c['article']} #{c['position']}" for c in first["context"]]
    assert evaluate({"direct_copy": last_context}, corpus, context_length=K, strict_gate=False, latency_calls=1,
                    examples=0)["models"]["direct_copy"].get("examples") is None


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="headless Chromium is not installed at /usr/bin/chromium")
def test_examples_section_renders_in_headless_chromium(corpus, tmp_path):
    from p7keras.evaluation import write_html

    result = evaluate({"mean_copy": _mean_context}, _with_texts(corpus), context_length=K, strict_gate=False,
                      latency_calls=1)
    page = tmp_path / "report.html"
    write_html(result, page)
    done = subprocess.run([shutil.which("chromium") or CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    parsed = _parse(done.stdout)
    assert len(parsed.examples) == 6 and all(e["context"] for e in parsed.examples)
    assert "chunk text number" in parsed.examples[0]["next"]
