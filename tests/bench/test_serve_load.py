"""The load test of ``p7keras serve`` (a benchmark; here only its bookkeeping): every request is answered,
counted, and the server stops cleanly."""

import pytest

from p7keras.bench.serve import load_test
from tests.serve.conftest import serve_corpus, serve_corpus_path, serve_model_path  # noqa: F401 (fixtures)

pytestmark = pytest.mark.one_backend


def test_a_short_load_test_answers_every_request_and_stops_the_server(serve_model_path, serve_corpus_path):
    figures = load_test(serve_model_path, serve_corpus_path, clients=(1, 4), seconds=1.0,
                        endpoints=("predict", "next"), top_k=3)
    assert figures["exit_code"] == 0
    assert [(level["endpoint"], level["clients"]) for level in figures["levels"]] == [
        ("/v1/predict", 1), ("/v1/predict", 4), ("/v1/next", 1), ("/v1/next", 4)]
    for level in figures["levels"]:
        assert level["errors"] == 0 and level["lost"] == 0 and level["requests"] > 0
        assert 0 < level["p50_ms"] <= level["p99_ms"] and level["requests_per_s"] > 0
        assert level["rss_mib_max"] >= level["rss_mib_start"] > 0
    assert any(line.startswith("index flat: built") for line in figures["startup_lines"])
