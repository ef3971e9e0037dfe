"""Report benchmark: every patient's HTML page plus the cohort index, at cohort scale.

rxrank's ``write_reports`` (own SVG figures) writes every page of a synthetic cohort; the peer is
what the report stage did before, and what most tools do: draw the same six figures per patient
with matplotlib and save them as SVG. The peer runs on a subset of patients (it is slow) and is
compared per patient. Page sizes are recorded too (the aim is < 1 MB per patient page).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import Peer, interleaved
from rxrank.report import ReportBundle, write_reports

__all__ = ["bench_reports", "synthetic_bundle"]

RXRANK = "rxrank write_reports (all pages + index)"
MPL = "matplotlib SVG figures (6 per patient)"


def synthetic_bundle(patients: int, drugs: int, lines: int, *, seed: int = 0) -> ReportBundle:
    """A cohort as the stages would leave it: rankings of every drug for every patient, etc."""
    rng = np.random.default_rng(seed)
    pids = [f"RX-{i:012x}" for i in range(patients)]
    names = [f"Drug-{j:03d}" for j in range(drugs)]
    pred = rng.normal(2.5, 1.5, (patients, drugs))
    order = np.argsort(pred, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(1, drugs + 1)[None, :], axis=1)
    reliable = rng.random(drugs) < 0.7
    n = patients * drugs
    rankings = pd.DataFrame(
        {
            "patient_id": np.repeat(pids, drugs),
            "drug": np.tile(names, patients),
            "rank": rank.ravel(),
            "tier": np.where(np.tile(reliable, patients), "B", "D"),
            "score": -pred.ravel(),
            "predicted": pred.ravel(),
            "lower": pred.ravel() - 1.2,
            "upper": pred.ravel() + 1.2,
            "percentile": rng.uniform(0, 100, n),
            "beats_baseline": np.tile(reliable, patients),
            "cv_pearson": np.tile(rng.uniform(0, 0.9, drugs), patients),
            "target_genes": np.tile([f"GENE{j % 50}" for j in range(drugs)], patients),
            "target_z": rng.normal(0, 1, n),
            "survival_hr": np.nan,
            "survival_hr_lower": np.nan,
            "survival_hr_upper": np.nan,
            "module_evidence": "",
            "pathway": "pathway",
            "comp_sensitivity": rng.normal(0, 1, n),
            "comp_reliability": rng.normal(0, 1, n),
            "comp_target": rng.normal(0, 1, n),
            "comp_survival": np.nan,
            "comp_module": np.nan,
            "flags": "",
        }
    ).sort_values(["patient_id", "rank"], kind="stable")
    reference = pd.DataFrame(
        {
            "cell_line": np.repeat([f"CL{i}" for i in range(lines)], drugs),
            "drug": np.tile(names, lines),
            "value": rng.normal(2.5, 2.0, lines * drugs),
        }
    )
    idx = pd.Index(pids, name="patient_id")
    risk = rng.normal(0, 1, patients)
    groups = np.array(["low", "intermediate", "high"])[np.digitize(risk, [-0.43, 0.43])]
    time = np.linspace(0, 120, 200)
    km = pd.concat(
        [
            pd.DataFrame(
                {"group": g, "time": time, "survival": np.exp(-k * time)}
                | {"lower": np.exp(-k * time) * 0.9, "upper": np.exp(-k * time) ** 0.9}
            )
            for g, k in (("low", 0.005), ("intermediate", 0.015), ("high", 0.04))
        ]
    )
    grid = np.linspace(0, 120, 60)
    curves = pd.DataFrame(np.exp(-np.outer(grid, np.exp(risk) * 0.015)), columns=pids)
    curves.insert(0, "time", grid)
    subtype = pd.Series(rng.choice(["S1", "S2", "S3", "S4"], patients), index=idx)
    umap = pd.DataFrame(rng.normal(0, 1, (patients, 2)), index=idx, columns=["umap1", "umap2"])
    umap["umap1"] += subtype.map({"S1": 0, "S2": 4, "S3": 8, "S4": 12})
    return ReportBundle(
        rankings=rankings,
        metrics=pd.DataFrame(
            {
                "drug": names,
                "rmse_ratio": rng.uniform(0.5, 1.2, drugs),
                "beats_baseline": reliable,
                "cv_pearson": rng.uniform(0, 0.9, drugs),
            }
        ),
        reference_response=reference,
        prognosis=pd.DataFrame(
            {
                "risk_score": risk,
                "risk_group": groups,
                "median_survival": 40 / np.exp(risk),
                "s_12": 0.9,
                "s_36": 0.6,
                "s_60": 0.4,
            },
            index=idx,
        ),
        km=km,
        patient_curves=curves,
        survival_metrics={"n": patients, "events": patients // 2, "cv_cindex_mean": 0.68},
        obs=pd.DataFrame({"subtype": subtype, "age": rng.integers(30, 85, patients)}, index=idx),
        umap=umap,
        target_z=pd.DataFrame(
            rng.normal(0, 1, (patients, 50)), index=idx, columns=[f"GENE{j}" for j in range(50)]
        ),
        provenance={"rxrank_version": "bench", "created": "bench"},
        pseudonyms={p: p for p in pids},
        cohort_name="benchmark cohort",
        qc=pd.DataFrame(
            {
                "total_counts": rng.lognormal(15, 0.3, patients),
                "n_genes": rng.integers(12000, 16000, patients),
                "qc_outlier": False,
            },
            index=idx,
        ),
        module_traits=pd.DataFrame(
            [
                (f"M{m}", f"trait{t}", rng.uniform(-1, 1), 0.5, 0.5)
                for m in range(12)
                for t in range(30)
            ],
            columns=["module", "trait", "r", "p", "q"],
        ),
    )


def matplotlib_figures(bundle: ReportBundle, patients: list[str]) -> int:
    """The peer: each patient's six report figures drawn with matplotlib and saved as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ref = {d: v.to_numpy(float) for d, v in bundle.reference_response.groupby("drug")["value"]}
    by_patient = dict(tuple(bundle.rankings.groupby("patient_id", sort=False)))
    curves = bundle.patient_curves.set_index("time")
    total = 0

    def save(fig: Figure) -> None:
        nonlocal total
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        total += len(buf.getvalue())

    for pid in patients:
        top = by_patient[pid].head(3)
        for r in top.itertuples():
            ax = Figure(figsize=(3.0, 1.8)).add_subplot()
            ax.hist(ref[r.drug], bins=25, color="#BBBBBB")
            ax.axvspan(r.lower, r.upper, alpha=0.25)
            ax.axvline(r.predicted, color="k")
            save(ax.figure)
        ax = Figure(figsize=(3.4, 2.3)).add_subplot()
        for g, part in bundle.km.groupby("group"):
            ax.step(part["time"], part["survival"], where="post", label=g)
        ax.plot(curves.index, curves[pid], color="k")
        ax.legend()
        save(ax.figure)
        ax = Figure(figsize=(3.0, 2.5)).add_subplot()
        for s, part in bundle.umap.groupby(bundle.obs["subtype"]):
            ax.scatter(part["umap1"], part["umap2"], s=6, label=s)
        ax.scatter([bundle.umap.at[pid, "umap1"]], [bundle.umap.at[pid, "umap2"]], marker="*")
        save(ax.figure)
        genes = [g for g in top["target_genes"] if g in bundle.target_z.columns]
        ax = Figure(figsize=(3.0, 1.2)).add_subplot()
        ax.barh(np.arange(len(genes)), bundle.target_z.loc[pid, genes].to_numpy())
        save(ax.figure)
    return total


def bench_reports(
    patients: int,
    drugs: int,
    lines: int,
    *,
    peer_patients: int = 20,
    repeats: int = 2,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time rxrank's pages for the whole cohort and the matplotlib peer on ``peer_patients``."""
    log(f"  reports: {patients:,} patients x {drugs} drugs, {lines} reference lines")
    bundle = synthetic_bundle(patients, drugs, lines, seed=seed)
    tmp = Path(tempfile.mkdtemp(prefix="rxrank-bench-reports-"))
    subset = list(bundle.pseudonyms)[:peer_patients]
    try:

        def ours() -> dict[str, float]:
            shutil.rmtree(tmp, ignore_errors=True)
            paths = write_reports(bundle, tmp)
            sizes = np.array([p.stat().st_size for p in paths[:-1]], dtype=float)
            return {
                "pages": len(paths),
                "median_kb": float(np.median(sizes) / 1e3),
                "max_kb": float(sizes.max() / 1e3),
                "index_kb": paths[-1].stat().st_size / 1e3,
            }

        peers = [
            Peer(RXRANK, ours, repeats),
            Peer(MPL, lambda: matplotlib_figures(bundle, subset), repeats),
        ]
        t = interleaved(peers, log=log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours_t, mpl_t = t[RXRANK], t[MPL]
    per_ours = ours_t.median / patients
    per_mpl = mpl_t.median / len(subset)
    return {
        "patients": patients,
        "drugs": drugs,
        "lines": lines,
        "peer_patients": len(subset),
        "rxrank_s": ours_t.median,
        "rxrank_range": [min(ours_t.seconds), max(ours_t.seconds)],
        "rxrank_peak_mib": ours_t.peak_mib,
        "rxrank_per_patient_s": per_ours,
        "mpl_s": mpl_t.median,
        "mpl_per_patient_s": per_mpl,
        "ratio": per_mpl / per_ours,
        "others_cores": max(ours_t.others_cores, mpl_t.others_cores),
        "repeats": repeats,
        **(ours_t.result or {}),
    }
