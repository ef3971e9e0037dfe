"""Open rxrank reports in headless Chromium (Debian's package) through Playwright.

Used by tests/test_browser.py and by ``python -m tests.browser`` to refresh the screenshots under
``docs/screenshots/``. Every request other than the page itself is recorded and aborted, so a page
that tries to load anything fails the check instead of reaching the network.
"""

from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: Flags as the machine notes advise for a closed network: no background connections at start.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium, or None when it is not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageVisit:
    """What happened while one page was open."""

    console: list[str] = field(default_factory=list)  # console messages of level warning/error
    errors: list[str] = field(default_factory=list)  # uncaught page errors
    requests: list[str] = field(default_factory=list)  # every request except the page itself
    text: str = ""


@contextmanager
def browser():
    """A Playwright Chromium browser (the system binary), closed on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium installed (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def _opened(b, html: Path):
    """A fresh offline context with ``html`` loaded: (page, visit record); closed on exit."""
    out = PageVisit()
    url = html.resolve().as_uri()
    context = b.new_context(viewport={"width": 1200, "height": 900})
    context.set_offline(True)
    page = context.new_page()
    page.on(
        "console",
        lambda m: (
            out.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: out.errors.append(str(e)))

    def route(r):
        if r.request.url != url:
            out.requests.append(r.request.url)
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    try:
        yield page, out
    finally:
        context.close()


def visit(b, html: Path, *, screenshot: Path | None = None, pdf: Path | None = None) -> PageVisit:
    """Open ``html`` (a file), record console output, errors and requests, optionally capture it."""
    with _opened(b, html) as (page, out):
        out.text = page.inner_text("body")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        if pdf is not None:
            page.emulate_media(media="print")
            page.pdf(path=str(pdf), format="A4", print_background=False)
    return out


#: In the page: every problem of legibility, as strings. Text shown under ``min`` px (HTML elements
#: by computed font size; SVG text by its font size times the figure's on-screen scale), SVG text
#: reaching outside its figure (clipped there), and HTML text wider than its box.
LAYOUT_PROBLEMS = """(min) => {
  const out = [];
  const shown = (el) => el.getClientRects().length > 0;
  const label = (el) => (el.textContent || "").trim().slice(0, 40);
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") || !shown(el)) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < min - 0.01) out.push(`${size.toFixed(1)} px: <${el.tagName.toLowerCase()}> ${label(el)}`);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "visible"
        && el.clientWidth > 0 && !["A", "ABBR", "SPAN", "STRONG", "CODE"].includes(el.tagName))
      out.push(`overflows its box by ${el.scrollWidth - el.clientWidth} px: ${label(el)}`);
  }
  for (const svg of document.querySelectorAll("svg.figure")) {
    if (!shown(svg)) continue;
    const box = svg.viewBox.baseVal;
    const scale = svg.getBoundingClientRect().width / box.width;
    for (const t of svg.querySelectorAll("text")) {
      const size = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (size < min - 0.01) out.push(`${size.toFixed(1)} px in a figure: ${label(t)}`);
      const b = t.getBBox();
      const m = t.getCTM(), s = svg.getCTM();
      const corners = [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height],
                       [b.x + b.width, b.y + b.height]].map(([x, y]) => {
        const p = new DOMPoint(x, y).matrixTransform(s.inverse().multiply(m));
        return [p.x, p.y];
      });
      const xs = corners.map((c) => c[0]), ys = corners.map((c) => c[1]);
      if (Math.min(...xs) < -0.5 || Math.max(...xs) > box.width + 0.5 ||
          Math.min(...ys) < -0.5 || Math.max(...ys) > box.height + 0.5)
        out.push(`clipped at the figure's edge: ${label(t)}`);
    }
  }
  return out;
}"""


def layout_problems(b, html: Path, *, min_px: float = 11.0) -> list[str]:
    """Legibility problems of ``html`` at the test viewport (see ``LAYOUT_PROBLEMS``)."""
    with _opened(b, html) as (page, _):
        return page.evaluate(LAYOUT_PROBLEMS, min_px)


def unlock(b, html: Path, passphrase: str, *, screenshot: Path | None = None) -> PageVisit:
    """Open an encrypted report, type ``passphrase`` and submit; the visit after decryption."""
    with _opened(b, html) as (page, out):
        page.fill("#passphrase", passphrase)
        page.click("button[type=submit]")
        page.wait_for_function(
            "() => !document.getElementById('unlock') || !document.getElementById('error').hidden",
            timeout=60_000,
        )
        out.text = page.inner_text("body")
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    return out


def _shrink(png: Path, colours: int = 256) -> None:
    """Quantise a screenshot to a small palette so that the committed copies stay small."""
    from PIL import Image

    with Image.open(png) as im:
        small = im.convert("RGB").quantize(colours, method=Image.Quantize.FASTOCTREE)
    small.save(png, optimize=True)


def main(argv: list[str]) -> int:
    """``python -m tests.browser REPORTS_DIR`` writes docs/screenshots/{patient,index}.png."""
    reports = Path(argv[0] if argv else "results/reports")
    out = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    patient = sorted(p for p in reports.rglob("*.html") if p.name != "index.html")[0]
    with browser() as b:
        for name, page in (("index", reports / "index.html"), ("patient", patient)):
            v = visit(b, page, screenshot=out / f"{name}.png")
            print(f"{page.name}: console={v.console} errors={v.errors} requests={v.requests}")
            _shrink(out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
