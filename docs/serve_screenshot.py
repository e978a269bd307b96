"""The README's screenshot of the ``p7keras serve`` page: one query, rendered in headless Chromium.

Example (a service already running on port 8000):

    $ python docs/serve_screenshot.py http://127.0.0.1:8000 --article ARTICLE --position 12 --out docs/serve-page.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests name the browser

from tests.serve.test_page import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--article", required=True)
    parser.add_argument("--position", type=int, required=True)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--out", default="docs/serve-page.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(args.url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        page.fill("#article", args.article)
        page.dispatch_event("#article", "change")
        page.fill("#position", str(args.position))
        page.fill("#top-k", str(args.top_k))
        page.click("#go")
        page.wait_for_selector(".column[data-query=DIRECT] li.hit", timeout=60_000)
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
