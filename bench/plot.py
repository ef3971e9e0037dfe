"""The scaling plot of BENCHMARKS.md (docs/benchmarks.svg), drawn from the runs' raw results.

Each run merges its benchmarks' raw results into a JSON file beside the plot (docs/benchmarks.json
for the default ``--out``), benchmark by benchmark as the markdown is, so ``--only ridge`` redraws
the ridge panels and keeps the others' data. Panels: the same-run ratios of every peer to rxrank,
ridge time vs cell lines, correlation time vs genes, survival time vs patients, the workflow's dry
run vs patients, and the workflow's time per rule.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["merge_data", "write_plot"]


def merge_data(results: dict[str, Any], data_path: Path) -> dict[str, Any]:
    """The benchmarks' results of earlier runs (from ``data_path``) updated with this run's."""
    data: dict[str, Any] = {}
    if data_path.exists():
        try:
            data = json.loads(data_path.read_text())
        except (OSError, ValueError):
            data = {}
    data.update({k: v for k, v in results.items() if k != "machine"})
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text(json.dumps(data, indent=1, default=str, allow_nan=True) + "\n")
    return data


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def _ratios(data: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, peer's time / rxrank's time) of each benchmark's headline comparison."""
    out = []
    ridge = data.get("ridge", {}).get("headline", {}).get("rows", [])
    rx = [r for r in ridge if r["impl"].startswith("rxrank")]
    if rx and _finite(rx[0].get("speedup")):  # the loop's time / rxrank's
        out.append((f"RidgeCV loop\n({rx[0]['drugs']} drugs)", rx[0]["speedup"]))
    corr = data.get("correlation", {}).get("rows", [])
    if corr:
        g = max(r["genes"] for r in corr)
        for r in corr:
            if r["impl"].startswith(("numpy", "bare")) and r["genes"] == g:
                label = "np.corrcoef" if r["impl"].startswith("numpy") else "bare GEMM"
                if _finite(r.get("time_vs_rxrank")):
                    out.append((f"{label}\n({g:,} genes)", r["time_vs_rxrank"]))
        for r in corr:
            if r["impl"].startswith("pandas") and _finite(r.get("time_vs_rxrank")):
                out.append((f"pandas corr\n({r['genes']:,} genes)", r["time_vs_rxrank"]))
    for r in data.get("wgcna", {}).get("rows", []):
        if r["impl"] == "WGCNA blockwiseModules" and _finite(r.get("time_vs_rxrank")):
            out.append(("WGCNA\nmodules", r["time_vs_rxrank"]))
    rep = data.get("reports", {})
    if _finite(rep.get("ratio")):
        out.append(("matplotlib\nfigures", rep["ratio"]))
    surv = data.get("survival", {}).get("rows", [])
    lif = [r for r in surv if r["impl"].startswith("lifelines")]
    if lif and _finite(lif[-1].get("time_vs_rxrank")):
        out.append((f"lifelines\n({lif[-1]['patients']:,} pts)", lif[-1]["time_vs_rxrank"]))
    for r in data.get("profiling", {}).get("rows", []):
        if r["impl"].startswith("scanpy") and _finite(r.get("time_vs_rxrank")):
            out.append(("scanpy recipe\n(less work)", r["time_vs_rxrank"]))
    return out


def write_plot(results: dict[str, Any], data_path: Path, plot_path: Path) -> bool:
    """Merge ``results`` into ``data_path`` and draw every panel there is data for; False if none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = merge_data(results, data_path)
    panels = []
    ratios = _ratios(data)
    if ratios:
        panels.append(("ratios", ratios))
    scaling = [r for r in data.get("ridge", {}).get("scaling", []) if r["varied"] == "lines"]
    if scaling:
        panels.append(("ridge", scaling))
    corr = data.get("correlation", {}).get("rows", [])
    if corr:
        panels.append(("correlation", corr))
    surv = data.get("survival", {}).get("rows", [])
    if surv:
        panels.append(("survival", surv))
    dag = data.get("dag", {}).get("rows", [])
    if dag:
        panels.append(("dag", dag))
    wf = data.get("workflow", {}).get("runs", [])
    if wf:
        panels.append(("workflow", wf))
    if not panels:
        return False
    plt.rcParams.update({"svg.hashsalt": "rxrank-bench", "font.size": 8})
    ncol = 3
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 3.6 * nrow), squeeze=False)
    for ax, (kind, rows) in zip(axes.flat, panels, strict=False):
        _DRAW[kind](ax, rows)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("rxrank benchmarks (python -m bench; BENCHMARKS.md has the tables)", fontsize=10)
    fig.tight_layout()
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    fmt = plot_path.suffix.lstrip(".") or "svg"
    fig.savefig(plot_path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return True


def _plain(ax, y: bool = True) -> None:
    """Plain numbers on log axes (10, 100, 1,000 rather than 10^1 and minor-tick labels)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fmt = FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    axes = [ax.xaxis, ax.yaxis] if y else [ax.xaxis]
    for axis in axes:
        axis.set_major_formatter(fmt)
        axis.set_minor_formatter(NullFormatter())


def _ratios_panel(ax, ratios: list[tuple[str, float]]) -> None:
    labels = [k for k, _ in ratios]
    values = [v for _, v in ratios]
    colors = ["tab:green" if v >= 1 else "tab:gray" for v in values]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1, color="black", lw=0.8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.3g}x", va="center", fontsize=7)
    ax.set_xlabel("peer's time / rxrank's time (same run; > 1: rxrank faster)")
    _plain(ax, y=False)
    ax.set_title("rxrank vs what users would otherwise run")


def _ridge_panel(ax, rows: list[dict[str, Any]]) -> None:
    rows = sorted(rows, key=lambda r: r["lines"])
    x = [r["lines"] for r in rows]
    ax.loglog(x, [r["time_s"] for r in rows], "o-", label="rxrank MaskedRidge (all drugs)")
    base = rows[-1]
    ax.set_title(
        f"Ridge: time vs cell lines ({base['genes']:,} genes, {base['drugs']} drugs, "
        f"{base['missing']:.0%} missing)"
    )
    ax.set_xlabel("cell lines")
    ax.set_ylabel("seconds (median)")
    _plain(ax)
    ax.set_xticks(x, [f"{v:,}" for v in x])
    ax.legend(fontsize=7)


def _correlation_panel(ax, rows: list[dict[str, Any]]) -> None:
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    for impl in impls:
        pts = sorted(
            (r["genes"], r["time_s"]) for r in rows if r["impl"] == impl and _finite(r["time_s"])
        )
        if pts:
            ax.loglog(*zip(*pts, strict=True), "o-", label=impl)
    ax.set_title(f"Correlation: time vs genes ({rows[0]['samples']:,} samples)")
    ax.set_xlabel("genes")
    ax.set_ylabel("seconds (median)")
    _plain(ax)
    genes = sorted({r["genes"] for r in rows})
    ax.set_xticks(genes, [f"{g:,}" for g in genes])
    ax.legend(fontsize=6)


def _survival_panel(ax, rows: list[dict[str, Any]]) -> None:
    for impl in dict.fromkeys(r["impl"] for r in rows):
        pts = sorted((r["patients"], r["time_s"]) for r in rows if r["impl"] == impl)
        ax.plot(*zip(*pts, strict=True), "o-", label=impl.split(" (")[0])
    ax.set_ylim(bottom=0)
    ax.set_title("Survival: Cox CV + nested CV + final fit + PH test")
    ax.set_xlabel("patients")
    ax.set_ylabel("seconds (median)")
    ax.legend(fontsize=6)


def _dag_panel(ax, rows: list[dict[str, Any]]) -> None:
    for profile in dict.fromkeys(r["profile"] for r in rows):
        pts = sorted((r["patients"], r["time_s"]) for r in rows if r["profile"] == profile)
        ax.plot(*zip(*pts, strict=True), "o-", label=f"profile {profile}")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Workflow DAG: snakemake -n ({rows[0]['jobs']} jobs at every size)")
    ax.set_xlabel("patients")
    ax.set_ylabel("seconds (median)")
    _plain(ax, y=False)
    sizes = sorted({r["patients"] for r in rows})
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.legend(fontsize=7)


def _workflow_panel(ax, runs: list[dict[str, Any]]) -> None:
    names = list(dict.fromkeys(s["stage"] for r in runs for s in r["stages"]))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        wall = {s["stage"]: s["wall_s"] for s in run["stages"]}
        ax.barh(
            [j + i * width for j in range(len(names))],
            [wall.get(n, 0.0) for n in names],
            height=width,
            label=f"{run['patients']:,} patients: {run['wall_s']:.0f} s in all, "
            f"peak {run['tree_peak_mib']:,.0f} MiB",
        )
    ax.set_yticks([j + 0.4 - width / 2 for j in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xlabel("wall seconds per rule (--cores 2)")
    ax.set_title("The whole workflow, per rule")
    ax.legend(fontsize=7)


_DRAW = {
    "ratios": _ratios_panel,
    "ridge": _ridge_panel,
    "correlation": _correlation_panel,
    "survival": _survival_panel,
    "dag": _dag_panel,
    "workflow": _workflow_panel,
}
