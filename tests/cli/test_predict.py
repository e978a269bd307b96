"""``p7keras predict`` (issue 12): sequences of a split or a typed passage, the model's top-k beside DIRECT's."""

import json
import os

import pytest

from p7keras.cli.main import main
from tests.cli.test_evaluate import TINY_RUN
from tests.data.conftest import TOY_ENCODER
from tests.evaluation.conftest import last_context_keras

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

K = TINY_RUN["context_length"]
SIZES = {"num_articles": 30, "chunks_per_article": 12, "dim": 16}
PARAGRAPH = ("Ownership rules decide when memory is freed, and a move transfers it to another binding. "
             "Borrowing lends access without moving. ")
TOPICS = ["ownership", "borrowing", "lifetimes", "traits", "closures", "iterators", "modules", "errors"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny run trained one epoch on the synthetic corpus (its config.json names the corpus's size)."""
    from p7keras.training import TrainConfig, train

    out = tmp_path_factory.mktemp("runs")
    return train(TrainConfig(output_dir=str(out), **SIZES, **TINY_RUN)).run_dir


@pytest.fixture(scope="module")
def text_corpus(tmp_path_factory):
    """``(corpus.npz with texts, model.keras)``: a from-text corpus (toy encoder, D = 32), a model returning c_K."""
    folder = tmp_path_factory.mktemp("docs")
    docs = folder / "docs"
    docs.mkdir()
    for a, name in enumerate(("one.md", "two.txt", "three.md")):
        paragraphs = [f"Part {i} of {name} is about {TOPICS[(a + i) % len(TOPICS)]}. " + PARAGRAPH * 2
                      for i in range(10)]
        (docs / name).write_text("\n\n".join(paragraphs))
    out = str(folder / "docs.npz")
    assert main(["data", "from-text", str(docs), "--encoder", f"{TOY_ENCODER}:encode", "--out", out]) == 0
    model = folder / "last.keras"
    last_context_keras(K, 32).save(model)
    return out, str(model)


def _top_lines(out: str) -> list[str]:
    """The lines of the top-k columns (they start with a place number)."""
    return [line for line in out.splitlines() if line.strip()[:3].strip().isdigit() and "|" in line]


def test_a_run_directory_predicts_on_its_own_data_with_context_next_and_both_top_k(run_dir, tmp_path, capsys):
    out_json = tmp_path / "out" / "examples.json"
    assert main(["predict", run_dir, "--sample", "2", "--top-k", "4", "--width", "140", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    name = os.path.basename(run_dir)
    assert (f"data from {run_dir}/config.json: the synthetic corpus (num_articles=30, chunks_per_article=12, "
            "dim=16), split ood, seed 0") in out
    assert "the corpus has no texts" in out and "* the true next chunk" in out
    result = json.loads(out_json.read_text())
    assert result["data"]["split"] == "ood" and result["top_k"] == 4 and len(result["examples"]) == 2
    lines = out.splitlines()
    for example in result["examples"]:
        assert list(example["queries"]) == [name, "DIRECT"]
        start = lines.index(f"    {example['context'][0]['article']} #{example['context'][0]['position']}")
        assert lines[start - 1] == "  context (oldest first)"
        assert lines[start + K] == "  true next"
        assert lines[start + K + 1] == f"    {example['next']['article']} #{example['next']['position']}"
        for query, found in example["queries"].items():
            assert len(found["top"]) == 4
            assert [hit["is_next"] for hit in found["top"]].count(True) == (found["rank"] <= 4)
            assert f"rank {found['rank']} for {query}" in out
        assert example["queries"]["DIRECT"]["top"][0]["in_context"]  # DIRECT finds c_K itself first
    assert len(_top_lines(out)) == 2 * 4
    assert any(" * " in line for line in _top_lines(out)) == any(
        hit["is_next"] for e in result["examples"] for f in e["queries"].values() for hit in f["top"])


def test_run_defaults_equal_the_same_data_given_explicitly(run_dir, tmp_path, capsys):
    corpus = str(tmp_path / "synthetic.npz")
    assert main(["data", "synth", "--out", corpus, "--num-articles", "30", "--chunks-per-article", "12",
                 "--dim", "16"]) == 0
    defaulted, explicit = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["predict", run_dir, "--json", str(defaulted)]) == 0
    assert main(["predict", run_dir, "--data", corpus, "--split", "ood", "--seed", "0", "--json", str(explicit)]) == 0
    capsys.readouterr()
    a, b = json.loads(defaulted.read_text()), json.loads(explicit.read_text())
    assert len(a["examples"]) == 3  # the default sample
    assert a["examples"] == b["examples"] and a["data"]["bank_size"] == b["data"]["bank_size"]


def test_texts_are_shown_for_a_from_text_corpus(text_corpus, capsys):
    corpus, model = text_corpus
    assert main(["predict", model, "--data", corpus, "--article", "two.txt", "--position", "5", "--top-k", "3",
                 "--width", "120"]) == 0
    out = capsys.readouterr().out
    assert "[1/1] article two.txt, next chunk at position 5 (sequence" in out
    context = out[out.index("context (oldest first)"):out.index("  true next")].splitlines()[1:]
    assert len(context) == K and context[0].startswith("    Part 1 of two.txt is about")
    assert "    Part 5 of two.txt is about" in out
    assert "last top 3" in out and "DIRECT top 3" in out
    assert "true next at rank" in out and all(len(line) <= 120 for line in out.splitlines())


def test_a_typed_passage_is_chunked_embedded_and_looked_up(text_corpus, tmp_path, capsys):
    corpus, model = text_corpus
    passage = "\n\n".join(f"Note {i} is about {TOPICS[i]}. " + PARAGRAPH * 2 for i in range(6))
    out_json = tmp_path / "passage.json"
    assert main(["predict", model, "--data", corpus, "--text", passage, "--encoder", f"{TOY_ENCODER}:encode",
                 "--top-k", "2", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "the typed passage: what comes next?" in out and "  true next\n" not in out
    result = json.loads(out_json.read_text())
    example = result["examples"][0]
    assert result["passage_chunks"] == 6 and len(example["context"]) == K
    assert example["context"][-1]["text"].startswith("Note 5 is about")
    assert example["next"] is None and example["queries"]["DIRECT"]["rank"] is None
    assert all(hit["text"].startswith("Part ") for found in example["queries"].values() for hit in found["top"])


@pytest.mark.parametrize("extra, message", [
    (["--article", "two.txt", "--position", "40"],
     f"article 'two.txt' has next chunks at positions {K}..9 (each after K = {K} context chunks); got position 40"),
    (["--article", "nine.md", "--position", "5"], "no article 'nine.md' in split 'all'"),
    (["--article", "two.txt"], "--article and --position go together"),
    (["--article", "two.txt", "--position", "5", "--sample", "2"], "not both"),
    (["--text", "some words"], "--text needs --encoder"),
    (["--top-k", "0"], "--top-k must be >= 1, got 0"),
    (["--text", "Too short.", "--encoder", f"{TOY_ENCODER}:encode"], "has no chunk of more than 50 characters"),
    (["--text", "\n\n".join([PARAGRAPH * 2] * 2), "--encoder", f"{TOY_ENCODER}:encode"],
     "the passage makes 2 chunks of more than 50 characters (at most 400 each); the model reads K = 4"),
])
def test_errors_are_one_line_with_exit_2(text_corpus, capsys, extra, message):
    corpus, model = text_corpus
    assert main(["predict", model, "--data", corpus, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("p7keras predict: error: ") and len(err.strip().splitlines()) == 1


def test_an_unwritable_json_path_stops_before_any_work(text_corpus, tmp_path, capsys):
    corpus, model = text_corpus
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["predict", model, "--data", corpus, "--json", str(blocker / "out.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was loaded or printed
    assert captured.err.strip() == (f"p7keras predict: error: {blocker / 'out.json'}: cannot write there: "
                                    f"{blocker} is a file, not a folder")


@pytest.fixture(scope="module")
def bare_corpus(text_corpus, tmp_path_factory):
    """``(corpus.npz without texts, texts.json.gz, the texts)``: the from-text corpus with its texts kept apart."""
    import gzip

    import numpy as np

    folder = tmp_path_factory.mktemp("bare")
    with np.load(text_corpus[0]) as arrays:
        texts = [str(t) for t in arrays["texts"]]
        np.savez(folder / "bare.npz", **{k: arrays[k] for k in arrays.files if k != "texts"})
    with gzip.open(folder / "bare.texts.json.gz", "wt", encoding="utf-8") as handle:
        json.dump(texts, handle)
    return str(folder / "bare.npz"), str(folder / "bare.texts.json.gz"), texts


def test_texts_from_a_texts_file_equal_the_texts_inside_the_corpus(text_corpus, bare_corpus, tmp_path, capsys):
    corpus, model = text_corpus
    bare, texts_file, texts = bare_corpus
    chosen = ["--article", "two.txt", "--position", "5", "--top-k", "3"]
    inside, beside, none = tmp_path / "inside.json", tmp_path / "beside.json", tmp_path / "none.json"
    assert main(["predict", model, "--data", corpus, *chosen, "--json", str(inside)]) == 0
    assert main(["predict", model, "--data", bare, "--texts", texts_file, *chosen, "--json", str(beside)]) == 0
    out = capsys.readouterr().out
    assert "    Part 5 of two.txt is about" in out.split("wrote")[1]  # the second run shows texts too
    assert main(["predict", model, "--data", bare, *chosen, "--json", str(none)]) == 0
    assert "the corpus has no texts" in capsys.readouterr().out
    a, b, c = (json.loads(p.read_text()) for p in (inside, beside, none))
    assert a["examples"] == b["examples"] and b["data"]["texts"] and not c["data"]["texts"]
    assert b["examples"][0]["next"]["text"] in texts


@pytest.mark.parametrize("content, message", [
    (lambda texts: json.dumps(texts[:-1]), "holds {n1} texts but the corpus has {n} chunks"),
    (lambda texts: json.dumps({"texts": texts}), "a texts file holds a JSON list of strings, found a JSON dict"),
    (lambda texts: json.dumps([*texts[:-1], 7]), "entry {n1} is a int, not a string"),
    (lambda texts: "[\"unterminated", "not a texts file (a JSON list of strings, plain or gzipped)"),
])
def test_a_wrong_texts_file_is_one_line_with_exit_2(bare_corpus, text_corpus, tmp_path, capsys, content,
                                                           message):
    bare, _, texts = bare_corpus
    path = tmp_path / "texts.json"
    path.write_text(content(texts))
    assert main(["predict", text_corpus[1], "--data", bare, "--texts", str(path)]) == 2
    err = capsys.readouterr().err
    expected = message.format(n=len(texts), n1=len(texts) - 1)
    assert err.startswith(f"p7keras predict: error: {path}: ") and expected in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_texts_file_is_named(bare_corpus, text_corpus, tmp_path, capsys):
    missing = tmp_path / "nowhere.json.gz"
    assert main(["predict", text_corpus[1], "--data", bare_corpus[0], "--texts", str(missing)]) != 0
    err = capsys.readouterr().err
    assert str(missing) in err and len(err.strip().splitlines()) == 1
