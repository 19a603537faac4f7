"""Check the built site in a real browser: ``python docs/check_site.py [SITE_DIR]``.

Serves ``SITE_DIR`` (default ``site/``) on a free localhost port and opens every page in
headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``). A page fails when

* the browser logs a console error or an uncaught exception, or a request fails;
* it asks for anything outside localhost (the site must work offline);
* an image did not load (``naturalWidth == 0``);
* an internal link points to a file that does not exist, or to an anchor that the target
  page does not have;
* a formula was not typeset by MathJax (an ``arithmatex`` element without MathJax output
  inside, or a TeX error).

A full-page screenshot of every tutorial is saved in ``build/screenshots/``. Exits with
status 1 and a list of the problems when any page fails.
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Flags for headless Chromium as root on a machine without a network: no sandbox (root),
# no GPU, and no background connections to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
MATH_TIMEOUT_MS = 30_000

# Inspects one loaded page: formulas, images and links.
PAGE_PROBE = """() => {
  const math = [...document.querySelectorAll('.arithmatex')];
  const untypeset = math.filter(e => !e.querySelector('mjx-container'))
                        .map(e => e.textContent.slice(0, 80));
  const errors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
                  .map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80));
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0)
                       .map(i => i.getAttribute('src'));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  return {math: math.length, untypeset, errors, images: images.length, broken, links};
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pages(site: Path) -> list[str]:
    """URL paths of every page of the site (directory URLs), home first."""
    found = sorted(p.parent.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return ["/" if p == "." else f"/{p}/" for p in found]


@functools.cache
def _ids(html_file: Path) -> frozenset[str]:
    text = html_file.read_text(encoding="utf-8", errors="replace")
    return frozenset(re.findall(r'\s(?:id|name)="([^"]+)"', text))


def check_link(site: Path, base: str, href: str) -> str | None:
    """None when an internal link resolves (file and anchor); else the problem."""
    parts = urlsplit(href)
    if not href.startswith(base):
        return None  # external or non-http link: not checked (no network here)
    target = site / unquote(parts.path).lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"broken link {href}: no file {target.relative_to(site)}"
    frag = unquote(parts.fragment)
    if frag and target.suffix == ".html" and frag not in _ids(target):
        return f"broken anchor {href}: no id {frag!r} in {target.relative_to(site)}"
    return None


def check_page(page, site: Path, base: str, path: str) -> tuple[list[str], dict]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(
        f"request failed: {r.url} ({r.failure})") if r.url.startswith(base) else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    page.goto(base + path, wait_until="load")
    if page.locator(".arithmatex").count():
        try:
            page.wait_for_function("document.documentElement.dataset.mathjax === 'done'",
                                   timeout=MATH_TIMEOUT_MS)
        except Exception as exc:  # playwright's TimeoutError
            problems.append(f"MathJax did not finish: {exc}")
    info = page.evaluate(PAGE_PROBE)
    problems += [f"formula not typeset: {t!r}" for t in info["untypeset"]]
    problems += [f"TeX error: {t!r}" for t in info["errors"]]
    problems += [f"image did not load: {src}" for src in info["broken"]]
    for href in sorted(set(info["links"])):
        bad = check_link(site, base, href)
        if bad:
            problems.append(bad)
    return problems, info


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    site = Path(argv[0] if argv else ROOT / "site").resolve()
    if not (site / "index.html").is_file():
        print(f"check_site: no built site in {site} (run python docs/build.py)")
        return 2
    server, base = serve(site)
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures: dict[str, list[str]] = {}
    totals = {"pages": 0, "math": 0, "images": 0, "links": 0}
    external: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})

            def route(r):
                if r.request.url.startswith(base):
                    r.continue_()
                else:
                    external.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            for path in pages(site):
                page = context.new_page()
                problems, info = check_page(page, site, base, path)
                if path.startswith("/tutorials/"):
                    name = path.strip("/").split("/")[-1]
                    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
                page.close()
                totals["pages"] += 1
                totals["math"] += info["math"]
                totals["images"] += info["images"]
                totals["links"] += len(info["links"])
                status = "ok" if not problems else f"{len(problems)} problem(s)"
                print(f"  {path:45s} {info['math']:4d} formulas {info['images']:3d} images "
                      f"{len(info['links']):4d} links  {status}", flush=True)
                if problems:
                    failures[path] = problems
            browser.close()
    finally:
        server.shutdown()
    if external:
        failures["(site)"] = [f"request outside localhost: {u}" for u in sorted(set(external))]
    print(f"check_site: {totals['pages']} pages, {totals['math']} formulas typeset, "
          f"{totals['images']} images, {totals['links']} links checked; screenshots of the "
          f"tutorials in {SHOTS}")
    if failures:
        for path, problems in failures.items():
            print(f"FAIL {path}")
            for p in problems:
                print(f"    {p}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
