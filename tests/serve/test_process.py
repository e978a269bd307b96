"""A real ``p7keras serve`` process on 127.0.0.1: a real HTTP client, SIGTERM finishing the request in flight,
and the refusals before anything is bound (exit 2, one line)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from p7keras.bench.serve import free_port

from tests.helpers import D, K

pytestmark = pytest.mark.one_backend  # the process runs the session's backend; the API is tested on each


def _serve(*args):
    return subprocess.Popen([sys.executable, "-m", "p7keras", "serve", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_ready(process, url, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {process.communicate()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("serve was not ready in time")


def test_a_served_model_answers_and_sigterm_finishes_the_request_in_flight(serve_model_path, serve_corpus_path,
                                                                            serve_corpus):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # --compile-single: PyTorch (torch.compile) and TensorFlow (XLA) compile the one-sequence requests below
    process = _serve(serve_model_path, "--bank", serve_corpus_path, "--port", port, "--compile-single")
    try:
        _wait_ready(process, url)
        name = str(serve_corpus.article_names[2])
        answer = httpx.post(url + "/v1/next", json={"article": name, "position": 7, "top_k": 3, "direct": True},
                            timeout=30)
        assert answer.status_code == 200
        example = answer.json()["examples"][0]
        assert example["next"]["text"] == f"chunk 7 of {name}: words about part 7"
        assert len(example["queries"]["DIRECT"]["top"]) == 3
        assert httpx.post(url + "/v1/predict", content=b"{", headers={"content-type": "application/json"},
                          timeout=30).status_code == 400
        in_flight = {}

        body = json.dumps({"contexts": [[[0.25] * D] * K]}).encode()

        def slow_body():  # the body arrives in two parts, 1.5 s apart: SIGTERM comes in between
            yield body[:20]
            time.sleep(1.5)
            yield body[20:]

        def slow_request():
            in_flight["answer"] = httpx.post(url + "/v1/predict", content=slow_body(), timeout=30,
                                             headers={"content-type": "application/json"})

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        thread.join(30)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert in_flight["answer"].status_code == 200 and len(in_flight["answer"].json()["predictions"]) == 1
    assert process.returncode == 0, err
    assert "serving on http://127.0.0.1:" in out and out.rstrip().endswith("stopped")
    assert "index flat: built" in out


@pytest.mark.parametrize("case", ["no model", "no bank", "port in use", "bad index setting"])
def test_what_cannot_be_served_is_refused_in_one_line_before_binding(case, serve_model_path, serve_corpus_path,
                                                                     tmp_path):
    port = free_port()
    args = [serve_model_path, "--bank", serve_corpus_path, "--port", port]
    holder = None
    if case == "no model":
        args[0] = tmp_path / "missing.keras"
    elif case == "no bank":
        args[2] = tmp_path / "missing.npz"
    elif case == "port in use":
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen()
    else:
        args += ["--index", "hnsw", "--ef-search", "0"]
    start = time.monotonic()
    process = _serve(*args)
    out, err = process.communicate(timeout=120)
    if holder is not None:
        holder.close()
    assert process.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p7keras serve: error:")
    expected = {"no model": "missing.keras", "no bank": "missing.npz", "port in use": f"{port} is in use",
                "bad index setting": "ef_search must be >= 1, got 0"}[case]
    assert expected in lines[0]
    assert time.monotonic() - start < 30  # refused before Keras loads
    if case != "port in use":
        with socket.socket() as probe:  # nothing was bound
            probe.bind(("127.0.0.1", port))
