"""The website test: every page of the built site in headless Chromium.

``make book-check`` builds the site in fast mode (``tools/book.py --fast``) and runs
this module (``pytest --e2e -m site``); after ``make book`` (full mode) the same test
checks the real site. Each page, served over HTTP from ``build/book/html``:

- shows every figure of its notebook (each ``<img>`` loaded) and every video playing;
- shows no error output (tracebacks, or stderr naming an error);
- keeps each solution collapsed behind its toggle, and holds none of the instructors'
  model answers and no mode banner;
- links only to pages and files that exist; the search finds a word of the course.

A screenshot of each page goes to ``build/book/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab_driver
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.site]

REPO = lab_driver.REPO
BOOK = REPO / "build" / "book"
HTML = BOOK / "html"
SRC = BOOK / "src"
SHOTS = BOOK / "screenshots"
CHROMIUM = os.environ.get("E2E_CHROMIUM", lab_driver.DEFAULT_CHROMIUM)
PAGES = [p.stem for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
AUTOPLAY = "--autoplay-policy=no-user-gesture-required"
BANNERS = ("FAST MODE is on", "Full mode: budgets", "GRADING MODE is on")

JS_LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
JS_HITS = "() => document.querySelectorAll('#search-results li').length"
JS_PAGE = """async (videoTimeoutMs) => {
  const images = Array.from(document.querySelectorAll('.cell_output img'));
  const videos = Array.from(document.querySelectorAll('.cell_output video'));
  const played = [];
  for (const v of videos) {
    v.muted = true;
    const start = Date.now();
    while (v.readyState < 2 && Date.now() - start < videoTimeoutMs) {
      await new Promise(r => setTimeout(r, 100));
    }
    let ok = v.readyState >= 2;
    if (ok) {
      try { await v.play(); } catch (e) { ok = false; }
      const t0 = v.currentTime;
      await new Promise(r => setTimeout(r, 600));
      ok = ok && v.currentTime > t0;
    }
    played.push(ok);
  }
  const hidden = Array.from(document.querySelectorAll('details.hide'));
  return {
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    videos: played,
    toggles: hidden.length,
    open: hidden.filter(d => d.open).length,
    visible: document.body.innerText,
    errors: Array.from(document.querySelectorAll(
      '.cell_output .output.traceback, .cell_output .output.error'))
      .map(e => e.innerText),
    stderr: Array.from(document.querySelectorAll('.cell_output .output.stderr'))
      .map(e => e.innerText),
    links: Array.from(document.querySelectorAll('a[href]'))
      .map(a => a.getAttribute('href')),
  };
}"""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} holds no site: run make book-fast (or make book) first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: apt-get install chromium or set E2E_CHROMIUM"
        )
    pytest.importorskip("playwright.sync_api", reason="make dev")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with lab_driver.chromium(profile, CHROMIUM, [AUTOPLAY]) as context:
        yield context


def _source(page: str) -> dict[str, Any]:
    return json.loads((SRC / f"{page}.ipynb").read_text())


def _expected(notebook: dict[str, Any]) -> tuple[int, int, int]:
    """Figures, videos and hidden solutions the page must show."""
    figures = videos = toggles = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        toggles += "hide-input" in cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            figures += "image/png" in data
            videos += "<video" in "".join(data.get("text/html", ""))
    return figures, videos, toggles


def _model_answers(page: str) -> list[str]:
    """A line of each instructors' model answer in the source notebook."""
    notebook = json.loads((REPO / "notebooks" / f"{page}.ipynb").read_text())
    lines = []
    for cell in notebook["cells"]:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            text = "".join(cell["source"])
            longest = max(text.splitlines(), key=len, default="").strip()
            if len(longest) > 40:
                lines.append(re.sub(r"[*_`$]", "", longest)[:60])
    return lines


def _dead_links(url: str, links: list[str]) -> list[str]:
    dead = []
    for href in links:
        parsed = urllib.parse.urlparse(urllib.parse.urljoin(url, href))
        if parsed.hostname != "127.0.0.1":
            continue
        path = HTML / urllib.parse.unquote(parsed.path.lstrip("/"))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            dead.append(href)
    return dead


@pytest.mark.parametrize("page", PAGES)
def test_page_shows_the_notebook(page: str, site: str, browser: Any) -> None:
    url = f"{site}{page}.html"
    tab = browser.new_page()
    try:
        response = tab.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url}: HTTP error"
        found = tab.evaluate(JS_PAGE, 30_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"{page}.png"), full_page=True)
    finally:
        tab.close()
    figures, videos, toggles = _expected(_source(page))
    problems = []
    if found["images"] < figures or found["loaded"] < found["images"]:
        problems.append(
            f"{figures} figures expected, {found['images']} shown, "
            f"{found['loaded']} loaded"
        )
    if len(found["videos"]) != videos or not all(found["videos"]):
        problems.append(f"{videos} videos expected; playing: {found['videos']}")
    if found["toggles"] < toggles or found["open"]:
        problems.append(
            f"{toggles} solutions should be collapsed: {found['toggles']} toggles, "
            f"{found['open']} open"
        )
    problems += [f"error output: {text[:200]}" for text in found["errors"]]
    problems += [
        f"stderr names an error: {text[:200]}"
        for text in found["stderr"]
        if lab_driver.stderr_is_error(text)
    ]
    problems += [f"mode banner shown: {b}" for b in BANNERS if b in found["visible"]]
    if "### BEGIN SOLUTION" in found["visible"]:
        problems.append("a solution is visible without opening its toggle")
    html = (HTML / f"{page}.html").read_text()
    problems += [
        f"model answer on the page: {line!r}"
        for line in _model_answers(page)
        if line in html
    ]
    problems += [f"dead link: {href}" for href in _dead_links(url, found["links"])]
    assert not problems, f"{page}:\n" + "\n".join(f"  - {p}" for p in problems)


def test_landing_page_shows_the_agents_and_the_map(site: str, browser: Any) -> None:
    tab = browser.new_page()
    try:
        tab.goto(site, wait_until="load")
        images = tab.evaluate(
            """() => Array.from(document.querySelectorAll('img'))
                 .filter(i => i.getAttribute('src').startsWith('_static/media/'))
                 .map(i => i.complete && i.naturalWidth > 0)"""
        )
        links = tab.evaluate(JS_LINKS)
        tab.screenshot(path=str(SHOTS / "index.png"), full_page=True)
    finally:
        tab.close()
    assert len(images) >= 4 and all(images), f"the agents' animations: {images}"
    for page in PAGES:
        assert any(href.split("#")[0].endswith(f"/{page}.html") for href in links), (
            f"the course map does not link {page}.html"
        )
    assert not _dead_links(site, links), _dead_links(site, links)


def test_search_finds_the_course(site: str, browser: Any) -> None:
    tab = browser.new_page()
    try:
        tab.goto(f"{site}search.html?q=replay", wait_until="load")
        tab.wait_for_selector("#search-results li", timeout=30_000)
        hits = tab.evaluate(JS_HITS)
    finally:
        tab.close()
    assert hits > 0, "searching for 'replay' finds no page"
