"""``evaluate()``: JSON shape, c_K == DIRECT, .keras / run directory / SavedModel models, reports, bad input."""

import json
import re
import zipfile

import numpy as np
import pytest

import p7keras
from p7keras.evaluation import evaluate, format_table, render_html, write_html
from p7keras.io import write_json
from tests.evaluation.conftest import last_context, last_context_keras, tiny_ranker
from tests.helpers import D, K

PROTOCOL_KEYS = {"all", "exclude-context", "within-article"}
METRIC_KEYS = {"R@1", "R@5", "R@10", "MRR@10"}
FAST = dict(latency_calls=3)


def _check_retrieval_shape(retrieval, within_available=True):
    assert set(retrieval) == PROTOCOL_KEYS
    for protocol, metrics in retrieval.items():
        if protocol == "within-article" and not within_available:
            assert metrics is None
        else:
            assert set(metrics) == METRIC_KEYS
            assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_baselines_only_json_shape(corpus_path, tmp_path):
    result = evaluate(None, corpus_path, context_length=K)
    assert {"data", "baselines", "models"} <= set(result)
    assert set(result["baselines"]) == {"DIRECT", "MEAN"} and result["models"] == {}
    for retrieval in result["baselines"].values():
        _check_retrieval_shape(retrieval)
    data = result["data"]
    assert data["evaluated_sequences"] == data["sequences"] == 240 and data["context_length"] == K
    assert data["bank_size"] == 360 and data["articles"] == 30 and data["dim"] == D
    # DIRECT's query is c_K, itself in the bank: it can never rank its target first under "all".
    assert result["baselines"]["DIRECT"]["all"]["R@1"] == 0.0
    write_json(tmp_path / "r.json", result)
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(result))
    assert "no model evaluated" in format_table(result)


def test_model_returning_last_context_scores_exactly_as_direct(corpus):
    result = evaluate({"fn": last_context, "keras": last_context_keras()}, corpus, context_length=K, **FAST)
    direct = result["baselines"]["DIRECT"]
    for name in ("fn", "keras"):
        model = result["models"][name]
        assert set(model) >= {"directional", "retrieval", "ship_gate", "latency_ms"}
        assert model["retrieval"] == direct
        assert set(model["directional"]) == {"cos_next", "cos_prev", "margin", "cos_anchor"}
        assert model["directional"]["cos_prev"] == pytest.approx(1.0)
        gate = model["ship_gate"]
        assert gate["passed"] is False and gate["r5_gain"] == 0.0 and gate["mrr10_gain"] == 0.0
        assert set(gate) >= {"passed", "r5_gain", "mrr10_gain"}
        assert set(model["latency_ms"]) == {"p50", "p95"} and model["latency_ms"]["p50"] > 0
        assert model["throughput_seq_per_s"] > 0
    assert result["models"]["keras"]["kind"] == "keras" and result["models"]["fn"]["kind"] == "callable"


def test_sequence_file_without_article_ids(sequence_file, tmp_path):
    result = evaluate(last_context, sequence_file, **FAST)
    for retrieval in [*result["baselines"].values(), result["models"]["last_context"]["retrieval"]]:
        _check_retrieval_shape(retrieval, within_available=False)
    data = result["data"]
    assert data["articles"] is None and "within-article" in data["unavailable"]
    # Bank = distinct vectors among contexts and targets: here every chunk of the corpus once.
    assert data["bank_size"] == 360
    assert "n/a (no article ids)" in format_table(result)
    assert "unavailable: no article ids" in render_html(result)


def test_p7_model_from_run_directory_prefers_best_keras(corpus_path, tmp_path):
    run = tmp_path / "p7_20250101-120000"
    run.mkdir()
    model = tiny_ranker()
    model.save(run / "best.keras")
    last_context_keras().save(run / "final.keras")
    result = evaluate([run, run / "final.keras"], corpus_path, **FAST)
    assert list(result["models"]) == ["p7_20250101-120000", "p7_20250101-120000/final"]
    best = result["models"]["p7_20250101-120000"]
    assert best["source"].endswith("best.keras") and best["kind"] == "keras"
    assert result["models"]["p7_20250101-120000/final"]["retrieval"] == result["baselines"]["DIRECT"]
    _check_retrieval_shape(best["retrieval"])
    # The loaded model predicts what the saved one does.
    contexts = p7keras.data.load_sequences(corpus_path, K).contexts
    expected = p7keras.evaluation.directional_metrics(
        model.predict(contexts, verbose=0), *_bank_rows(corpus_path)
    )[0]
    assert best["directional"] == pytest.approx(expected, abs=1e-5)
    html_path = tmp_path / "report.html"
    write_html(result, html_path)
    page = html_path.read_text()
    assert "FAIL" in page and "<svg" in page and "p7_20250101-120000" in page
    assert not re.search(r"""(src|href)=["']?(https?:|//|[\w./-]+\.(css|js|png))""", page)  # self-contained
    assert "<link" not in page and "<script" not in page


def _bank_rows(path):
    seqs = p7keras.data.load_sequences(path, K)
    return seqs.bank, seqs.target_rows, seqs.context_rows


def test_exported_saved_model_matches_keras_model(corpus_path, tmp_path):
    model = tiny_ranker()
    run = tmp_path / "run"
    model.export(str(run / "export"), verbose=False)  # a run directory holding only its export
    result = evaluate({"keras": model, "saved": run}, corpus_path, **FAST)
    saved = result["models"]["saved"]
    assert saved["kind"] == "saved_model" and saved["source"].endswith("export")
    assert saved["directional"] == pytest.approx(result["models"]["keras"]["directional"], abs=1e-5)
    for protocol, metrics in saved["retrieval"].items():
        assert metrics == pytest.approx(result["models"]["keras"]["retrieval"][protocol], abs=2 / 240)


def test_saved_model_without_serving_function_is_an_error(tmp_path):
    tf = pytest.importorskip("tensorflow")
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "bare"))
    with pytest.raises(ValueError, match=r"bare: the SavedModel has no serving function.*'serve'.*serving_default"):
        p7keras.evaluation.load_predictor(tmp_path / "bare")


def test_mismatched_k_or_d_names_both_sides(corpus_path):
    model = tiny_ranker()
    with pytest.raises(ValueError, match=r"built for context length K=4, but the evaluation asks for K=5"):
        evaluate(model, corpus_path, context_length=5)
    wide = last_context_keras(d=2 * D)
    with pytest.raises(ValueError, match=rf"expects embedding width D={2 * D}, but the data .*corpus.npz.* D={D}"):
        evaluate(wide, corpus_path)
    with pytest.raises(ValueError, match=r"share the context length K; got a: K=4, b: K=3"):
        evaluate({"a": model, "b": last_context_keras(k=3)}, corpus_path)


def test_unreadable_model_paths(tmp_path, corpus_path):
    with pytest.raises(FileNotFoundError, match="missing.keras: no such model"):
        evaluate(tmp_path / "missing.keras", corpus_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt: not a model"):
        evaluate(tmp_path / "notes.txt", corpus_path)
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(ValueError, match=r"empty_run: a folder without best.keras or final.keras"):
        evaluate(tmp_path / "empty_run", corpus_path)
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"broken.keras: not a .keras model archive \(not a zip file\)"):
        evaluate(tmp_path / "broken.keras", corpus_path)
    with zipfile.ZipFile(tmp_path / "damaged.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
    with pytest.raises(ValueError, match="damaged.keras: cannot load as a Keras model"):
        evaluate(tmp_path / "damaged.keras", corpus_path)
    with pytest.raises(FileNotFoundError, match="nodata.npz"):
        evaluate(None, tmp_path / "nodata.npz")


def test_bad_predictions_are_reported():
    def zeros(contexts):
        return np.zeros((len(contexts), D), np.float32)

    def wrong_shape(contexts):
        return np.zeros((len(contexts), D + 1), np.float32)

    corpus = p7keras.data.make_synthetic_corpus(num_articles=10, chunks_per_article=8, dim=D)
    with pytest.raises(ValueError, match=r"model zeros .* predictions are zero vectors"):
        evaluate(zeros, corpus, context_length=K, strict_gate=False, **FAST)
    with pytest.raises(ValueError, match=r"model wrong_shape .*shape \(\d+, 17\).*expected \(\d+, 16\)"):
        evaluate(wrong_shape, corpus, context_length=K, strict_gate=False, **FAST)


def test_small_evaluations_and_max_samples(corpus):
    with pytest.raises(ValueError, match=r"at least 200 test sequences, but synthetic \(split all\) has 50"):
        evaluate(last_context, corpus, context_length=K, max_samples=50)
    result = evaluate(last_context, corpus, context_length=K, max_samples=50, strict_gate=False, **FAST)
    assert result["data"]["evaluated_sequences"] == 50 and result["data"]["sequences"] == 240
    assert result["data"]["bank_size"] == 360  # the bank stays the whole split
    assert result["models"]["last_context"]["ship_gate"]["passed"] is None
    assert "UNDECIDED" in format_table(result) and "UNDECIDED" in render_html(result)
    # Baselines alone need no gate.
    assert evaluate(None, corpus, context_length=K, max_samples=10)["data"]["evaluated_sequences"] == 10


def test_held_out_split_banks_only_that_split(corpus):
    val = evaluate(None, corpus, context_length=K, split="val")
    assert val["data"]["split"] == "val"
    assert val["data"]["bank_size"] == 12 * val["data"]["articles"] < 360
    # A SequenceSet is evaluated as it is.
    sequences = p7keras.data.load_sequences(corpus, K, "val")
    assert evaluate(None, sequences)["baselines"] == val["baselines"]
    with pytest.raises(ValueError, match=r"has context length K=4, but the evaluation asks for K=5"):
        evaluate(None, sequences, context_length=5)
