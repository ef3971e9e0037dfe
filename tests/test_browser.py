"""The reports in a real browser: headless Chromium (Debian's package) driven by Playwright.

The pages come from the hand-made bundle of tests/test_report.py, whose drug and trait names carry
an XSS payload. Each page is opened offline with every request other than the page itself aborted
and recorded; the test asserts that none was attempted, that the console stayed clean, that the
payload showed as text, and that the page prints to a multi-page A4 PDF. Screenshots of one patient
report and of the index go to ``$RXRANK_SCREENSHOTS`` (default: pytest's temporary directory).
``python -m tests.browser results/reports`` refreshes ``docs/screenshots/`` from a demo run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import browser as open_browser
from browser import chromium_path, visit
from test_report import EVIL, PATIENTS, bundle, written  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="no Chromium installed: ci/install-system-deps.sh installs Debian's chromium "
        "(as root: apt-get install --no-install-recommends chromium)",
    ),
]


@pytest.fixture(scope="module")
def chromium():
    with open_browser() as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("RXRANK_SCREENSHOTS")
    return Path(where) if where else tmp_path_factory.mktemp("screenshots")


@pytest.mark.parametrize("page", [f"{PATIENTS[0]}.html", "index.html"])
def test_page_renders_offline_without_errors(chromium, written, shots, page):  # noqa: F811
    outdir, _ = written
    name = "index" if page == "index.html" else "patient"
    pdf = shots / f"{name}.pdf"
    v = visit(chromium, outdir / page, screenshot=shots / f"{name}.png", pdf=pdf)
    assert v.requests == [], f"the page tried to load {v.requests}"
    assert v.console == [] and v.errors == [], (v.console, v.errors)
    assert EVIL in v.text  # shown as text, never run as a script
    assert "Research use only" in v.text
    assert (shots / f"{name}.png").stat().st_size > 10_000
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 2, f"{name} printed to {pages} page(s)"


def test_injected_remote_content_is_blocked(chromium, tmp_path):
    """The page's CSP and the harness both stop a remote image, should one ever slip through."""
    page = tmp_path / "probe.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\"></head><body>x"
        '<img src="http://203.0.113.1/x.png"></body></html>'
    )
    v = visit(chromium, page)
    # Chromium reports the CSP refusal on the console: the harness sees what a report would do
    assert v.requests == [] and any("Content Security Policy" in c for c in v.console), v
