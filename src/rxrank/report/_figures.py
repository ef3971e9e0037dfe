"""Figures of the HTML reports, drawn as inline SVG with :mod:`rxrank.report._svg`.

Each function returns a finished ``<svg>`` string. Figures drawn once per patient but mostly shared
across the cohort (the UMAP, the cohort Kaplan-Meier curves) are classes that build the shared part
once and add the patient's own marks per call, so that thousands of reports stay fast. They draw a
bounded amount whatever the cohort's size (at most :data:`MAX_POINTS` patients in the UMAP, at most
:data:`MAX_STEPS` rows of a Kaplan-Meier curve), so that a page does not grow with the cohort.
Figures never format numbers for the page and never know about HTML beyond SVG. Every label is
drawn through :mod:`rxrank.report._svg`, which cleans it of invisible characters and shortens it
(the full text is its tooltip).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._svg import (
    FONT,
    LABEL_MAX,
    TIP_MAX,
    Chart,
    expand,
    legend_width,
    short_text,
    svg_label,
    text_width,
)

__all__ = [
    "MAX_POINTS",
    "MAX_STEPS",
    "SurvivalFigure",
    "UmapFigure",
    "calibration",
    "heatmap",
    "model_skill",
    "reference_response",
    "stratified_sample",
    "target_z",
    "thin_steps",
]

#: Okabe-Ito colours (colour-blind safe) for the risk groups and categories.
RISK_COLOURS = {"low": "#0072B2", "intermediate": "#E69F00", "high": "#D55E00"}
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
PATIENT_COLOUR = "#000000"
INTERVAL_COLOUR = "#CC79A7"
MAX_STEPS = 200  # rows of a Kaplan-Meier curve drawn at most (see thin_steps)
MAX_POINTS = 2000  # cohort patients drawn in the UMAP at most (see stratified_sample)
SAMPLE_SEED = 0  # the UMAP's sample is the same on every page and every run


def reference_response(
    reference: Sequence[float] | np.ndarray,
    *,
    predicted: float,
    lower: float = np.nan,
    upper: float = np.nan,
    title: str = "",
    xlabel: str = "ln IC50 (lower = more sensitive)",
    bins: int = 25,
    name: str = "",
) -> str:
    """Histogram of the reference cell lines' responses with the patient's prediction marked.

    The predicted value is a vertical line and its interval a shaded band.
    """
    values = np.asarray(reference, dtype=float)
    values = values[np.isfinite(values)]
    marks = np.array([predicted, lower, upper], dtype=float)
    pool = np.concatenate([values, marks[np.isfinite(marks)]])
    lo, hi = (float(pool.min()), float(pool.max())) if pool.size else (0.0, 1.0)
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi) if hi > lo else None)
    chart = Chart(
        360, 210, xlim=expand(lo, hi), ylim=(0, max(1, counts.max(initial=0)) * 1.05),
        margins=(50, 36, 12, 22),
    )  # fmt: skip
    if values.size:
        chart.rects(
            edges[:-1], edges[1:], np.zeros_like(counts), counts, fill="#BBBBBB", stroke="#fff"
        )
    chart.vspan(lower, upper, colour=INTERVAL_COLOUR)
    chart.vline(predicted, colour=PATIENT_COLOUR, width=1.6)
    chart.frame()
    chart.xaxis(xlabel)
    chart.yaxis("cell lines")
    if title:
        chart.title(title)
    return chart.svg(name or title)


def thin_steps(part: pd.DataFrame, max_steps: int = MAX_STEPS) -> pd.DataFrame:
    """At most ``max_steps`` rows of a step table sorted by time, drawn as the same step function.

    Large cohorts give Kaplan-Meier tables with a step at every event time (thousands), more than
    a figure has pixels. Kept are the first and the last row and, at evenly spaced times between
    them, the row in effect there (the last at or before it): the step function through the kept
    rows equals the full one at every kept time, and each of its steps is a real event time.
    """
    if len(part) <= max_steps:
        return part
    time = part["time"].to_numpy(float)
    finite = np.isfinite(time)
    part, time = part[finite], time[finite]
    if len(part) <= max_steps:
        return part
    grid = np.linspace(time[0], time[-1], max_steps - 1)
    rows = np.searchsorted(time, grid, side="right") - 1
    return part.iloc[np.unique(np.concatenate([[0], rows, [len(part) - 1]]))]


class SurvivalFigure:
    """Cohort Kaplan-Meier curves by risk group, optionally with one patient's predicted curve.

    ``km`` has columns group, time, survival and optionally lower, upper. The cohort layer is
    built once per highlighted group and reused for every patient.
    """

    def __init__(self, km: pd.DataFrame, *, time_unit: str = "months", t_max: float | None = None):
        self.time_unit = time_unit
        groups = list(dict.fromkeys(km["group"].astype(str))) if len(km) else []
        self.groups = [g for g in RISK_COLOURS if g in groups] + [
            g for g in groups if g not in RISK_COLOURS
        ]
        fallback = iter(PALETTE[2:])
        self.colours = {g: RISK_COLOURS.get(g) or next(fallback, "#999999") for g in self.groups}
        self.parts = {
            g: thin_steps(km[km["group"].astype(str) == g].sort_values("time", kind="stable"))
            for g in self.groups
        }
        times = km["time"].to_numpy(float) if len(km) else np.array([1.0])
        self.t_max = float(t_max if t_max is not None else np.nanmax(times))
        self._layers: dict[str | None, str] = {}  # the curves, by highlighted group
        self._axes: dict[bool, str] = {}  # axes and legend, with or without a patient's curve

    def _chart(self) -> Chart:
        return Chart(
            400, 260, xlim=(0, self.t_max or 1.0), ylim=(0, 1.02), margins=(50, 36, 10, 10)
        )

    def _layer(self, group: str | None) -> str:
        if group not in self._layers:
            chart = self._chart()
            for g in self.groups:
                part, mine = self.parts[g], g == group
                t = part["time"].to_numpy(float)
                if {"lower", "upper"} <= set(part.columns):
                    chart.band(
                        t,
                        part["lower"],
                        part["upper"],
                        colour=self.colours[g],
                        opacity=0.14 if mine else 0.07,
                        step=True,
                    )
                chart.line(
                    np.append(t, self.t_max),
                    np.append(part["survival"].to_numpy(float), part["survival"].iloc[-1]),
                    colour=self.colours[g],
                    width=1.6 if mine else 0.9,
                    step=True,
                    opacity=1.0 if mine else 0.85,
                )
            self._layers[group] = "".join(chart.parts)
        return self._layers[group]

    def render(
        self,
        patient_curve: pd.Series | None = None,
        patient_group: str | None = None,
        *,
        name: str = "Kaplan-Meier curves of the cohort by risk group",
    ) -> str:
        """The cohort's curves (``patient_group``'s drawn bold) and the patient's predicted curve;
        only the patient's curve is drawn per call, the rest is built once and reused."""
        chart = self._chart()
        chart.raw(self._layer(patient_group))
        mine = patient_curve is not None and len(patient_curve) > 0
        if mine:
            curve = patient_curve.dropna().sort_index()
            curve = curve[curve.index.to_numpy(float) <= self.t_max]
            chart.line(curve.index, curve.to_numpy(float), colour=PATIENT_COLOUR, width=1.9)
        chart.raw(self._axes_layer(mine))
        return chart.svg(name)

    def _axes_layer(self, mine: bool) -> str:
        if mine not in self._axes:
            chart = self._chart()
            items = [(f"{g} risk (cohort)", self.colours[g], "line") for g in self.groups]
            if mine:
                items.append(("this patient (predicted)", PATIENT_COLOUR, "line"))
            chart.frame()
            chart.xaxis(f"time ({self.time_unit})")
            chart.yaxis("survival probability", ticks=[0, 0.25, 0.5, 0.75, 1.0])
            # top right: survival curves fall away from it
            chart.legend(
                items, x=chart.x1 - legend_width(label for label, _, _ in items), y=chart.y1 + 10
            )
            self._axes[mine] = "".join(chart.parts)
        return self._axes[mine]


def _natural_key(label: object) -> tuple:
    parts = re.split(r"(\d+)", str(label))
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def stratified_sample(labels: np.ndarray, n: int, *, seed: int = SAMPLE_SEED) -> np.ndarray:
    """Sorted positions of at most ``n`` of ``labels``, each label keeping its share, seeded.

    Every label gets one place (when there are no more labels than ``n``), the places left are
    shared in proportion to the labels' counts (largest remainder), and each label's places are
    drawn at random. The same labels and seed always give the same sample.
    """
    labels = np.asarray(labels, dtype=object)
    if len(labels) <= n:
        return np.arange(len(labels))
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    counts = np.bincount(codes, minlength=len(names))
    base = np.ones_like(counts) if len(names) <= n else np.zeros_like(counts)
    rest, left = counts - base, n - base.sum()
    share = rest * left / rest.sum()
    quota = np.floor(share).astype(int)
    quota[np.argsort(quota - share, kind="stable")[: left - quota.sum()]] += 1
    quota += base
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(codes == i), size=q, replace=False)
        for i, q in enumerate(quota)
        if q
    ]
    return np.sort(np.concatenate(chosen))


class UmapFigure:
    """The cohort UMAP (columns umap1, umap2) coloured by subtype; :meth:`render` adds a star.

    At most ``max_points`` patients are drawn (a fixed sample, stratified by subtype, see
    :func:`stratified_sample`): ``n_drawn`` of ``n_total``. The axes span every patient, and the
    highlighted patient's star is drawn whether or not the patient is in the sample.
    """

    def __init__(
        self, umap: pd.DataFrame, subtype: pd.Series | None = None, *, max_points: int = MAX_POINTS
    ) -> None:
        x, y = umap["umap1"].to_numpy(float), umap["umap2"].to_numpy(float)
        self.xlim, self.ylim = (
            expand(np.nanmin(x), np.nanmax(x)),
            expand(np.nanmin(y), np.nanmax(y)),
        )
        self.where = dict(zip(umap.index, zip(x.tolist(), y.tolist(), strict=True), strict=True))
        labels = (
            np.full(len(umap), "all", dtype=object)
            if subtype is None
            else subtype.reindex(umap.index).astype("string").fillna("unassigned").to_numpy()
        )
        self.legend = []
        names = sorted(set(labels), key=_natural_key)
        self.right = 14 + legend_width([*map(str, names), "this patient"])
        placed = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        drawn = placed[stratified_sample(labels[placed], max_points)]
        self.n_total, self.n_drawn = len(placed), len(drawn)
        x, y, labels = x[drawn], y[drawn], labels[drawn]
        chart = self._chart()
        r = 1.8 if self.n_total <= 2000 else 1.0  # small markers for a large cohort, sampled or not
        for i, label in enumerate(names):
            colour = PALETTE[i % len(PALETTE)] if subtype is not None else "#999999"
            mask = labels == label
            chart.points(x[mask], y[mask], colour=colour, r=r)
            if subtype is not None:
                self.legend.append((str(label), colour, "box"))
        self.layer = "".join(chart.parts)
        self._axes: dict[bool, str] = {}  # frame, labels and legend, with or without the star

    def _chart(self) -> Chart:
        return Chart(
            230 + self.right, 250, xlim=self.xlim, ylim=self.ylim, margins=(22, 22, self.right, 8)
        )

    @property
    def sampled(self) -> bool:
        """Whether fewer patients are drawn than the UMAP places."""
        return self.n_drawn < self.n_total

    def render(self, highlight: object = None, *, name: str = "Cohort UMAP by subtype") -> str:
        """``highlight`` is an index label of the UMAP table; it is never written into the figure.

        Only the star is drawn per call; the points, axes and legend are built once and reused.
        """
        chart = self._chart()
        chart.raw(self.layer)
        star = highlight is not None and highlight in self.where
        if star:
            chart.star(*self.where[highlight])
        chart.raw(self._axes_layer(star))
        return chart.svg(name)

    def _axes_layer(self, star: bool) -> str:
        if star not in self._axes:
            chart = self._chart()
            legend = list(self.legend)
            if star:
                legend.append(("this patient", PATIENT_COLOUR, "star"))
            chart.frame()
            chart.text((chart.x0 + chart.x1) / 2, chart.height - 5, "UMAP 1", anchor="middle")
            chart.text(12, (chart.y0 + chart.y1) / 2, "UMAP 2", anchor="middle", rotate=True)
            chart.legend(legend, x=chart.x1 + 8, y=chart.y1 + 10)
            self._axes[star] = "".join(chart.parts)
        return self._axes[star]


def _bar_chart(
    values: np.ndarray,
    labels: Sequence[str],
    *,
    colours: Sequence[str],
    xlim: tuple[float, float],
    xlabel: str,
    base: float = 0.0,
    width: float = 320,
) -> Chart:
    """Horizontal bars from ``base``, first label on top; the caller adds reference lines."""
    n = max(len(values), 1)
    left = min(
        200.0,
        12 + max((text_width(str(s), FONT, LABEL_MAX) for s in labels), default=20),
    )
    chart = Chart(
        width + left - 40, 46 + 16 * n, xlim=xlim, ylim=(-0.5, n - 0.5), margins=(left, 36, 14, 8)
    )
    pos = np.arange(len(values))[::-1].astype(float)
    chart.rects(np.full(len(values), base), values, pos - 0.35, pos + 0.35, fill=list(colours))
    chart.ylabels(pos, [str(s) for s in labels])
    chart.frame()
    chart.xaxis(xlabel)
    return chart


def target_z(z: pd.Series | Mapping[str, float], *, threshold: float = 2.0, name: str = "") -> str:
    """Horizontal bars of target-gene expression z-scores (vs the cohort), first label on top."""
    z = pd.Series(z, dtype=float)
    v = z.fillna(0).to_numpy()
    lim = max(threshold + 0.5, float(np.nanmax(np.abs(v))) + 0.3 if len(v) else 0.0)
    chart = _bar_chart(
        v,
        list(z.index),
        colours=["#D55E00" if x > 0 else "#0072B2" for x in v],
        xlim=(-lim, lim),
        xlabel="expression z-score vs cohort",
    )
    chart.vline(0, colour="#444", width=0.6)
    for t in (-threshold, threshold):
        chart.vline(t, colour="#999", width=0.6, dash="2 2")
    return chart.svg(name or "Target-gene expression z-scores")


def model_skill(metrics: pd.DataFrame, *, name: str = "") -> str:
    """Per-drug held-out RMSE relative to the stronger naive baseline (drug mean or tissue-drug
    mean; below 1 = better than both).

    Drugs whose model beats the baseline by the stated rule are drawn dark, the others light.
    """
    m = metrics.sort_values("rmse_ratio", ascending=True)
    ratio = m["rmse_ratio"].to_numpy(float)
    beats = m["beats_baseline"].astype(bool).to_numpy()
    finite = ratio[np.isfinite(ratio)]
    lo, hi = expand(min(1.0, finite.min(initial=1.0)), max(1.0, finite.max(initial=1.0)))
    chart = _bar_chart(
        ratio,
        [str(d) for d in m["drug"]],
        colours=np.where(beats, "#0072B2", "#BBBBBB").tolist(),
        xlim=(lo, hi),
        xlabel="CV RMSE / RMSE of the stronger naive baseline",
        base=1.0,
    )
    chart.vline(1.0, colour="#444", width=0.7)
    return chart.svg(name or "Drug models against the naive baselines")


def calibration(table: pd.DataFrame, *, name: str = "") -> str:
    """Calibration curves (mean predicted vs observed frequency per bin), one line per model."""
    models = [str(m).replace("_", " ") for m in dict.fromkeys(table["model"])]
    right = 14 + legend_width(models)
    chart = Chart(260 + right, 250, xlim=(0, 1), ylim=(0, 1), margins=(50, 36, right, 10))
    chart.line([0, 1], [0, 1], colour="#999", width=0.7)
    items = []
    for i, (model, part) in enumerate(table.groupby("model", sort=False)):
        colour = "#999999" if str(model).startswith("baseline") else PALETTE[i % len(PALETTE)]
        part = part.sort_values("predicted")
        chart.line(part["predicted"], part["observed"], colour=colour, width=1.3)
        chart.points(part["predicted"], part["observed"], colour=colour, r=1.6)
        items.append((str(model).replace("_", " "), colour, "line"))
    chart.frame()
    chart.xaxis("predicted probability", ticks=[0, 0.25, 0.5, 0.75, 1])
    chart.yaxis("observed frequency", ticks=[0, 0.25, 0.5, 0.75, 1])
    chart.legend(items, x=chart.x1 + 8, y=chart.y1 + 10)
    return chart.svg(name or "Calibration of the outcome classifiers")


def _diverging_rgb(values: np.ndarray, lim: float) -> np.ndarray:
    """Blue-white-red colours (uint8 RGB) for values in [-lim, lim]; NaN is light grey."""
    t = np.clip(np.nan_to_num(values / (lim or 1.0)), -1, 1)[..., None]
    white, red, blue = np.array([255, 255, 255]), np.array([213, 94, 0]), np.array([0, 114, 178])
    rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    rgb[np.isnan(values)] = NAN_RGB
    return rgb.astype(np.uint8)


def _sequential_rgb(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Dark (low) to light (high) blue; NaN is light grey."""
    t = np.clip(np.nan_to_num((values - lo) / ((hi - lo) or 1.0), nan=1.0), 0, 1)[..., None]
    dark, light = np.array([8, 48, 107]), np.array([239, 243, 255])
    rgb = dark + t * (light - dark)
    rgb[np.isnan(values)] = NAN_RGB
    return rgb.astype(np.uint8)


NAN_RGB = (225, 225, 225)
PNG_LEVELS = 64  # colour levels of raster heatmaps: indexed PNGs stay small even for noisy data


def _png(values: np.ndarray, lo: float, hi: float, colours) -> str:
    """A base64 indexed-colour PNG, one pixel per value, in ``PNG_LEVELS`` levels (NaN grey)."""
    from PIL import Image

    t = np.clip((values - lo) / ((hi - lo) or 1.0), 0, 1)
    idx = np.where(np.isnan(values), PNG_LEVELS, np.rint(np.nan_to_num(t) * (PNG_LEVELS - 1)))
    palette = colours(lo + np.linspace(0, 1, PNG_LEVELS) * (hi - lo))
    image = Image.fromarray(idx.astype(np.uint8), mode="P")
    image.putpalette([*palette.ravel().tolist(), *NAN_RGB])
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def heatmap(
    matrix: pd.DataFrame,
    *,
    kind: str = "diverging",
    lim: float | None = None,
    value_label: str = "",
    name: str = "",
    cell_text: pd.DataFrame | None = None,
    max_row_labels: int = 60,
    cell: float = 16.0,
) -> str:
    """A heatmap of a labelled matrix: rows top to bottom, columns left to right.

    ``kind`` is ``diverging`` (symmetric around 0, +-``lim``) or ``sequential`` (low = dark, for
    ranks). Small matrices are SVG rectangles with a tooltip and optional ``cell_text``; large
    ones are one embedded PNG (one pixel per cell, scaled without smoothing) so that the page
    stays small. Row labels are left out beyond ``max_row_labels`` rows.
    """
    values = matrix.to_numpy(float)
    n_rows, n_cols = values.shape
    finite = values[np.isfinite(values)]
    if kind == "diverging":
        lim = lim or (float(np.abs(finite).max()) if finite.size else 1.0)
        low, high = -lim, lim
        colours = lambda v: _diverging_rgb(v, lim)  # noqa: E731
    else:
        low = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 1.0
        colours = lambda v: _sequential_rgb(v, low, high)  # noqa: E731
    row_h = cell if n_rows <= max_row_labels else max(600.0 / n_rows, 0.5)
    col_w = cell if n_cols <= 40 else max(700.0 / n_cols, 2.0)
    show_rows = n_rows <= max_row_labels
    left = 6 + (
        max((text_width(str(r), FONT, LABEL_MAX) for r in matrix.index), default=0)
        if show_rows
        else 0
    )
    # column labels are rotated by 60 degrees: sin 60 of their length above, cos 60 to the right
    longest = max((text_width(str(c), FONT, LABEL_MAX) for c in matrix.columns), default=0)
    top = 12 + 0.87 * longest
    right = max(90.0, 0.5 * longest + 12)
    width, height = left + col_w * n_cols + right, top + row_h * n_rows + 30
    chart = Chart(width, height, xlim=(0, n_cols), ylim=(n_rows, 0), margins=(left, 30, right, top))
    if n_rows * n_cols <= 2500:
        rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
        fills = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in colours(values).reshape(-1, 3)]
        row_tips = [short_text(r, TIP_MAX)[0] for r in matrix.index]
        col_tips = [short_text(c, TIP_MAX)[0] for c in matrix.columns]
        tips = [
            f"{row_tips[r]} / {col_tips[c]}: {values[r, c]:.3g}"
            for r, c in zip(rows, cols, strict=True)
        ]
        chart.rects(cols, cols + 1, rows, rows + 1, fill=fills, titles=tips)
        if cell_text is not None and n_rows * n_cols <= 400:
            labels = cell_text.reindex(index=matrix.index, columns=matrix.columns)
            for (r, c), text in np.ndenumerate(labels.to_numpy(object)):
                if isinstance(text, str) and text:
                    chart.text(
                        float(chart.sx(c + 0.5)),
                        float(chart.sy(r + 0.5)) + 4,
                        text,
                        anchor="middle",
                    )
    else:
        chart.raw(
            f'<image x="{left:.1f}" y="{top:.1f}" width="{col_w * n_cols:.1f}" '
            f'height="{row_h * n_rows:.1f}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="data:image/png;base64,{_png(values, low, high, colours)}"/>'
        )
    for c, label in enumerate(matrix.columns):
        x = float(chart.sx(c + 0.5))
        text = svg_label(label, LABEL_MAX)
        chart.raw(
            f'<text x="{x + 3:.1f}" y="{top - 4:.1f}" '
            f'transform="rotate(-60 {x + 3:.1f} {top - 4:.1f})">{text}</text>'
        )
    if show_rows:
        chart.ylabels(np.arange(n_rows) + 0.5, [str(r) for r in matrix.index])
    # colour key
    key = np.linspace(high, low, PNG_LEVELS)[:, None]
    kx, ky, kh = left + col_w * n_cols + 12, top, min(120.0, row_h * n_rows)
    chart.raw(
        f'<image x="{kx:.1f}" y="{ky:.1f}" width="10" height="{kh:.1f}" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{_png(key, low, high, colours)}"/>'
    )
    chart.text(kx + 14, ky + 9, f"{high:.3g}")
    chart.text(kx + 14, ky + kh, f"{low:.3g}")
    if value_label:
        chart.text(kx, ky + kh + 16, value_label)
    return chart.svg(name or "Heatmap")
