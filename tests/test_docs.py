"""The docs site (`make docs`), built offline and opened page by page in headless Chromium.

The site is built once per session by `tools/build_docs.py --offline` into a temporary folder (the `_proc/`
cache of processed notebooks is shared with `make docs`), served from 127.0.0.1 on a free port, and every page
is visited: it must load with no console error (SEVERE browser log: a script error, or anything that failed to
load, such as a CDN file on this offline machine) and every internal link must reach a page (HTTP 200) and,
when it names an anchor, an element with that id. The home page's screenshot is kept in `tests/_output/`.

Chromium comes from Debian (`chromium`, `chromium-driver`; `.ci/run` installs them). Without it these tests
skip, except in CI (`CI` set), where they fail.
"""
import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "_output"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
sys.path.insert(0, str(ROOT / "tools"))
import build_docs  # noqa: E402


# ------------------------------------------------------------------------------------------ the machinery
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@contextmanager
def serve(folder: Path):
    "`folder` over HTTP on 127.0.0.1, a free port, in a thread; yields the base URL."
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try: yield f"http://127.0.0.1:{srv.server_port}/"
    finally:
        srv.shutdown(); srv.server_close(); t.join(10)


def _need_chromium():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if not missing: return
    why = f"{', '.join(missing)} not found (Debian packages chromium and chromium-driver; .ci/run installs them)"
    if os.environ.get("CI"): pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser():
    "Headless Chromium through chromedriver; Selenium is given both paths, so selenium-manager never downloads."
    _need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r: return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e: return e.code, ""


def check_site(driver, base: str, pages: list[str]) -> list[str]:
    """Open every page in the browser; return the problems, each naming its page: console errors, a page that
    does not load, internal links (`<a href>`) whose target is not HTTP 200 or lacks the anchor they name."""
    problems, targets = [], {}

    def target(url):
        if url not in targets:
            status, body = _fetch(url)
            targets[url] = (status, set(re.findall(r'\b(?:id|name)="([^"]+)"', body)))
        return targets[url]

    driver.get_log("browser")  # drop whatever came before
    for page in pages:
        url = base + page
        status, _ = target(url)
        if status != 200: problems.append(f"{page}: does not load (HTTP {status})"); continue
        driver.get(url)
        for e in driver.get_log("browser"):
            if e["level"] == "SEVERE": problems.append(f"{page}: console error: {e['message']}")
        if not driver.execute_script("return document.readyState === 'complete' && !!document.querySelector('h1')"):
            problems.append(f"{page}: no heading after loading (empty page?)")
        hrefs = driver.execute_script("return Array.from(document.querySelectorAll('a[href]'), a => a.href)")
        for href in sorted(set(hrefs)):
            if not href.startswith(base): continue  # external links are not followed (the machine is offline)
            path, _, frag = href.partition("#")
            st, ids = target(path)
            if st != 200: problems.append(f"{page}: broken link to {href[len(base):]} (HTTP {st})")
            elif frag and frag not in ids and urllib.parse.unquote(frag) not in ids:  # as browsers: raw, then decoded
                problems.append(f"{page}: link to {href[len(base):]}: no element with id {urllib.parse.unquote(frag)!r}")
    return problems


def _text(path: Path) -> str:
    "A page's visible text, roughly: tags dropped, entities decoded."
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


# ------------------------------------------------------------------------------------------ the site
@pytest.fixture(scope="session")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "site"
    t = time.time()
    # One worker process, not make docs's two: `make test` already keeps both cores busy, and a second worker imports what the
    # notebooks import (torch, ...) all over again. The same site, byte for byte (diff -r); a cold build (no _proc/, as in a
    # clean clone) 32.5 s -> 25.2 s of CPU (user+sys).
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_docs.py"), "--offline", "--workers", "1", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"the docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    print(f"docs built in {time.time() - t:.1f}s: {r.stdout.strip().splitlines()[-1]}")
    return out


def test_every_notebook_has_a_page_in_the_sidebar(site):
    pages = build_docs.find_pages(ROOT / "nbs")
    assert len(pages) >= 40 and all((site / p.out).exists() for p in pages), [p.out for p in pages if not (site / p.out).exists()]
    index = (site / "index.html").read_text()
    nav = index[index.index('<nav class="sidebar">'):index.index("</nav>")]
    for p in pages: assert f'href="{p.out}"' in nav, f"{p.out} is missing from the sidebar"
    # sections in the layer order of ARCHITECTURE.md, the guides before them
    found = re.findall(r'<div class="nav-title">([^<]+)</div>', nav)
    layers = [s for s in found if s in build_docs.LAYERS.values()]
    assert layers == sorted(layers, key=lambda s: int(s.split()[0])) and {"00 core", "10 data", "40 models", "95 apps"} <= set(layers), found
    assert found[0] == "Guides", found
    guides = re.findall(r'href="(tutorials\.[^"]+)"', nav)
    assert guides == ["tutorials.quickstart.html", "tutorials.research_to_live.html"], guides


def test_pages_and_sections_from_the_notebook_tree(tmp_path):
    "Module notebooks by layer, tutorials as guides, papermill templates (when nbs/pipelines/ exists) as worked examples."
    for rel in ("index.ipynb", "11_data.loader.ipynb", "96_apps.live.ipynb", "99_extra.thing.ipynb", "tutorials/quickstart.ipynb",
                "pipelines/train.ipynb", "pipelines/backtest.ipynb", "examples/live_day.ipynb", "_scratch/x.ipynb", ".ipynb_checkpoints/index-checkpoint.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True); (tmp_path / rel).write_text("{}")
    got = {p.out: p.section for p in build_docs.find_pages(tmp_path)}
    assert got == {"index.html": "Home", "data.loader.html": "10 data", "apps.live.html": "95 apps", "extra.thing.html": "Other modules",
                   "tutorials.quickstart.html": "Guides", "pipelines.train.html": "Worked examples",
                   "pipelines.backtest.html": "Worked examples", "examples.live_day.html": "Worked examples"}, got
    real = build_docs.find_pages(ROOT / "nbs")
    assert all((ROOT / "nbs" / p.out.split(".")[0]).is_dir() for p in real if p.section == "Worked examples")  # only examples/, pipelines/


def test_module_pages_show_the_api_and_the_tests_as_examples(site):
    loader = site / "data.loader.html"
    text = _text(loader)
    assert '<h3 id="read_csv_bars">' in loader.read_text()      # show_doc's entry, the anchor nbdev links to
    assert "def read_csv_bars(" in text and "a SYMBOL_15min_*.csv file in the seed format" in text  # signature + docments
    assert 'test_eq(symbol_from_path("BRK.B_15min_2025.csv"), "BRK.B")' in text                   # a test, as an example
    assert "#| export" not in text and "nbdev_export()" not in text and "#|" not in text
    assert "Loading bars" in text and "<!-- WARNING" not in loader.read_text()


def test_links_are_relative_and_nothing_loads_from_the_network(site):
    host = "alphatrade.github.io"
    for f in site.glob("*.html"):
        s = f.read_text()
        assert host not in s, f"{f.name}: nbdev's doc_host link left absolute"
        assert not re.search(r'href="[^"]*\.ipynb[#"]', s), f"{f.name}: a link to a notebook, not its page"
        assert not re.search(r'<(script|link|img)\b[^>]*\b(src|href)="(https?:)?//', s), f"{f.name}: loads from the network"
        assert "require.js" not in s and "MathJax" not in s, f.name


def test_every_page_loads_clean_in_chromium_and_the_home_page_screenshot(site, browser, tmp_path):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    t = time.time()
    with serve(site) as base:
        problems = check_site(browser, base, pages)
        browser.set_window_size(1400, 1000)
        browser.get(base + "index.html")
        shot = tmp_path / "docs-home.png"
        assert browser.save_screenshot(str(shot))
    print(f"{len(pages)} pages checked in {time.time() - t:.1f}s")
    OUTPUT.mkdir(exist_ok=True)
    shutil.copyfile(shot, OUTPUT / "docs-home.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert not problems, f"{len(problems)} problem(s) in the docs site:\n" + "\n".join(problems[:60])


# ------------------------------------------------------------------------------------------ the check can fail
def test_the_check_reports_console_errors_and_broken_links(browser, tmp_path):
    icon = '<link rel="icon" href="data:,">'  # or the browser asks for /favicon.ico, a 404 of its own
    (tmp_path / "index.html").write_text(
        f'<!DOCTYPE html><html><head>{icon}</head><body><h1>Home</h1><a href="good.html#here">good</a> <a href="good.html#nowhere">bad anchor</a>'
        ' <a href="missing.html">missing</a> <a href="https://example.invalid/">external, not followed</a>'
        '<script>console.error("planted error")</script></body></html>')
    (tmp_path / "good.html").write_text(f'<!DOCTYPE html><html><head>{icon}</head><body><h1 id="here">Good</h1>'
                                        '<script src="https://cdn.example.invalid/lib.js"></script></body></html>')
    with serve(tmp_path) as base:
        problems = check_site(browser, base, ["index.html", "good.html", "gone.html"])
    text = "\n".join(problems)
    assert "index.html: broken link to missing.html (HTTP 404)" in text, text
    assert "index.html: link to good.html#nowhere: no element with id 'nowhere'" in text, text
    assert any(p.startswith("index.html: console error") and "planted error" in p for p in problems), text
    assert any(p.startswith("good.html: console error") and "cdn.example.invalid" in p for p in problems), text
    assert "gone.html: does not load (HTTP 404)" in text, text
    assert "good.html#here" not in text and "example.invalid/\n" not in text
    assert len(problems) == 5, text
