"""Tests of the HTML report layer on a tiny synthetic bundle (3 patients, 4 drugs).

The bundle is hand-made (no stage is run): one drug name is an XSS payload and one pathway holds an
ampersand, so escaping is exercised; one drug's model does not beat its baseline and some components
are missing, so the caveats are exercised.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rxrank.report import ReportBundle, fmt_sig, render_index, render_patient, write_reports

PATIENTS = ["PT-ALPHA", "PT-BRAVO", "PT-CHARLIE"]
PSEUDONYMS = {"PT-ALPHA": "RX-3f9a2c", "PT-BRAVO": "RX-77b01e", "PT-CHARLIE": "RX-c0ffee"}
EVIL = "<script>alert(1)</script>"
DRUGS = ["Erlotinib", EVIL, "Dabrafenib", "Cisplatin"]
PATHWAYS = ["EGFR signaling", "Evil & co", "ERK MAPK signaling", "DNA replication"]
TARGETS = ["EGFR", "FAKE1", "BRAF", ""]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "wbr"}


def _rankings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for p, pid in enumerate(PATIENTS):
        order = np.roll(np.arange(len(DRUGS) - 1), p).tolist() + [len(DRUGS) - 1]  # Cisplatin last
        for rank, d in enumerate(order, start=1):
            reliable = DRUGS[d] != "Cisplatin"
            predicted = float(rng.normal(2.5, 1.5))
            rows.append(
                {
                    "patient_id": pid,
                    "rank": rank,
                    "drug": DRUGS[d],
                    "tier": "A" if rank == 1 else ("B" if reliable else "D"),
                    "score": 2.0 - 0.5 * rank,
                    "predicted": predicted,
                    "lower": predicted - 1.1,
                    "upper": predicted + 1.1,
                    "percentile": 4.0 * rank,
                    "z": -1.5 + 0.4 * rank,
                    "beats_baseline": reliable,
                    "cv_pearson": 0.71 if reliable else 0.05,
                    "target_genes": TARGETS[d],
                    "target_z": 2.3 if TARGETS[d] else np.nan,
                    "survival_hr": 0.7 if DRUGS[d] == "Erlotinib" else np.nan,
                    "survival_hr_lower": 0.5 if DRUGS[d] == "Erlotinib" else np.nan,
                    "survival_hr_upper": 0.95 if DRUGS[d] == "Erlotinib" else np.nan,
                    "module_evidence": "M1 (r = -0.45, q = 0.01)" if d == 0 else "",
                    "pathway": PATHWAYS[d],
                    "comp_sensitivity": 1.0 - 0.4 * rank,  # negative from rank 3 on
                    "comp_reliability": 0.8 if reliable else -1.5,
                    "comp_target": 0.5 if TARGETS[d] else np.nan,
                    "comp_survival": 0.3 if DRUGS[d] == "Erlotinib" else np.nan,
                    "comp_module": 0.1 if d == 0 else np.nan,
                    "flags": "" if reliable else "no reliable model",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def bundle() -> ReportBundle:
    rng = np.random.default_rng(1)
    lines = [f"CL{i}" for i in range(30)]
    reference = pd.DataFrame(
        [(cl, d, float(rng.normal(2.5, 2))) for cl in lines for d in DRUGS],
        columns=["cell_line", "drug", "value"],
    )
    metrics = pd.DataFrame(
        {
            "drug": DRUGS,
            "n_lines": 30,
            "model": "ridge",
            "cv_pearson": [0.71, 0.4, 0.6, 0.05],
            "cv_normalised_pearson": [0.6, 0.3, 0.5, 0.0],
            "cv_rmse": [0.7, 0.9, 0.8, 1.1],
            "baseline_rmse": 1.0,
            "rmse_ratio": [0.7, 0.9, 0.8, 1.1],
            "beats_baseline": [True, True, True, False],
        }
    )
    prognosis = pd.DataFrame(
        {
            "risk_score": [0.2, -0.5, 1.1],
            "risk_group": ["intermediate", "low", "high"],
            "median_survival": [40.0, np.inf, 14.0],
            "s_12": [0.9, 0.95, 0.55],
            "s_36": [0.6, 0.8, 0.2],
            "s_60": [0.4, 0.7, np.nan],
        },
        index=pd.Index(PATIENTS, name="patient_id"),
    )
    time = np.arange(0, 61, 6.0)
    km = pd.concat(
        [
            pd.DataFrame(
                {
                    "group": g,
                    "time": time,
                    "survival": np.exp(-k * time),
                    "lower": np.exp(-k * time) * 0.9,
                    "upper": np.minimum(np.exp(-k * time) * 1.1, 1),
                }
            )
            for g, k in [("low", 0.005), ("intermediate", 0.015), ("high", 0.04)]
        ],
        ignore_index=True,
    )
    curves = pd.DataFrame({"time": time, **{p: np.exp(-0.02 * time) for p in PATIENTS}})
    obs = pd.DataFrame(
        {"age": [49, 77, 63], "stage": ["II", "III & IV", "I"], "subtype": ["S1", "S2", "S1"]},
        index=pd.Index(PATIENTS, name="patient_id"),
    )
    umap = pd.DataFrame(
        {"umap1": [0.0, 1.0, 2.0], "umap2": [1.0, 0.0, 1.5]},
        index=pd.Index(PATIENTS, name="patient_id"),
    )
    target_z = pd.DataFrame(
        {"EGFR": [2.3, -0.4, 0.1], "BRAF": [0.2, 1.9, -1.2]},
        index=pd.Index(PATIENTS, name="patient_id"),
    )
    return ReportBundle(
        rankings=_rankings(),
        metrics=metrics,
        reference_response=reference,
        prognosis=prognosis,
        km=km,
        patient_curves=curves,
        survival_metrics={
            "n": 3,
            "events": 2,
            "covariates": ["age", "stage"],
            "penalizer": 0.1,
            "cv_cindex_mean": 0.68,
            "cv_cindex_sd": 0.04,
            "ph_violations": [],
            "time_unit": "months",
        },
        outcome_summary={
            "column": "response",
            "available": True,
            "note": "Probabilities are out-of-fold.",
            "n": 3,
            "positives": 1,
            "best_model": "logistic_regression",
            "best_beats_baseline": True,
        },
        outcome_metrics=pd.DataFrame(
            {
                "model": ["logistic_regression", "random_forest", "baseline_prior"],
                "auroc_mean": [0.81, 0.62, 0.5],
                "auroc_sd": [0.05, 0.1, 0.0],
                "auroc_pooled": [0.8, 0.6, 0.5],
                "auroc_lower": [0.7, 0.45, 0.5],
                "auroc_upper": [0.9, 0.75, 0.5],
                "brier": [0.18, 0.24, 0.25],
                "best": [True, False, False],
                "beats_baseline": [True, False, False],
            }
        ),
        outcome_calibration=pd.DataFrame(
            {
                "model": ["logistic_regression"] * 2 + ["baseline_prior"] * 2,
                "bin": [1, 2, 1, 2],
                "predicted": [0.2, 0.7, 0.33, 0.33],
                "observed": [0.25, 0.65, 0.3, 0.36],
                "n": [2, 1, 2, 1],
            }
        ),
        outcome_patients=pd.DataFrame(
            {
                "patient_id": PATIENTS,
                "probability": [0.734, 0.2, 0.5],
                "model": "logistic_regression",
            }
        ),
        qc=pd.DataFrame(
            {
                "total_counts": [2.0e6, 1.5e6, 1.1e4],
                "n_genes": [15000, 14000, 900],
                "qc_outlier": [False, False, True],
            },
            index=pd.Index(PATIENTS, name="patient_id"),
        ),
        module_traits=pd.DataFrame(
            {
                "module": ["M1", "M1", "M2", "M2"],
                "trait": ["os_months", EVIL, "os_months", EVIL],
                "r": [-0.6, 0.1, 0.2, 0.9],
                "p": [1e-4, 0.5, 0.2, 1e-6],
                "q": [2e-4, 0.5, 0.27, 4e-6],
            }
        ),
        obs=obs,
        umap=umap,
        target_z=target_z,
        provenance={
            "rxrank_version": "0.1.0",
            "libraries": {"numpy": np.__version__, "pandas": pd.__version__},
            "config_hash": "c0nf1gha5h",
            "input_checksums": {"resources/demo/clinical.tsv": "ab" * 32},
            "created": "2024-05-01",
        },
        pseudonyms=PSEUDONYMS,
        cohort_name="Demo & test cohort",
        tier_table=[("A", "reliable model, top sensitivity"), ("D", "no reliable model")],
    )


@pytest.fixture(scope="module")
def written(bundle, tmp_path_factory) -> tuple[Path, list[Path]]:
    outdir = tmp_path_factory.mktemp("reports")
    return outdir, write_reports(bundle, outdir)


class _Checker(HTMLParser):
    """Collects text outside <style>/<svg> and checks that tags nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self.rows: list[list[str]] = []  # cells of the first ranking table's body rows
        self._skip = 0
        self._tables = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "table" and "ranking" in (attrs.get("class") or ""):
            self._tables += 1
        if self._tables == 1 and tag == "tr" and "tbody" in self.stack:
            self.rows.append([])
        if self._tables == 1 and tag == "td" and self.rows and "tbody" in self.stack:
            self._cell = []
        if tag in ("style", "svg"):
            self._skip += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag in ("style", "svg"):
            self._skip -= 1
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "table" and self._tables == 1:
            self._tables = 2

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if not self._skip:
            self.text.append(data)


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], checker.stack
    return checker


def _text(checker: _Checker) -> str:
    return re.sub(r"\s+", " ", "".join(checker.text))


def test_writes_every_patient_and_index(written):
    outdir, paths = written
    assert [p.name for p in paths] == [f"{p}.html" for p in PATIENTS] + ["index.html"]
    for path in paths:
        assert path.parent == outdir and path.stat().st_size > 0
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's 0600
    assert not list(outdir.glob(".*.tmp")), "temporary files left behind"


def _pages(written) -> dict[str, str]:
    _, paths = written
    return {p.name: p.read_text(encoding="utf-8") for p in paths}


def test_escapes_input_strings(written):
    for name, html in _pages(written).items():
        assert "<script" not in html.lower(), name
        assert "Evil &amp; co" in html or name == "index.html", name
        assert "Demo &amp; test cohort" in html, name
        assert "Demo & test" not in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _pages(written)["index.html"]
    assert "III &amp; IV" in _pages(written)["PT-BRAVO.html"]


def test_no_urls_and_csp(written):
    for name, html in _pages(written).items():
        assert "http://" not in html and "https://" not in html, name
        assert "http" not in html.replace('http-equiv="Content-Security-Policy"', ""), name
        assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in html, name
        assert "@media print" in html, name
        assert "Research use only" in html, name
        _parse(html)


def test_patient_page_content(written, bundle):
    pages = _pages(written)
    for pid in PATIENTS:
        html = pages[f"{pid}.html"]
        assert html.count("<svg") >= 4  # 3 reference histograms + survival + UMAP (+ targets)
        checker = _parse(html)
        text = _text(checker)
        assert PSEUDONYMS[pid] in text
        assert pid not in text and pid not in html  # the raw ID is only the file name
        expected = bundle.rankings.query("patient_id == @pid").sort_values("rank")["drug"]
        drugs = [row[1] for row in checker.rows]
        # the drug cell also holds the pathway; it starts with the drug name
        assert len(drugs) == len(expected)
        for cell, drug in zip(drugs, expected, strict=True):
            assert cell.startswith(drug), (cell, drug)
        assert [int(row[0]) for row in checker.rows] == [1, 2, 3, 4]
        for section in ("Top options and why", "Prognosis", "Caveats", "Methods and provenance"):
            assert section in text
        assert "c0nf1gha5h" in text and "ab" * 32 in text


def test_summary_explains_components(bundle):
    html = render_patient(bundle, "PT-ALPHA")
    text = _text(_parse(html))
    assert "Erlotinib ranks first" in text
    assert "more sensitive than 96% of reference cell lines" in text  # percentile 4 at rank 1
    assert "beats the naive baselines (CV r = 0.71)" in text
    assert "EGFR expression is 2.3 SD above the cohort mean" in text
    assert "no reliable model" in text  # Cisplatin's flag and the caveat
    # rank 3 has a negative sensitivity component: listed as weighing against, not as support
    assert "Weighs against: predicted more sensitive than 88% of reference cell lines" in text


def test_long_rankings_fold_into_details(bundle):
    checker = _parse(render_patient(bundle, "PT-ALPHA", max_rows=2))
    assert [int(row[0]) for row in checker.rows] == [1, 2]
    assert "The remaining 2 drugs" in _text(checker)


def test_index_links_every_patient(written):
    html = _pages(written)["index.html"]
    checker = _parse(html)
    pages = [link for link in checker.links if not link.startswith("#")]  # and the section nav
    assert pages == [f"./{p}.html" for p in PATIENTS]
    text = _text(checker)
    for pseudonym in PSEUDONYMS.values():
        assert pseudonym in text
    assert "Patients per top-ranked drug" in text and "Patients per tier" in text


def test_render_index_matches_written(bundle, written):
    assert render_index(bundle) == _pages(written)["index.html"]


def test_missing_pseudonym_is_refused(bundle):
    from dataclasses import replace

    partial = replace(bundle, pseudonyms={"PT-ALPHA": "RX-3f9a2c"})
    with pytest.raises(ValueError, match="pseudonym"):
        render_patient(partial, "PT-BRAVO")


def test_unsafe_patient_id_is_refused(bundle, tmp_path):
    from dataclasses import replace

    rankings = bundle.rankings.replace({"patient_id": {"PT-ALPHA": "../escape"}})
    evil = replace(bundle, rankings=rankings, pseudonyms={**PSEUDONYMS, "../escape": "RX-1"})
    with pytest.raises(ValueError, match="file name"):
        write_reports(evil, tmp_path)
    assert not list(tmp_path.parent.glob("escape.html"))


def test_urls_in_inputs_are_defanged(bundle):
    from dataclasses import replace

    rankings = bundle.rankings.replace({"pathway": {"Evil & co": "see https://example.org"}})
    html = render_patient(replace(bundle, rankings=rankings), "PT-ALPHA")
    assert "https://" not in html and "https[:]//example.org" in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (96.4, "96"),
        (0.7123, "0.71"),
        (2.345, "2.3"),
        (-0.456, "-0.46"),
        (99.6, "100"),
        (1234.5, "1234"),
        (0.0, "0"),
        (float("nan"), "\u2013"),
        (None, "\u2013"),
        (math.inf, "\u2013"),
        (True, "yes"),
        ("II", "II"),
    ],
)
def test_fmt_sig(value, expected):
    assert fmt_sig(value) == expected


def test_svg_is_clean(written):
    html = _pages(written)["PT-ALPHA.html"]
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    assert svgs
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element IDs repeat across figures"
    for svg in svgs:
        assert "xmlns" not in svg and "xlink" not in svg and "<!DOCTYPE" not in svg


def test_index_shows_every_drug_model_against_its_baseline(bundle):
    html = render_index(bundle)
    assert 'id="models"' in html and html.count("<svg") >= 1
    for drug in bundle.metrics["drug"]:
        assert escape(drug) in html


def test_index_cohort_sections(written):
    html = _pages(written)["index.html"]
    text = _text(_parse(html))
    for section in ("qc", "subtypes", "modules", "survival", "ranks", "models", "patients"):
        assert f'id="{section}"' in html, section
    # QC: the outlier is named by pseudonym only
    assert "1 of 3 samples are flagged as QC outliers" in text and "RX-c0ffee" in text
    assert "PT-CHARLIE" not in text
    # modules: 2 modules x 2 traits, 2 pairs with q < 0.05, the trait name escaped
    assert "2 modules against 2 traits" in text and "2 pairs have" in text
    assert "M2 / &lt;script&gt;alert(1)&lt;/script&gt;: 0.9" in html
    assert re.search(r"C-index \(cross-validated\)\s*0\.68 \u00b1 0\.04", text)


def test_rank_heatmap_cells_carry_each_rank(written, bundle):
    html = _pages(written)["index.html"]
    ranks = re.search(r'<section id="ranks">.*?</section>', html, flags=re.DOTALL).group(0)
    cells = re.findall(r"<title>(RX-\w+) / (.*?): (\d+)</title>", ranks)
    assert len(cells) == len(PATIENTS) * len(DRUGS)
    expected = {
        (PSEUDONYMS[r.patient_id], escape(r.drug)): r.rank for r in bundle.rankings.itertuples()
    }
    assert {(p, d): int(v) for p, d, v in cells} == expected
    # rows grouped by subtype: S1 patients (ALPHA, CHARLIE) before S2 (BRAVO)
    order = list(dict.fromkeys(p for p, _, _ in cells))
    assert order.index(PSEUDONYMS["PT-BRAVO"]) == 2


def test_identifier_label_follows_pseudonymisation(bundle):
    from dataclasses import replace

    assert "Patient (pseudonym)" in render_patient(bundle, "PT-ALPHA")
    plain = replace(bundle, pseudonymised=False)
    assert "pseudonym" not in _text(_parse(render_patient(plain, "PT-ALPHA"))).lower()
    assert "Patient (pseudonym)" not in render_index(plain)


def test_reference_histogram_draws_counts_and_prediction():
    from rxrank.report._figures import reference_response

    svg = reference_response([1.0, 1.0, 1.0, 3.0], predicted=2.5, bins=2, title="D")
    bars = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)" fill="#BBBBBB"', svg)]
    assert len(bars) == 2 and bars[0] == pytest.approx(3 * bars[1], rel=0.02)
    xs = [float(x) for x in re.findall(r'<rect x="([\d.]+)"[^>]*fill="#BBBBBB"', svg)]
    line = float(re.search(r'<line x1="([\d.]+)"[^>]*stroke="#000000"', svg).group(1))
    assert xs[1] < line  # 2.5 lies inside the second bin [2, 3]


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0.0, 1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-3.2, 5.9, [-2, 0, 2, 4]),
        (0.0, 90.0, [0, 20, 40, 60, 80]),
        (1200.0, 1260.0, [1200, 1220, 1240, 1260]),
    ],
)
def test_nice_ticks(lo, hi, ticks):
    from rxrank.report._svg import nice_ticks

    assert nice_ticks(lo, hi).tolist() == pytest.approx(ticks)


def test_chart_scales_and_steps():
    from rxrank.report._svg import Chart, _steps

    chart = Chart(200, 100, xlim=(0, 10), ylim=(0, 1), margins=(20, 10, 10, 10))
    assert chart.sx([0, 10]).tolist() == [20, 190]
    assert chart.sy([0, 1]).tolist() == [90, 10]  # SVG y grows downwards
    x, y = _steps(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.5, 0.2]))
    assert x.tolist() == [0, 1, 1, 2, 2] and y.tolist() == [1, 1, 0.5, 0.5, 0.2]
    chart.text(0, 0, '<b>"x" & y</b>')
    assert "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;" in chart.svg("t")


def test_outcome_classifier_in_index_and_patient_page(bundle, written):
    text = _text(_parse(_pages(written)["index.html"]))
    assert "Binary outcome response (1 of 3 patients positive)" in text
    assert re.search(r"logistic regression\s*0\.81 \u00b1 0\.050", text)
    assert "Best: logistic regression." in text
    html = _pages(written)["index.html"]
    assert "Calibration of the outcome classifiers" in html
    page = _text(_parse(_pages(written)["PT-ALPHA.html"]))
    assert "Probability of response = 1" in page and "73%" in page
    assert "CV AUROC 0.81 \u00b1 0.050" in page


def test_outcome_classifier_absent_says_why(bundle):
    from dataclasses import replace

    note = "the clinical table has no column 'response'"
    summary = {"available": False, "note": note}
    empty = pd.DataFrame(columns=["model", "auroc_mean"])
    plain = replace(bundle, outcome_summary=summary, outcome_metrics=empty, outcome_patients=None)
    index = _text(_parse(render_index(plain)))
    assert f"No outcome classifier: {note}" in index and "CV AUROC" not in index
    assert "Probability of response" not in render_patient(plain, "PT-ALPHA")


def test_every_page_states_the_shared_gene_count(bundle):
    """The number of genes the cohort and the reference share is on every page (a thin overlap
    is visible to the reader, not only in a log)."""
    from dataclasses import replace

    with_count = replace(bundle, metrics=bundle.metrics.assign(n_genes_shared=1234))
    for html in (render_patient(with_count, "PT-ALPHA"), render_index(with_count)):
        assert "on the 1234 genes the cohort and the reference share" in _text(_parse(html))
    assert "genes the cohort and the reference share" not in _text(
        _parse(render_patient(bundle, "PT-ALPHA"))
    )


def test_prognosis_beyond_the_followed_patients_is_not_estimable(bundle):
    """A median beyond the last time with 10 patients at risk reads 'longer than', an S(t) there
    'not estimable'; a plain missing median without a horizon is still 'not reached'."""
    from dataclasses import replace

    prognosis = bundle.prognosis.assign(estimable_until=48.0)
    prognosis.loc[PATIENTS[1], "median_survival"] = np.nan
    page = _text(_parse(render_patient(replace(bundle, prognosis=prognosis), PATIENTS[1])))
    assert "longer than 48 months" in page
    page = _text(_parse(render_patient(replace(bundle, prognosis=prognosis), PATIENTS[2])))
    assert "Survival at 60 monthsnot estimable" in page  # (table cells join without a space)
    assert "not reached" in _text(_parse(render_patient(bundle, PATIENTS[1])))


def test_failed_cross_validation_folds_are_said_on_every_page(bundle):
    metrics = {**bundle.survival_metrics, "cv_failed_folds": 1, "cv_folds": 5}
    failing = dataclasses.replace(bundle, survival_metrics=metrics)
    said = "1 of 5 cross-validation folds could not be scored"
    assert said in _text(_parse(render_patient(failing, "PT-ALPHA")))
    assert "1 of 5 folds could not be scored" in _text(_parse(render_index(failing)))
    assert said not in _text(_parse(render_patient(bundle, "PT-ALPHA")))


def test_the_response_metric_and_its_unit_label_every_page(bundle):
    text = _text(_parse(render_patient(bundle, "PT-ALPHA")))
    assert "ln IC50 (IC50 in µM)" in text
    auc = dataclasses.replace(bundle, response_metric="auc")
    text = _text(_parse(render_patient(auc, "PT-ALPHA")))
    assert "AUC (area under the viability curve)" in text and "IC50" not in text


def test_pages_of_patients_not_in_this_cohort_are_removed_and_other_files_kept(bundle, tmp_path):
    first = write_reports(bundle, tmp_path)
    old = tmp_path / "RX-formercohort.html"
    old.write_bytes(first[0].read_bytes())  # an rxrank page of a patient no longer ranked
    notes = tmp_path / "notes.html"
    notes.write_text("<html><body>the tumour board's own notes</body></html>")
    again = write_reports(bundle, tmp_path)
    assert not old.exists() and notes.exists()
    assert sorted(p.name for p in tmp_path.glob("*.html")) == sorted(
        [p.name for p in again] + ["notes.html"]
    )
