"""The HTTP API in process (FastAPI's TestClient), on every backend: answers, marks, limits, bad requests."""

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from p7keras.data import load_sequences
from p7keras.evaluation.bank_index import BankIndex
from p7keras.evaluation.predictors import load_predictor
from p7keras.evaluation.retrieval import count_higher
from p7keras.serve import NextService, ServiceLimits, create_app
from tests.helpers import D, K


@pytest.fixture(scope="module")
def served(serve_corpus, serve_model_path):
    predictor = load_predictor(serve_model_path)
    sequences = load_sequences(serve_corpus, K)
    service = NextService(predictor, sequences, BankIndex.build(sequences.bank),
                          limits=ServiceLimits(max_top_k=20, max_sequences=8, max_wait_ms=1.0))
    with TestClient(create_app(service, max_body_bytes=200_000)) as client:
        yield client, service, predictor, sequences


def test_predict_returns_the_models_predictions(served):
    client, _, predictor, sequences = served
    contexts = sequences.contexts[:3]
    answer = client.post("/v1/predict", json={"contexts": contexts.tolist()})
    assert answer.status_code == 200
    got = np.array(answer.json()["predictions"], dtype=np.float32)
    np.testing.assert_allclose(got, predictor.predict(contexts), rtol=1e-5, atol=1e-6)
    one = client.post("/v1/predict", json={"contexts": contexts[0].tolist()}).json()["predictions"]
    np.testing.assert_allclose(one, got[:1], rtol=1e-5, atol=1e-6)


def test_next_by_article_and_position_shows_context_next_and_exact_ranks(served):
    client, _, predictor, sequences = served
    name = str(sequences.article_names[1])
    answer = client.post("/v1/next", json={"article": name, "position": 6, "top_k": 5, "direct": True})
    assert answer.status_code == 200, answer.text
    example = answer.json()["examples"][0]
    assert example["article"] == name and example["position"] == 6
    assert [c["position"] for c in example["context"]] == [2, 3, 4, 5]
    assert example["next"]["text"] == f"chunk 6 of {name}: words about part 6"
    context_rows = {c["row"] for c in example["context"]}
    index = int(np.flatnonzero(sequences.target_rows == example["next"]["row"])[0])
    for query, vector in ((predictor.name, predictor.predict(sequences.contexts[index : index + 1])),
                          ("DIRECT", sequences.contexts[index : index + 1, -1])):
        found = example["queries"][query]
        assert found["rank"] == 1 + int(count_higher(vector, sequences.bank, sequences.target_rows[[index]]).above[0])
        assert len(found["top"]) == 5 and not any(hit["in_context"] for hit in found["top"])
        assert not context_rows & {hit["row"] for hit in found["top"]}  # excluded by default
        cosines = [hit["cosine"] for hit in found["top"]]
        assert cosines == sorted(cosines, reverse=True) and all(-1.0 <= c <= 1.0 + 1e-6 for c in cosines)


def test_context_chunks_are_marked_when_not_excluded_even_for_pasted_vectors(served):
    client, _, _, sequences = served
    contexts = sequences.contexts[10:11]
    answer = client.post("/v1/next", json={"contexts": contexts.tolist(), "top_k": 3, "direct": True,
                                           "exclude_context": False})
    assert answer.status_code == 200
    top = answer.json()["examples"][0]["queries"]["DIRECT"]["top"]
    assert top[0]["row"] == int(sequences.context_rows[10, -1]) and top[0]["in_context"] is True
    assert math.isclose(top[0]["cosine"], 1.0, abs_tol=1e-5)


BAD = [
    ("not JSON", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ("wrong K", {"json": {"contexts": np.zeros((1, K + 1, D)).tolist()}}, 422, f"(B, {K}, {D})"),
    ("wrong D", {"json": {"contexts": np.ones((1, K, D - 1)).tolist()}}, 422, "got shape (1, 4, 15)"),
    ("NaN", {"content": ("{\"contexts\": [" + ",".join(["[" + ",".join(["NaN"] * D) + "]"] * K) + "]}").encode(),
             "headers": {"content-type": "application/json"}}, 422, "NaN or inf"),
    ("a string", {"json": {"contexts": "abc"}}, 422, "contexts"),
    ("too many sequences", {"json": {"contexts": np.ones((9, K, D)).tolist()}}, 413, "1 to 8 sequences"),
    ("huge body", {"content": b"[" + b"1," * 150_000 + b"1]", "headers": {"content-type": "application/json"}},
     413, "200000"),
]


@pytest.mark.parametrize("what,request_args,status,words", BAD, ids=[b[0] for b in BAD])
def test_a_bad_predict_request_gets_a_4xx_that_names_it_and_the_service_goes_on(served, what, request_args,
                                                                                 status, words):
    client, _, _, sequences = served
    answer = client.post("/v1/predict", **request_args)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert client.post("/v1/predict", json={"contexts": sequences.contexts[:1].tolist()}).status_code == 200


BAD_NEXT = [
    ("unknown article", {"article": "no-such-article", "position": 5}, 404, "no article 'no-such-article'"),
    ("position out of range", {"article": "0", "position": 99}, 422, "got position 99"),
    ("article without position", {"article": "0"}, 422, "needs the position"),
    ("two kinds of query", {"article": "0", "position": 5, "passage": "text"}, 422, "exactly one"),
    ("a passage without encoder", {"passage": "some text"}, 422, "no encoder"),
    ("top_k too large", {"article": "0", "position": 5, "top_k": 21}, 422, "top_k must be 1 to 20"),
]


@pytest.mark.parametrize("what,body,status,words", BAD_NEXT, ids=[b[0] for b in BAD_NEXT])
def test_a_bad_next_request_gets_a_4xx_that_names_it(served, what, body, status, words):
    client, _, _, sequences = served
    if body.get("article") == "0":
        body = {**body, "article": str(sequences.article_names[0])}
    answer = client.post("/v1/next", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert client.post("/v1/next", json={"contexts": sequences.contexts[:1].tolist()}).status_code == 200


def test_health_readiness_metrics_schema_and_page(served):
    client, service, _, _ = served
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/next", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
    info = client.get("/v1/info").json()
    assert info["model"]["context_length"] == K and info["bank"]["rows"] == len(service.sequences.bank)
    articles = client.get("/v1/articles", params={"limit": 2}).json()
    assert articles["total"] == 12 and len(articles["articles"]) == 2
    assert articles["articles"][0]["first_position"] == K
    assert client.get("/").text.startswith("<!doctype html>")
    client.post("/v1/predict", json={"contexts": "x"})
    client.post("/v1/predict", json={"contexts": service.sequences.contexts[:1].tolist()})  # xdist: tests of this
    text = client.get("/metrics").text                                                    # module may run apart
    assert 'p7keras_requests_total{path="/v1/predict",status="200"}' in text
    assert 'p7keras_errors_total{kind="client",path="/v1/predict"}' in text
    assert "p7keras_request_latency_seconds_bucket" in text and 'p7keras_batch_rows_count{stage="predict"}' in text


def test_the_started_service_has_compiled_every_batch_size_up_to_max_batch(served):
    """Warm-up before ready: a micro-batch of any size up to ``max_batch`` compiles nothing new (JAX pads to
    buckets; the other backends compile once)."""
    _, service, predictor, sequences = served
    traces = predictor.batch_fn.traces
    contexts = np.asarray(sequences.bank[sequences.context_rows[:service.limits.max_batch]], np.float32)
    for size in range(1, len(contexts) + 1):
        predictor.predict(contexts[:size])
    assert predictor.batch_fn.traces == traces


def test_a_service_loaded_with_compile_single_compiles_one_sequence_calls(serve_corpus, serve_model_path):
    import keras

    from p7keras.serve import load_service

    service, _ = load_service(serve_model_path, serve_corpus, compile_single=True)
    one = service.sequences.contexts[:1]
    np.testing.assert_allclose(service.predictor.predict(one), load_predictor(serve_model_path).predict(one),
                               atol=1e-5, rtol=0)
    assert service.predictor.batch_fn.mode == {"tensorflow": "tf.function+compile_single", "jax": "jax.jit",
                                               "torch": "torch.export+compile_single"}[keras.backend.backend()]
