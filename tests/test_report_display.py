"""Display safety of the reports: bidi and invisible characters, long strings, ages over 89.

Audit findings: a right-to-left override in a drug name showed as "Venexe.png"; strings were never
shortened (one table cell 137,392 px wide); ages of 90 and over were printed as they are although
HIPAA Safe Harbor groups them as 90+. Uses the small bundle of ``test_report``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd
import pytest
from test_report import EVIL, _parse, _text, bundle  # noqa: F401 (fixture)

from rxrank.report import render_index, render_patient
from rxrank.report._env import display_text, fmt_age
from rxrank.report._svg import clean_text, short_text, svg_label

SPOOF = "Ven\u202egnp.exe"  # reads "Venexe.png" when the override is obeyed
SPOOF_SHOWN = "Ven\\u202egnp.exe"
LONG = "Longinib-" + "X" * 9991  # 10,000 characters
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = BIDI + "\u200b\u200c\u200d\u2060\ufeff\u00ad\U000e0001\x07\u2028"


def _rename_drug(base, old: str, new: str):
    """The bundle with drug ``old`` called ``new`` in every table that names drugs."""
    rename = {"drug": {old: new}}
    return replace(
        base,
        rankings=base.rankings.replace(rename),
        metrics=base.metrics.replace(rename),
        reference_response=base.reference_response.replace(rename),
    )


def _visible(html: str) -> str:
    """The page without tooltips: ``title`` attributes and SVG ``<title>`` elements."""
    html = re.sub(r'\stitle="[^"]*"', "", html)
    return re.sub(r"<title>.*?</title>", "", html, flags=re.DOTALL)


# ---------------------------------------------------------------------------- bidi and invisibles


def test_bidi_override_in_a_drug_name_is_shown_escaped(bundle):  # noqa: F811
    spoofed = _rename_drug(bundle, "Dabrafenib", SPOOF)
    for html in (render_patient(spoofed, "PT-ALPHA"), render_index(spoofed)):
        assert "\u202e" not in html
        assert "Venexe.png" not in html
        text = _text(_parse(html))
        assert SPOOF_SHOWN in text  # the escaped form is visible to the reader
        svgs = "".join(re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL))
        assert SPOOF_SHOWN in svgs  # figure labels too (reference histogram, model skill, ranks)
    checker = _parse(render_patient(spoofed, "PT-ALPHA"))
    assert any(row[1].startswith(SPOOF_SHOWN) for row in checker.rows)


def test_invisible_characters_never_reach_the_page(bundle):  # noqa: F811
    rankings = bundle.rankings.replace({"pathway": {"Evil & co": f"Evil{INVISIBLE}co"}})
    obs = bundle.obs.assign(stage=[f"II{BIDI}", "III", "I"], subtype=["S\u200b1", "S2", "S\u200b1"])
    odd = replace(
        bundle,
        rankings=rankings,
        obs=obs,
        cohort_name="Demo\u202e cohort",
        pseudonyms={**bundle.pseudonyms, "PT-ALPHA": "RX-\u2067a1"},
    )
    for html in (render_patient(odd, "PT-ALPHA"), render_index(odd)):
        assert not any(ch in html for ch in INVISIBLE), [c for c in INVISIBLE if c in html]
        assert "Demo\\u202e cohort" in html and "RX-\\u2067a1" in html and "S\\u200b1" in html
    page = render_patient(odd, "PT-ALPHA")
    assert "Evil\\u202a\\u202b" in page and "\\U000e0001\\u0007\\u2028co" in page
    assert "II\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066" in page


@pytest.mark.parametrize("char", list(INVISIBLE))
def test_clean_text_escapes_each_invisible_character(char):
    cleaned = clean_text(f"a{char}b")
    assert char not in cleaned
    code = ord(char)
    assert cleaned == (f"a\\u{code:04x}b" if code <= 0xFFFF else f"a\\U{code:08x}b")
    assert clean_text(cleaned) == cleaned  # idempotent


def test_clean_text_keeps_ordinary_text():
    text = "Éribuline – 5-FU ± β-blocker, 紫杉醇, Ñ\ttab\nline"
    assert clean_text(text) == text


# --------------------------------------------------------------------------------- long strings


def test_long_drug_name_is_shortened_with_the_full_value_in_a_title(bundle):  # noqa: F811
    long = _rename_drug(bundle, "Dabrafenib", LONG)
    for html in (render_patient(long, "PT-ALPHA"), render_index(long)):
        # the full value is only ever a tooltip; what is drawn is at most a cell's length
        assert "X" * 61 not in _visible(html)
        assert f'title="{LONG}"' in html
        checker = _parse(html)
        assert "X" * 61 not in _text(checker)
    checker = _parse(render_patient(long, "PT-ALPHA"))
    cell = next(row[1] for row in checker.rows if row[1].startswith("Longinib-"))
    drug = cell.split("\u2026")[0] + "\u2026"
    assert len(drug) <= 60 and cell.startswith("Longinib-XXX")
    html = render_patient(long, "PT-ALPHA")
    assert re.search(r'<span class="clip" title="Longinib-X{9991}">Longinib-X+\u2026</span>', html)


def test_long_names_are_shortened_in_figures(bundle):  # noqa: F811
    html = render_index(_rename_drug(bundle, "Dabrafenib", LONG))
    svgs = "".join(re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL))
    labels = re.findall(r"<text[^>]*>([^<]*)", svgs)
    assert labels and max(len(label) for label in labels) <= 48
    assert any(label.startswith("Longinib-") and label.endswith("\u2026") for label in labels)


def test_script_in_a_drug_name_stays_escaped(bundle):  # noqa: F811
    long_evil = EVIL + "x" * 200  # shortened, so it also passes through the title attribute
    evil = _rename_drug(bundle, EVIL, long_evil)
    for html in (render_patient(evil, "PT-ALPHA"), render_index(evil)):
        assert "<script" not in html.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        _parse(html)
    assert str(display_text("<b>bold</b>")) == "&lt;b&gt;bold&lt;/b&gt;"
    clipped = str(display_text('"><script>' + "y" * 100, 20))
    assert "<script" not in clipped and 'title="&#34;&gt;&lt;script&gt;yyy' in clipped


def test_short_text_and_labels():
    assert short_text("abc", 5) == ("abc", "abc")
    shown, full = short_text("x" * 100, 10)
    assert shown == "x" * 9 + "\u2026" and full == "x" * 100
    shown, _ = short_text("abcdef\u202exyz", 9)  # never half an escape
    assert shown == "abcdef\u2026"
    assert svg_label("short") == "short"
    assert svg_label("a" * 60, 10) == "a" * 9 + "\u2026<title>" + "a" * 60 + "</title>"
    assert str(display_text(None)) == "\u2013"


# ------------------------------------------------------------------------------------------ ages


def _age_cell(html: str) -> str:
    match = re.search(r'<th scope="row">age</th><td>([^<]*)</td>', html)
    assert match, "no age row in the clinical table"
    return match.group(1)


def test_ages_of_90_and_over_are_grouped_when_pseudonymised(bundle):  # noqa: F811
    old = replace(bundle, obs=bundle.obs.assign(age=[93, 77, 89.7]))
    assert old.pseudonymised
    assert _age_cell(render_patient(old, "PT-ALPHA")) == "90+"
    assert _age_cell(render_patient(old, "PT-BRAVO")) == "77"
    assert _age_cell(render_patient(old, "PT-CHARLIE")) == "89"  # not rounded up to 90
    page = _text(_parse(render_patient(old, "PT-ALPHA")))
    assert "93" not in page
    # not pseudonymised: shown as recorded
    plain = replace(old, pseudonymised=False)
    assert _age_cell(render_patient(plain, "PT-ALPHA")) == "93"


def test_age_column_is_configurable(bundle):  # noqa: F811
    obs = bundle.obs.rename(columns={"age": "age_at_diagnosis"}).assign(
        age_at_diagnosis=["95", "40", None]
    )
    renamed = replace(bundle, obs=obs, age_column="age_at_diagnosis")
    html = render_patient(renamed, "PT-ALPHA")
    assert '<th scope="row">age_at_diagnosis</th><td>90+</td>' in html
    off = replace(bundle, obs=bundle.obs.assign(age=[93, 77, 63]), age_column=None)
    assert _age_cell(render_patient(off, "PT-ALPHA")) == "93"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(93, "90+"), (90, "90+"), (90.0, "90+"), ("104", "90+"), (89.99, "89"), (45, "45")],
)
def test_fmt_age(value, expected):
    assert fmt_age(value) == expected


def test_fmt_age_leaves_other_values():
    assert fmt_age("unknown") == "unknown"
    assert fmt_age(None) is None
    assert pd.isna(fmt_age(float("nan")))
