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


def _shrink(png: Path, colours: int = 64) -> None:
    """Quantise a screenshot to a small palette so that the committed copies stay small."""
    from PIL import Image

    with Image.open(png) as im:
        small = im.convert("RGB").quantize(colours)
    small.save(png, optimize=True)


def main(argv: list[str]) -> int:
    """``python -m tests.browser REPORTS_DIR`` writes docs/screenshots/{patient,index}.png."""
    reports = Path(argv[0] if argv else "results/reports")
    out = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    patient = sorted(p for p in reports.glob("*.html") if p.name != "index.html")[0]
    with browser() as b:
        for name, page in (("index", reports / "index.html"), ("patient", patient)):
            v = visit(b, page, screenshot=out / f"{name}.png")
            print(f"{page.name}: console={v.console} errors={v.errors} requests={v.requests}")
            _shrink(out / f"{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
