"""Figures for the HTML reports.

Every plotting function takes ``ax=None`` and returns the axes it drew on; with ``ax=None`` it makes
a small figure of its own. The functions only draw: they never format numbers for the page and never
know about HTML. :func:`to_svg` turns a figure into an SVG fragment that can be inlined in an HTML5
page (no XML prolog, no namespace URLs, element IDs made unique with a prefix).

The module uses matplotlib's object API (:class:`~matplotlib.figure.Figure`), never ``pyplot``, so
no figure is kept in global state and nothing needs closing; the Agg backend is selected at import
only when ``pyplot`` has not been imported yet, so an interactive session keeps its own backend.
"""

from __future__ import annotations

import functools
import io
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # headless by default; never switch a live session
    matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "new_axes",
    "plot_reference_response",
    "plot_survival",
    "plot_target_z",
    "plot_umap",
    "to_svg",
]

#: rc settings for every report figure: text stays text in SVG, user strings are never parsed as
#: mathtext (a drug called ``$x$`` stays ``$x$``), and IDs are deterministic (no random salt).
RC: dict[str, object] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "rxrank",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],  # short font lists keep SVGs small
    "font.size": 7,
    "axes.titlesize": 8,
    "axes.labelsize": 7,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "figure.dpi": 100,
    "savefig.dpi": 120,
}

#: Okabe-Ito colours (colour-blind safe) for the risk groups.
RISK_COLOURS = {"low": "#0072B2", "intermediate": "#E69F00", "high": "#D55E00"}
PATIENT_COLOUR = "#000000"
INTERVAL_COLOUR = "#CC79A7"
RASTERIZE_ABOVE = 500  # scatter points; beyond this the points become one embedded PNG
MAX_STEPS = 250  # Kaplan-Meier curves with more steps are drawn on a grid of this many times

F = TypeVar("F", bound=Callable[..., Axes])


def _styled(func: F) -> F:
    """Run a plotting function inside the report rc settings."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_axes(
    figsize: tuple[float, float] = (3.2, 2.2),
    *,
    margins: tuple[float, float, float, float] | None = None,
) -> Axes:
    """A single axes on a new figure (no pyplot state).

    ``margins`` (left, bottom, right, top, in inches) fixes the layout, which renders about twice as
    fast as the default constrained layout; use it where the labels' sizes are known.
    """
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=figsize, layout=None if margins else "constrained")
        if margins:
            (w, h), (left, bottom, right, top) = figsize, margins
            fig.subplots_adjust(
                left=left / w, bottom=bottom / h, right=1 - right / w, top=1 - top / h
            )
        return fig.add_subplot()


@_styled
def plot_reference_response(
    reference: Sequence[float] | np.ndarray | pd.Series,
    *,
    predicted: float,
    lower: float = np.nan,
    upper: float = np.nan,
    title: str | None = None,
    xlabel: str = "ln IC50 (lower = more sensitive)",
    bins: int = 25,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of the reference cell lines' responses with the patient's prediction marked.

    The predicted value is a vertical line and its interval a shaded band.
    """
    ax = new_axes((3.0, 1.8), margins=(0.45, 0.35, 0.1, 0.22)) if ax is None else ax
    values = np.asarray(reference, dtype=float)
    values = values[np.isfinite(values)]
    if values.size:
        ax.hist(values, bins=bins, color="#BBBBBB", edgecolor="white", linewidth=0.3)
    if np.isfinite(lower) and np.isfinite(upper):
        ax.axvspan(lower, upper, color=INTERVAL_COLOUR, alpha=0.25, linewidth=0, label="interval")
    if np.isfinite(predicted):
        ax.axvline(predicted, color=PATIENT_COLOUR, linewidth=1.5, label="this patient")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cell lines")
    if title:
        ax.set_title(title, loc="left")
    return ax


@_styled
def plot_survival(
    km: pd.DataFrame,
    *,
    patient_curve: pd.Series | None = None,
    patient_group: str | None = None,
    time_unit: str = "months",
    ax: Axes | None = None,
) -> Axes:
    """Cohort Kaplan-Meier curves by risk group with the patient's predicted survival curve.

    ``km`` has columns group, time, survival and optionally lower, upper; ``patient_curve`` is S(t)
    indexed by time. The patient's own risk group is drawn a little heavier.
    """
    ax = new_axes((3.4, 2.3), margins=(0.45, 0.35, 0.1, 0.1)) if ax is None else ax
    groups = list(dict.fromkeys(km["group"].astype(str))) if len(km) else []
    order = [g for g in RISK_COLOURS if g in groups] + [g for g in groups if g not in RISK_COLOURS]
    fallback = iter(["#009E73", "#56B4E9", "#F0E442", "#999999"])
    for group in order:
        part = _thin_steps(km[km["group"].astype(str) == group].sort_values("time"))
        colour = RISK_COLOURS.get(group) or next(fallback, "#999999")
        mine = group == patient_group
        time = part["time"].to_numpy(float)
        ax.step(
            time,
            part["survival"].to_numpy(float),
            where="post",
            color=colour,
            linewidth=1.4 if mine else 0.9,
            alpha=1.0 if mine else 0.8,
            label=f"{group} risk (cohort)",
        )
        if {"lower", "upper"} <= set(part.columns):
            ax.fill_between(
                time,
                part["lower"].to_numpy(float),
                part["upper"].to_numpy(float),
                step="post",
                color=colour,
                alpha=0.12 if mine else 0.06,
                linewidth=0,
            )
    if patient_curve is not None and len(patient_curve):
        curve = patient_curve.dropna().sort_index()
        ax.plot(
            curve.index.to_numpy(float),
            curve.to_numpy(float),
            color=PATIENT_COLOUR,
            linewidth=1.8,
            label="this patient (predicted)",
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("survival probability")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, loc="lower left")
    return ax


def _thin_steps(part: pd.DataFrame, max_steps: int = MAX_STEPS) -> pd.DataFrame:
    """A right-continuous step table evaluated on ``max_steps`` evenly spaced times.

    Large cohorts give Kaplan-Meier tables with thousands of steps; at report size the grid is
    indistinguishable and keeps the SVG small. Before the first step the first row's values hold.
    """
    if len(part) <= max_steps:
        return part
    time = part["time"].to_numpy(float)
    grid = np.linspace(time[0], time[-1], max_steps)
    pos = np.clip(np.searchsorted(time, grid, side="right") - 1, 0, len(part) - 1)
    out = part.iloc[pos].copy()
    out["time"] = grid
    return out


@_styled
def plot_umap(
    umap: pd.DataFrame,
    subtype: pd.Series | None = None,
    *,
    highlight: object = None,
    ax: Axes | None = None,
) -> Axes:
    """The cohort UMAP (columns umap1, umap2) coloured by subtype, one patient highlighted.

    ``highlight`` is an index label of ``umap``; it is never written into the figure.
    """
    ax = new_axes((3.0, 2.5)) if ax is None else ax
    x = umap["umap1"].to_numpy(float)
    y = umap["umap2"].to_numpy(float)
    raster = len(umap) > RASTERIZE_ABOVE
    size = 6 if len(umap) <= 2000 else 2
    if subtype is None:
        ax.scatter(x, y, s=size, color="#999999", linewidths=0, rasterized=raster)
    else:
        labels = subtype.reindex(umap.index).astype("string").fillna("unassigned").to_numpy()
        palette = matplotlib.colormaps["tab10"].colors
        for i, label in enumerate(sorted(set(labels), key=_natural_key)):
            mask = labels == label
            ax.scatter(
                x[mask],
                y[mask],
                s=size,
                color=palette[i % len(palette)],
                linewidths=0,
                rasterized=raster,
                label=str(label),
            )
    if highlight is not None and highlight in umap.index:
        row = umap.loc[highlight]
        ax.scatter(
            [row["umap1"]],
            [row["umap2"]],
            s=70,
            marker="*",
            color="white",
            edgecolors=PATIENT_COLOUR,
            linewidths=1.2,
            zorder=5,
            label="this patient",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    if ax.get_legend_handles_labels()[0]:
        legend = ax.legend(
            frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), handletextpad=0.2
        )
        for handle in legend.legend_handles:
            handle.set_sizes([40 if handle.get_label() == "this patient" else 16])
    return ax


@_styled
def plot_target_z(
    z: pd.Series | Mapping[str, float],
    *,
    threshold: float = 2.0,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of target-gene expression z-scores (vs the cohort), first label on top."""
    z = pd.Series(z, dtype=float)
    ax = new_axes((3.0, 0.5 + 0.18 * max(len(z), 1))) if ax is None else ax
    pos = np.arange(len(z))[::-1]
    colours = ["#D55E00" if v > 0 else "#0072B2" for v in z.fillna(0).to_numpy()]
    ax.barh(pos, z.fillna(0).to_numpy(), color=colours, height=0.7)
    ax.set_yticks(pos, [str(label) for label in z.index])
    ax.axvline(0, color="#444444", linewidth=0.6)
    for t in (-threshold, threshold):
        ax.axvline(t, color="#999999", linewidth=0.5, linestyle=":")
    ax.set_xlabel("expression z-score vs cohort")
    lim = max(
        threshold + 0.5, float(np.nanmax(np.abs(z.to_numpy()))) + 0.3 if z.notna().any() else 0
    )
    ax.set_xlim(-lim, lim)
    return ax


@_styled
def plot_model_skill(metrics: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Per-drug held-out RMSE relative to the drug-mean baseline (below 1 = better than baseline).

    Drugs whose model beats the baseline by the stated rule are drawn dark, the others light.
    """
    m = metrics.sort_values("rmse_ratio", ascending=False)
    ax = new_axes((3.6, 0.6 + 0.16 * max(len(m), 1))) if ax is None else ax
    pos = np.arange(len(m))
    beats = m["beats_baseline"].astype(bool).to_numpy()
    ax.barh(
        pos,
        m["rmse_ratio"].to_numpy() - 1.0,
        left=1.0,
        height=0.7,
        color=np.where(beats, "#0072B2", "#BBBBBB"),
    )
    ax.set_yticks(pos, [str(d) for d in m["drug"]])
    ax.axvline(1.0, color="#444444", linewidth=0.6)
    ax.set_xlabel("CV RMSE / drug-mean baseline RMSE")
    return ax


def _natural_key(label: object) -> tuple:
    parts = re.split(r"(\d+)", str(label))
    return tuple(int(p) if p.isdigit() else p for p in parts)


_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>", re.IGNORECASE)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_XMLNS = re.compile(r"""\s+xmlns(?::\w+)?=(["'])[^"']*\1""")
_ID = re.compile(r'\bid="([^"]+)"')


def to_svg(figure: Figure | Axes, *, prefix: str = "fig", title: str | None = None) -> str:
    """Serialise a figure to an SVG fragment for inlining in an HTML5 page.

    Removes the XML prolog, DOCTYPE, RDF metadata and namespace declarations (their URLs would be
    the only ``http`` strings on the page; HTML5 puts inline ``<svg>`` in the SVG namespace without
    them), turns ``xlink:href`` into SVG 2 ``href``, and prefixes every element ID with ``prefix``
    so that several figures can share a page. ``title`` becomes the figure's accessible name.
    """
    fig = figure.figure if isinstance(figure, Axes) else figure
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = _PROLOG.sub("", svg)
    svg = _METADATA.sub("", svg)
    svg = _XMLNS.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")
    ids = set(_ID.findall(svg))
    if ids:
        pattern = re.compile(
            r'(\bid="|href="#|url\(#)(' + "|".join(re.escape(i) for i in ids) + r')(["\)])'
        )
        svg = pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", svg)
    svg = svg.replace(' version="1.1"', "", 1)
    attrs = ' role="img" class="figure"'
    if title:
        attrs += f' aria-label="{_xml_escape(title)}"'
    svg = svg.replace("<svg ", f"<svg{attrs} ", 1)
    return svg.strip()


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
