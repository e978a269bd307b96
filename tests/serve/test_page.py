"""The page at ``/`` in a real headless Chromium (Playwright): it loads, a query returns and renders the chunks."""

import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.one_backend

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_url(serve_corpus, serve_model_path):
    import uvicorn

    from p7keras.serve import create_app, load_service

    service, _ = load_service(serve_model_path, serve_corpus)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def test_the_page_loads_asks_and_renders_the_next_chunks(browser, page_url, serve_corpus, tmp_path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert "12 articles" in page.inner_text("#facts")
    name = str(serve_corpus.article_names[3])
    page.fill("#article", name)
    page.dispatch_event("#article", "change")
    page.fill("#position", "8")
    page.click("#go")
    page.wait_for_selector(".column[data-query=DIRECT] li.hit", timeout=30_000)
    assert page.inner_text(".next") .endswith(f"chunk 8 of {name}: words about part 8")
    assert page.locator(".chunk.context").count() == 4
    columns = page.locator(".column")
    assert columns.count() == 2
    assert page.locator(".column[data-query=DIRECT] li.hit").count() == 5
    assert "true next chunk: rank" in page.inner_text(".column >> nth=0")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert os.path.getsize(tmp_path / "page.png") > 10_000

    vectors = serve_corpus.vectors[np.flatnonzero(serve_corpus.article_ids == 0)[:4]]
    page.click("summary")
    page.fill("#vectors", str(vectors.tolist()))
    page.click("#go-vectors")
    page.wait_for_function("!document.querySelector('.next') && document.querySelectorAll('li.hit').length > 0",
                           timeout=30_000)
    page.fill("#vectors", "[[1, 2]]")
    page.click("#go-vectors")
    page.wait_for_function("document.getElementById('error').textContent.startsWith('422')", timeout=30_000)
    assert "(B, 4, 16)" in page.inner_text("#error")
    assert errors == []
