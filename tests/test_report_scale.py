"""Report pages at cohort scale: a page's size does not grow with the number of patients.

Issue: at 11,000 patients x 300 drugs every page was 358 KB, most of it the UMAP (every cohort
patient drawn on every page), the Kaplan-Meier curves (a step at every event time) and the table of
the drugs beyond the top rows. The UMAP now draws a fixed sample stratified by subtype, the curves
keep at most ``MAX_STEPS`` rows, and the folded table has six plain columns. Synthetic cohorts
built here (no stage is run) keep the tests to seconds.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_report import bundle  # noqa: F401 (fixture)

from rxrank.report import ReportBundle, render_patient
from rxrank.report._cohort import Cohort
from rxrank.report._env import _URL, _defang
from rxrank.report._figures import (
    MAX_POINTS,
    MAX_STEPS,
    SurvivalFigure,
    UmapFigure,
    stratified_sample,
    thin_steps,
)
from rxrank.report._svg import _rectilinear, _steps, clean_text
from rxrank.report._write import _render_patient

SUBTYPES = {"S1": 0.5, "S2": 0.3, "S3": 0.15, "S4": 0.05}  # unequal, so the shares are tested
MARKER = re.compile(
    r"M(-?[\d.]+) (-?[\d.]+)h0"
)  # one UMAP point: a zero-length square-capped stroke


def _scale_bundle(patients: int, drugs: int = 20, *, seed: int = 0) -> ReportBundle:
    """A cohort as the stages leave it, with a Kaplan-Meier step at every patient's event."""
    rng = np.random.default_rng(seed)
    pids = [f"RX-{i:06d}" for i in range(patients)]
    idx = pd.Index(pids, name="patient_id")
    names = [f"Drug-{j:04d}" for j in range(drugs)]
    reliable = np.arange(drugs) % 4 != 3
    predicted = np.tile(np.linspace(0.0, 5.0, drugs), patients)
    rankings = pd.DataFrame(
        {
            "patient_id": np.repeat(pids, drugs),
            "drug": np.tile(names, patients),
            "rank": np.tile(np.arange(1, drugs + 1), patients),
            "tier": np.tile(np.where(reliable, "B", "D"), patients),
            "score": -predicted,
            "predicted": predicted,
            "lower": predicted - 1.0,
            "upper": predicted + 1.0,
            "percentile": 50.0,
            "beats_baseline": np.tile(reliable, patients),
            "cv_pearson": 0.5,
        }
    )
    subtype = pd.Series(rng.choice(list(SUBTYPES), patients, p=list(SUBTYPES.values())), index=idx)
    umap = pd.DataFrame(rng.normal(0, 1, (patients, 2)), index=idx, columns=["umap1", "umap2"])
    umap["umap1"] += subtype.map({"S1": 0, "S2": 4, "S3": 8, "S4": 12})
    groups = np.array(["low", "intermediate", "high"])[np.arange(patients) % 3]
    km = []
    for g, rate in (("low", 0.01), ("intermediate", 0.03), ("high", 0.08)):
        n = int((groups == g).sum())
        time = np.sort(rng.exponential(1 / rate, n))
        survival = 1.0 - np.arange(1, n + 1) / (n + 1)
        km.append(
            pd.DataFrame(
                {"group": g, "time": time, "survival": survival}
                | {"lower": survival * 0.95, "upper": np.minimum(survival * 1.05, 1.0)}
            )
        )
    grid = np.linspace(0, 120, 50)
    curves = pd.DataFrame(np.exp(-np.outer(grid, np.full(patients, 0.02))), columns=pids)
    curves.insert(0, "time", grid)
    return ReportBundle(
        rankings=rankings,
        metrics=pd.DataFrame({"drug": names, "rmse_ratio": 0.9, "beats_baseline": reliable}),
        reference_response=pd.DataFrame(
            {
                "cell_line": np.repeat([f"CL{i}" for i in range(40)], drugs),
                "drug": np.tile(names, 40),
                "value": rng.normal(2.5, 2.0, 40 * drugs),
            }
        ),
        prognosis=pd.DataFrame(
            {"risk_score": 0.0, "risk_group": groups, "median_survival": 40.0}, index=idx
        ),
        km=pd.concat(km, ignore_index=True),
        patient_curves=curves,
        survival_metrics={"n": patients, "events": patients // 2, "cv_cindex_mean": 0.68},
        obs=pd.DataFrame({"subtype": subtype, "age": 60}, index=idx),
        umap=umap,
        target_z=pd.DataFrame(index=idx),
        provenance={"rxrank_version": "test", "created": "test"},
        pseudonyms={p: p for p in pids},
        cohort_name="scale test cohort",
    )


@pytest.fixture(scope="module")
def cohorts() -> dict[int, Cohort]:
    return {n: Cohort(_scale_bundle(n)) for n in (2500, 8000)}


def _figure(html: str, word: str) -> str:
    return next(s for s in re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL) if word in s)


# ------------------------------------------------------------------------------------- page size


def test_page_size_does_not_grow_with_the_cohort(cohorts):
    """3.2 times the patients, the same page: every cohort-sized part of it is bounded."""
    sizes = {
        n: len(_render_patient(cohort, cohort.patients[0], max_rows=15).encode())
        for n, cohort in cohorts.items()
    }
    assert abs(sizes[8000] - sizes[2500]) < 5_000, sizes  # unbounded: 95 KB apart
    assert max(sizes.values()) < 120_000, sizes


def test_umap_draws_a_fixed_stratified_sample_of_a_large_cohort(cohorts):
    cohort = cohorts[8000]
    first, second = (_render_patient(cohort, p, max_rows=15) for p in cohort.patients[:2])
    svg = _figure(first, "UMAP")
    assert len(MARKER.findall(svg)) == MAX_POINTS
    assert "2,000 of 8,000 patients drawn" in first  # the caption says so
    # the same sample on every page: only the star differs
    strip = re.compile(r'<polygon points="[^"]*" fill="#fff" stroke="#000" [^>]*>')
    assert strip.sub("", svg) == strip.sub("", _figure(second, "UMAP"))
    # each subtype keeps its share of the points (one path per subtype, in legend order)
    drawn = [len(MARKER.findall(d)) for d in re.findall(r'<path d="([^"]*)"', svg)]
    counts = cohort.subtype_counts
    expected = [counts[s] * MAX_POINTS / 8000 for s in sorted(SUBTYPES)]
    assert drawn == pytest.approx(expected, abs=2)


def test_small_cohorts_draw_every_patient_and_say_nothing_of_a_sample(bundle):  # noqa: F811
    html = render_patient(bundle, "PT-ALPHA")
    assert len(MARKER.findall(_figure(html, "UMAP"))) == 3
    assert "patients drawn" not in html


def test_the_patients_star_is_drawn_when_the_patient_is_not_in_the_sample():
    rng = np.random.default_rng(3)
    idx = pd.Index([f"P{i}" for i in range(500)])
    umap = pd.DataFrame(rng.normal(0, 1, (500, 2)), index=idx, columns=["umap1", "umap2"])
    figure = UmapFigure(umap, pd.Series("S1", index=idx), max_points=50)
    assert (figure.n_drawn, figure.n_total) == (50, 500) and figure.sampled
    drawn = set(stratified_sample(np.full(500, "S1"), 50))
    outside = next(i for i in range(500) if i not in drawn)
    svg = figure.render(idx[outside])
    assert len(MARKER.findall(svg)) == 50
    assert '<polygon points="' in svg and 'fill="#fff" stroke="#000" ' in svg  # the star
    assert "this patient" in svg


def test_stratified_sample_keeps_each_share_and_every_label():
    labels = np.array(["a"] * 9000 + ["b"] * 990 + ["c"] * 10)
    sample = stratified_sample(labels, 1000)
    assert len(sample) == 1000 and np.all(np.diff(sample) > 0)
    kept = pd.Series(labels[sample]).value_counts()
    # one each, the 997 left by share of the rest (largest remainder)
    assert (kept["a"], kept["b"], kept["c"]) == (898, 100, 2)
    assert np.array_equal(sample, stratified_sample(labels, 1000))  # seeded: the same every run
    rare = np.array(["a"] * 5000 + ["b"] * 2)
    assert set(rare[stratified_sample(rare, 10)]) == {"a", "b"}  # a tiny subtype is still drawn
    assert np.array_equal(stratified_sample(labels[:50], 1000), np.arange(50))


# ------------------------------------------------------------------------------- Kaplan-Meier


def _step_value(table: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """The right-continuous step function through ``table`` (time, survival) at times ``t``."""
    pos = np.searchsorted(table["time"].to_numpy(), t, side="right") - 1
    return table["survival"].to_numpy()[pos]


def test_thinned_kaplan_meier_equals_the_exact_curve_at_the_kept_times():
    rng = np.random.default_rng(5)
    n = 5000
    full = pd.DataFrame(
        {
            "time": np.sort(rng.exponential(30.0, n)),
            "survival": 1.0 - np.arange(1, n + 1) / (n + 1),
        }
    )
    thin = thin_steps(full)
    assert len(thin) <= MAX_STEPS
    assert set(thin.index) <= set(full.index)  # real event times, not a resampled grid
    assert thin.iloc[0].equals(full.iloc[0]) and thin.iloc[-1].equals(full.iloc[-1])
    kept = thin["time"].to_numpy()
    np.testing.assert_array_equal(_step_value(thin, kept), _step_value(full, kept))
    # between kept times the drawn curve is never off by more than the curve falls in one grid step
    t = np.linspace(kept[0], kept[-1], 20_000)
    gap = np.abs(_step_value(thin, t) - _step_value(full, t)).max()
    assert gap <= 3 * (full["time"].iloc[-1] / MAX_STEPS) / 30.0  # exponential: slope <= 1/30
    small = full.iloc[:MAX_STEPS]
    assert thin_steps(small) is small  # short curves are drawn as they are


def test_kaplan_meier_figure_is_bounded():
    rng = np.random.default_rng(6)
    km = pd.concat(
        pd.DataFrame(
            {
                "group": g,
                "time": np.sort(rng.exponential(40.0, 4000)),
                "survival": np.linspace(1, 0.05, 4000),
                "lower": np.linspace(0.95, 0.0, 4000),
                "upper": np.linspace(1.0, 0.1, 4000),
            }
        )
        for g in ("low", "intermediate", "high")
    )
    svg = SurvivalFigure(km).render(name="KM")
    curves = re.findall(r'<path d="([^"]*)" fill="none"', svg)
    bands = re.findall(r'<path d="([^"]*)Z"', svg)
    assert len(curves) == len(bands) == 3
    for d in curves:
        assert len(re.findall(r"[HVL]", d)) <= 2 * MAX_STEPS + 1
    for d in bands:
        assert len(re.findall(r"[HVL]", d)) <= 4 * MAX_STEPS + 2
    assert len(svg) < 30_000


def _vertices(d: str) -> list[tuple[float, float]]:
    """The vertices of path data made of M, H, V and L commands."""
    out: list[tuple[float, float]] = []
    for cmd, args in re.findall(r"([MHVL])([^MHVLZ]*)", d):
        nums = [float(v) for v in args.split()]
        x, y = out[-1] if out else (0.0, 0.0)
        out.append(
            {"M": (nums[0], nums[-1]), "L": (nums[0], nums[-1]), "H": (nums[0], y),
             "V": (x, nums[0])}[cmd]
        )  # fmt: skip
    return out


def test_step_paths_go_through_every_vertex_of_the_polyline():
    """H/V path data draws the same line as the point list it replaces (runs merged only when
    they continue in the same direction)."""
    rng = np.random.default_rng(7)
    xs = np.cumsum(rng.integers(0, 3, 60)).astype(float)
    ys = np.concatenate([[1.0], np.cumsum(rng.choice([0.0, 0.0, -0.1, 0.2], 59)) + 1])
    sx, sy = _steps(xs * 5.0, ys * 50.0)
    path = _vertices(_rectilinear(sx, sy))
    points = [(float(f"{x:.1f}"), float(f"{y:.1f}")) for x, y in zip(sx, sy, strict=True)]
    assert path[0] == points[0] and path[-1] == points[-1]
    j = 0
    for p, q in zip(points, points[1:], strict=False):
        if q == p:
            continue
        # q lies on the path segment from path[j] to path[j + 1] (or is its end)
        a, b = path[j], path[j + 1]
        on = min(a[0], b[0]) <= q[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= q[1] <= max(
            a[1], b[1]
        )
        assert on and (a[0] == b[0] == q[0] or a[1] == b[1] == q[1]), (p, q, a, b)
        if q == b:
            j += 1
    assert j == len(path) - 1


# ------------------------------------------------------------------------------ folded table


def test_drugs_beyond_the_top_rows_fold_into_a_compact_table():
    """1,400 drugs: the folded table keeps six columns, and each row stays under 100 bytes."""
    html = render_patient(_scale_bundle(3, drugs=1400), "RX-000000")
    folded = re.search(r"<summary>The remaining 1385 drugs</summary>.*?</details>", html, re.S)
    assert folded, "no folded table"
    table = folded.group(0)
    header = re.findall(r'<th scope="col">([^<]*)</th>', table)
    assert header == [
        "Rank", "Drug", "Tier", "Score", "Predicted ln IC50 (IC50 in µM)", "Beats baseline",
    ]  # fmt: skip
    rows = re.findall(r"<tr[^>]*><td>.*?</tr>", table)
    assert len(rows) == 1385
    assert rows[0] == (
        '<tr class="unreliable"><td>16</td><td>Drug-0015</td><td>D</td><td>-0.054</td>'
        "<td>0.054</td><td>no</td></tr>"
    )
    assert len(table.encode()) / len(rows) < 100
    assert len(html.encode()) < 250_000


# ------------------------------------------------------------------------------ page cleaning


@pytest.mark.parametrize(
    "text",
    [
        "plain page, no address",
        "see https://example.org and HTTP://x.y",
        "xhttp://not-a-word-start and ftp://kept",
        "a://b",
        "hTtPs://mixed",
    ],
)
def test_defang_is_the_pattern_on_every_page(text):
    """The quick test for ``://`` changes nothing: the result is the full pattern's."""
    assert _defang(text) == _URL.sub(r"\1[:]\2", text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Drug-123 (plain ASCII)", "Drug-123 (plain ASCII)"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("del\x7fbell\x07", "del\\u007fbell\\u0007"),  # ASCII, yet not printable
        ("Ven\u202egnp.exe", "Ven\\u202egnp.exe"),
    ],
)
def test_clean_text_quick_path_for_plain_ascii(text, shown):
    """Plain printable ASCII is returned as it is; anything else is still looked at."""
    assert clean_text(text) == shown
