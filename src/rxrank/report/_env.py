"""The bottom layer of the reports: Jinja environment, formatting filters and the stylesheet.

Templates only format: every number reaches them raw and is formatted by a filter (:func:`fmt_sig`
and friends). Both the page renderers and :mod:`rxrank.report.encrypt` build on this module, which
imports neither.

Safety: autoescaping is on for every template, so every string that came from an input file (drug
names, patient IDs, pathways, clinical values) is escaped; the only unescaped insertions are the
package's own stylesheet and the SVG figures, which escape every label they draw.
Display spoofing: every user string is shown through :func:`display_text` (the ``display`` filter)
or :func:`rxrank.report._svg.short_text`, which show invisible and direction-changing characters
escaped (a right-to-left override reads ``\\u202e``) and shorten long strings with an ellipsis,
the full value in a ``title``; the finished page is cleaned once more as a whole
(:func:`render_page`). With pseudonymisation on, ages of 90 and over are shown as "90+" (HIPAA
Safe Harbor, :func:`fmt_age`).
Pages load nothing: a Content-Security-Policy forbids every source except inline styles and
``data:`` images, there are no scripts, and the finished page is checked for ``http(s)://``; any
left (which can only come from input text) is defanged to ``http[:]//``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from ._svg import clean_text, short_text

__all__ = [
    "AGE_TOP",
    "CELL_MAX",
    "NA",
    "NAME_MAX",
    "clip_text",
    "display_text",
    "environment",
    "fmt_age",
    "fmt_interval",
    "fmt_percent",
    "fmt_sig",
    "fmt_text",
    "fmt_thousands",
    "is_missing",
    "render_page",
    "stylesheet",
]

HERE = Path(__file__).parent
NA = "\u2013"  # en dash for missing values
CELL_MAX = 60  # characters of a user string in a table cell or heading before it is shortened
NAME_MAX = 40  # a name inside a sentence, a list or a short cell (genes, flags, column names)
AGE_TOP = 90  # HIPAA Safe Harbor: ages from 90 on are one group, shown as "90+"
_URL = re.compile(r"(?i)\b(https?):(//)")


# ----------------------------------------------------------------------------------------- filters


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    return False


def fmt_sig(value: Any, digits: int = 2) -> str:
    """Format a number with ``digits`` significant digits (integers are never truncated).

    Missing and non-finite values become an en dash. ``fmt_sig(96.4) == "96"``,
    ``fmt_sig(0.7123) == "0.71"``, ``fmt_sig(1234.5) == "1235"``, ``fmt_sig(float("nan")) == "–"``.
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if is_missing(value):
        return NA
    if isinstance(value, str):
        return value if value.strip() else NA
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if x == 0:
        return "0"
    x = float(f"{x:.{digits}g}") if abs(x) < 10**digits else x
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude < -4:
        return f"{x:.{digits}g}"
    decimals = max(digits - 1 - magnitude, 0)
    out = f"{x:.{decimals}f}"
    return "0" if out in ("-0", "-0.0") else out


def fmt_percent(value: Any, scale: float = 100.0) -> str:
    """A fraction (0-1, or 0-100 with ``scale=1``) as a whole percentage; missing -> en dash."""
    if is_missing(value):
        return NA
    return f"{float(value) * scale:.0f}%"


def fmt_interval(lower: Any, upper: Any, digits: int = 2) -> str:
    """``[lower, upper]``, or an empty string when both ends are missing."""
    if is_missing(lower) and is_missing(upper):
        return ""
    return f"[{fmt_sig(lower, digits)}, {fmt_sig(upper, digits)}]"


def fmt_thousands(value: Any) -> str:
    """A whole number with thousands separators (``11000`` -> "11,000"); missing -> en dash."""
    if is_missing(value):
        return NA
    return f"{int(value):,}"


def fmt_text(value: Any) -> str:
    """A string cell: missing -> en dash, otherwise the text (escaped later by autoescape)."""
    if is_missing(value) or (isinstance(value, str) and not value.strip()):
        return NA
    return str(value)


def display_text(value: Any, max_len: int | None = CELL_MAX) -> Markup:
    """A user string as HTML: invisible and bidi characters shown escaped, shortened, escaped.

    Missing values become an en dash. Bidi controls (U+202A-E, U+2066-9, U+200E/F, U+061C) and
    other invisible characters are shown as their escape (``\\u202e``, see
    :func:`rxrank.report._svg.clean_text`), so "Ven\\u202egnp.exe" cannot read as "Venexe.png".
    A text longer than ``max_len`` characters is cut with an ellipsis inside
    ``<span class="clip" title="...">`` holding the full (cleaned, escaped) value.
    Registered as the ``display`` filter: ``{{ row.drug|display }}``, ``{{ gene|display(40) }}``.
    """
    shown, full = short_text(fmt_text(value), max_len)
    if shown == full:
        return escape(shown)
    return Markup('<span class="clip" title="{}">{}</span>').format(full, shown)


def clip_text(value: Any, max_len: int | None = CELL_MAX) -> str:
    """Plain-text :func:`display_text` (no markup, no title): for ``<title>``, sentences and
    figure captions. Autoescaping still escapes the result."""
    return short_text(fmt_text(value), max_len)[0]


def fmt_age(value: Any) -> Any:
    """An age as shown when pseudonymised: 90 and over -> "90+", others in whole years.

    Values that are not numbers are returned as they are (shown as text).
    """
    if is_missing(value) or isinstance(value, (bool, np.bool_)):
        return value
    try:
        age = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return value
    if not math.isfinite(age):
        return value
    return f"{AGE_TOP}+" if age >= AGE_TOP else str(math.floor(age))


def _defang(html: str) -> str:
    """``http(s)://`` as ``http(s)[:]//`` (any case). A page without ``://`` holds no such text,
    and a substring test is far cheaper than the regular expression over the whole page."""
    if "://" not in html:
        return html
    return _URL.sub(r"\1[:]\2", html)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["sig"] = fmt_sig
    env.filters["percent"] = fmt_percent
    env.filters["interval"] = fmt_interval
    env.filters["text"] = fmt_text
    env.filters["thousands"] = fmt_thousands
    env.filters["display"] = display_text
    env.filters["clip"] = clip_text
    env.tests["finite_number"] = _finite_number
    return env


def _finite_number(value: Any) -> bool:
    """Jinja test ``is finite_number``: a real number that is not NaN or infinite."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@cache
def stylesheet() -> str:
    return (HERE / "style.css").read_text(encoding="utf-8")


def render_page(template: str, context: Mapping[str, Any]) -> str:
    """Render ``template`` with ``context``, then clean and defang the finished page."""
    html = environment().get_template(template).render(**context)
    # the whole page once more: no invisible or bidi character can reach it by any path
    return _defang(clean_text(html))
