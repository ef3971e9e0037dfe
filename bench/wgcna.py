"""WGCNA parity benchmark: rxrank ``find_modules`` vs R WGCNA on the same seeded planted modules.

Both get the same samples x genes matrix (:func:`bench.synth.planted_modules`). Compared:

- **power choice**: rxrank's scale-free fit (signed, powers 1-20, R^2 cut 0.8) vs WGCNA
  ``pickSoftThreshold`` (same settings), and the fit tables (signed R^2 and mean connectivity);
- **modules**: rxrank with the power it chose vs ``blockwiseModules`` with the power WGCNA chose
  (signed adjacency, TOM, minModuleSize 15, deepSplit 2, mergeCutHeight 0.25, minKMEtoStay 0.3,
  maxBlockSize 5000; WGCNA's defaults otherwise): ARI between the two, ARI of each with the planted
  modules, and per planted module the correlation of the two implementations' eigengenes;
- **time** of the module step at ``genes`` genes, interleaved repeats with both given the same
  power (R's own elapsed time of ``blockwiseModules``; R start-up and reading the matrix excluded);
- **peak memory** of the module step at ``memory_genes`` genes (rxrank blockwise; WGCNA too when
  asked).

R is run by ``Rscript bench/wgcna_parity.R`` (install: ``bench/install-r.sh``, Debian packages
``r-base-core r-cran-wgcna``). Without R or WGCNA the benchmark is skipped with a note.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from bench import report
from bench.measure import Peer, SelfTimed, Timings, interleaved, timed
from bench.synth import Planted, planted_modules
from rxrank.coexpression import ModuleResult, find_modules

__all__ = [
    "R_SCRIPT",
    "WgcnaError",
    "bench_wgcna",
    "compare",
    "hub_ranks",
    "read_r_outputs",
    "run_r",
    "wgcna_available",
    "wgcna_section",
    "write_gene_major",
]

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "wgcna_parity.R"
RXRANK = "rxrank find_modules"
WGCNA = "WGCNA blockwiseModules"
WGCNA_NO_GC = "WGCNA blockwiseModules, less its garbage collection"
PARAMS = {
    "max_block_size": 5000,
    "min_module_size": 15,
    "merge_cut_height": 0.25,
    "deep_split": 2,
    "min_kme": 0.3,
}


class WgcnaError(RuntimeError):
    """The R side failed (message: the end of R's stderr)."""


def wgcna_available(rscript: str | None = None) -> str | None:
    """None when Rscript runs and has the WGCNA package, else why not (for the skip note).

    Looks the package up without loading it (loading WGCNA takes about 12 s; each run loads it).
    """
    exe = rscript or shutil.which("Rscript")
    if exe is None:
        return "Rscript not found (install R and WGCNA with bench/install-r.sh)"
    proc = subprocess.run(
        [exe, "-e", 'if (!nzchar(system.file(package = "WGCNA"))) stop("WGCNA not installed")'],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"R package WGCNA not loadable ({tail}); install it with bench/install-r.sh"
    return None


def write_gene_major(x: np.ndarray, path: Path) -> None:
    """Samples x genes as little-endian float64, gene after gene (R fills a matrix by column)."""
    np.ascontiguousarray(np.asarray(x, dtype="<f8").T).tofile(path)


def r_command(
    matrix: Path,
    shape: tuple[int, int],
    outdir: Path,
    *,
    power: float | None,
    mode: str,
    params: dict[str, Any] | None = None,
    threads: int = 2,
    rscript: str = "Rscript",
) -> list[str]:
    """The Rscript command line of :data:`R_SCRIPT` (argument order fixed by the script)."""
    if mode not in ("pick", "modules", "both"):
        raise ValueError(f"mode must be pick, modules or both, got {mode!r}")
    p = {**PARAMS, **(params or {})}
    return [
        rscript,
        str(R_SCRIPT),
        str(matrix),
        str(shape[0]),
        str(shape[1]),
        str(outdir),
        "NA" if power is None else f"{power:g}",
        str(int(p["max_block_size"])),
        str(int(p["min_module_size"])),
        f"{p['merge_cut_height']:g}",
        str(int(p["deep_split"])),
        f"{p['min_kme']:g}",
        str(int(threads)),
        mode,
    ]


def read_r_outputs(outdir: Path) -> dict[str, Any]:
    """Parse what the R script wrote: result keys (numbers where they parse), fit, labels, MEs."""
    outdir = Path(outdir)
    kv = pd.read_csv(outdir / "result.tsv", sep="\t", dtype=str, keep_default_na=False)
    out: dict[str, Any] = {}
    for key, value in zip(kv["key"], kv["value"], strict=True):
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    if (outdir / "fit.tsv").exists():
        out["fit"] = pd.read_csv(outdir / "fit.tsv", sep="\t")
    if (outdir / "labels.txt").exists():
        out["labels"] = np.loadtxt(outdir / "labels.txt", dtype=int, ndmin=1)
        me = pd.read_csv(outdir / "eigengenes.tsv", sep="\t")
        out["eigengenes"] = me
    return out


def run_r(
    x: np.ndarray,
    *,
    power: float | None,
    mode: str,
    params: dict[str, Any] | None = None,
    threads: int = 2,
    timeout: float = 3600,
    gc: bool = True,
) -> dict[str, Any]:
    """Run the R script on samples x genes ``x`` in a temporary directory; its parsed outputs.

    ``gc=False`` switches off WGCNA's own garbage collections (``collectGarbage``; quick mode).
    """
    with tempfile.TemporaryDirectory(prefix="rxrank-wgcna-") as tmp:
        tmp = Path(tmp)
        write_gene_major(x, tmp / "x.f64")
        cmd = r_command(
            tmp / "x.f64", x.shape, tmp, power=power, mode=mode, params=params, threads=threads
        )
        env = dict(os.environ)
        env.pop("RXRANK_WGCNA_NO_GC", None)
        if not gc:
            env["RXRANK_WGCNA_NO_GC"] = "1"
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:]) or "?"
            raise WgcnaError(f"Rscript exit {proc.returncode}: {tail}")
        return read_r_outputs(tmp)


def _labels_from_r(labels: np.ndarray) -> np.ndarray:
    return np.where(labels == 0, "grey", np.char.add("W", labels.astype(str))).astype(object)


def hub_ranks(result: ModuleResult, planted: Planted) -> dict[str, list[int]]:
    """Per planted module: rank by kME of each planted hub within the module that holds most of it.

    0 marks a hub that is not in that module (or a module found only in grey).
    """
    mods = result.modules
    lab = mods.set_index("gene")["module"].reindex(planted.genes)
    out = {}
    for name, hubs in planted.hubs.items():
        found = lab[planted.modules == name].value_counts().idxmax()
        ranked = list(mods.loc[mods["module"] == found, "gene"])  # sorted by kME
        out[name] = [ranked.index(h) + 1 if (found != "grey" and h in ranked) else 0 for h in hubs]
    return out


def compare(
    rx: ModuleResult, wg: dict[str, Any], planted: Planted, *, rx_power: float | None = None
) -> dict[str, Any]:
    """Parity figures of an rxrank result and the parsed WGCNA outputs on the same planted data."""
    genes = planted.genes
    rx_lab = rx.modules.set_index("gene")["module"].reindex(genes).to_numpy()
    wg_lab = _labels_from_r(np.asarray(wg["labels"]))
    truth = planted.modules.to_numpy()
    both = (rx_lab != "grey") & (wg_lab != "grey")
    out: dict[str, Any] = {
        "ari_rx_wgcna": float(adjusted_rand_score(rx_lab, wg_lab)),
        "ari_rx_wgcna_assigned": float(adjusted_rand_score(rx_lab[both], wg_lab[both])),
        "ari_rx_planted": float(adjusted_rand_score(truth, rx_lab)),
        "ari_wgcna_planted": float(adjusted_rand_score(truth, wg_lab)),
        "n_modules_rx": int(len(set(rx_lab) - {"grey"})),
        "n_modules_wgcna": int(len(set(wg_lab) - {"grey"})),
        "n_planted": int(len(set(truth) - {"grey"})),
        "grey_rx": int((rx_lab == "grey").sum()),
        "grey_wgcna": int((wg_lab == "grey").sum()),
        "grey_planted": int((truth == "grey").sum()),
    }
    # eigengenes: per planted module, the module of each implementation holding most of its genes
    wg_me = wg["eigengenes"]
    me_r, rx_fac, wg_fac = [], [], []
    for name in planted.hubs:
        sel = truth == name
        a = pd.Series(rx_lab[sel]).value_counts().idxmax()
        b = pd.Series(wg_lab[sel]).value_counts().idxmax()
        if a == "grey" or b == "grey":
            me_r.append(float("nan"))
            continue
        e_rx = rx.eigengenes[a].to_numpy()
        e_wg = wg_me["ME" + b[1:]].to_numpy()
        me_r.append(float(np.corrcoef(e_rx, e_wg)[0, 1]))
        fac = planted.factors[name].to_numpy()
        rx_fac.append(abs(float(np.corrcoef(e_rx, fac)[0, 1])))
        wg_fac.append(abs(float(np.corrcoef(e_wg, fac)[0, 1])))
    me_r = np.asarray(me_r)
    out["eigengene_r_min"] = float(np.nanmin(me_r)) if np.isfinite(me_r).any() else float("nan")
    out["eigengene_r_median"] = float(np.nanmedian(me_r)) if np.isfinite(me_r).any() else np.nan
    out["eigengene_pairs"] = int(np.isfinite(me_r).sum())
    out["factor_r_min_rx"] = min(rx_fac, default=float("nan"))
    out["factor_r_min_wgcna"] = min(wg_fac, default=float("nan"))
    ranks = hub_ranks(rx, planted)
    flat = [r for rs in ranks.values() for r in rs]
    out["hub_worst_rank_rx"] = 0 if 0 in flat else max(flat, default=0)
    out["hubs_top5_rx"] = sum(1 <= r <= 5 for r in flat)
    out["hubs"] = len(flat)
    # power choice and fit tables
    if "fit" in wg:
        fw = wg["fit"].set_index("power")
        fr = rx.soft_threshold.set_index("power")
        common = fr.index.intersection(fw.index)
        out["power_rx"] = rx_power if rx_power is not None else rx.params["power"]
        out["power_wgcna"] = wg.get("power_estimate")
        # WGCNA's SFT.R.sq is the plain R^2 (its powerEstimate: the first power with R^2 above
        # the cut, whatever the slope's sign); rxrank's sft_r2 is -sign(slope) * R^2
        signed_wg = -np.sign(fw.loc[common, "slope"]) * fw.loc[common, "sft_r2"]
        out["fit_r2_max_diff"] = float((fr.loc[common, "sft_r2"] - signed_wg).abs().max())
        out["fit_slope_max_diff"] = float(
            (fr.loc[common, "slope"] - fw.loc[common, "slope"]).abs().max()
        )
        rel = (fr.loc[common, "mean_k"] - fw.loc[common, "mean_k"]).abs() / fw.loc[common, "mean_k"]
        out["fit_mean_k_max_rel_diff"] = float(rel.max())
    return out


def _adata(x: np.ndarray, planted: Planted) -> ad.AnnData:
    a = ad.AnnData(np.asarray(x, dtype=np.float64), var=pd.DataFrame(index=planted.genes))
    a.obs_names = planted.factors.index
    return a


def bench_wgcna(
    samples: int,
    genes: int,
    memory_genes: int,
    *,
    n_modules: int | None = None,
    repeats: int = 3,
    wgcna_at_memory_size: bool = True,
    weak_case: bool = True,
    separate_wgcna_timing: bool = True,
    wgcna_gc: bool = True,
    seed: int = 0,
    threads: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Parity, interleaved timing and peak memory (see the module docstring).

    Returns ``{"skipped": reason}`` without R/WGCNA, else ``{"parity", "rows", "memory",
    "versions", "sizes"}``.
    """
    why = wgcna_available()
    if why is not None:
        log(f"  wgcna: skipped: {why}")
        return {"skipped": why}
    k = n_modules or max(genes // 250, 3)
    pl = planted_modules(samples, genes, k, seed=seed)
    x = pl.X
    adata = _adata(x, pl)
    log(f"  wgcna parity: {samples} samples x {genes} genes, {k} planted modules")
    t0 = time.perf_counter()
    rx = find_modules(adata, n_genes=genes, **_rx_params())
    rx_s = time.perf_counter() - t0
    wg = run_r(x, power=None, mode="both", threads=threads, gc=wgcna_gc)
    parity = compare(rx, wg, pl)
    parity["rx_seconds_with_power_choice"] = rx_s
    parity["wgcna_pick_seconds"] = wg.get("pick_seconds")
    log(
        f"    power rxrank {parity['power_rx']} vs WGCNA {parity['power_wgcna']}; ARI "
        f"{parity['ari_rx_wgcna']:.3f}; eigengene r >= {parity['eigengene_r_min']:.4f}"
    )
    versions = {"wgcna": wg.get("wgcna_version"), "r": wg.get("r_version")}
    hard = {"genes": genes, "modules": k, "loading": (0.25, 0.6), "factor_r": 0.6}
    parity_hard = None
    if weak_case:
        pl_h = planted_modules(
            samples, genes, k, loading=hard["loading"], factor_r=hard["factor_r"], seed=seed + 2
        )
        log("  wgcna parity, weak modules in correlated pairs")
        rx_h = find_modules(_adata(pl_h.X, pl_h), n_genes=genes, **_rx_params())
        wg_h = run_r(pl_h.X, power=None, mode="both", threads=threads, gc=wgcna_gc)
        parity_hard = compare(rx_h, wg_h, pl_h)
        log(f"    ARI {parity_hard['ari_rx_wgcna']:.3f}")
        del rx_h, pl_h

    # timing: the module step with the same power for both, repeats interleaved
    power = float(parity["power_rx"])

    no_gc: list[float] = []  # WGCNA's time less what R spent in garbage collection

    def wgcna_modules(xx: np.ndarray = x, pw: float = power) -> SelfTimed:
        try:
            out = run_r(xx, power=pw, mode="modules", threads=threads, gc=wgcna_gc)
        except (WgcnaError, subprocess.TimeoutExpired) as err:
            return SelfTimed(None, None, str(err))
        no_gc.append(out["modules_seconds"] - out.get("modules_gc_seconds", 0.0))
        return SelfTimed(out["modules_seconds"], _peak(out), out)

    rx_peer = Peer(
        RXRANK, lambda: find_modules(adata, n_genes=genes, power=power, **_rx_params()), repeats
    )
    if separate_wgcna_timing:
        log(f"  wgcna timing: module step at {genes} genes, power {power:g} for both")
        t = interleaved([rx_peer, Peer(WGCNA, wgcna_modules, repeats)], log=log)
    else:  # WGCNA's module step as timed in the parity run (saves R's start, about 12 s)
        log(f"  wgcna timing: rxrank's module step at {genes} genes, power {power:g}")
        t = interleaved([rx_peer], log=log)
        t[WGCNA] = Timings(WGCNA, result=wg)
        t[WGCNA].seconds.append(wg["modules_seconds"])
        if _peak(wg) is not None:
            t[WGCNA].peaks.append(_peak(wg))
        no_gc.append(wg["modules_seconds"] - wg.get("modules_gc_seconds", 0.0))
    rows = []
    base = t[RXRANK].median
    for name, tm in t.items():
        rows.append(
            {
                "samples": samples,
                "genes": genes,
                "impl": name,
                **tm.stats(base),
            }
        )
    if no_gc:
        rows.append(
            {
                **rows[-1],
                "impl": WGCNA_NO_GC,
                "time_s": float(np.median(no_gc)),
                "time_min_s": min(no_gc),
                "time_max_s": max(no_gc),
                "peak_mib": float("nan"),
                "time_vs_rxrank": float(np.median(no_gc)) / base,
            }
        )
    same_power = t[WGCNA].result
    if same_power is not None:  # the module assignment with equal powers, from the first repeat
        parity["ari_rx_wgcna_same_power"] = float(
            adjusted_rand_score(
                t[RXRANK].result.modules.set_index("gene")["module"].reindex(pl.genes),
                _labels_from_r(np.asarray(same_power["labels"])),
            )
        )
    del t

    # peak memory of the module step at memory_genes (blockwise)
    memory = []
    pl_m = planted_modules(samples, memory_genes, max(memory_genes // 250, 3), seed=seed + 1)
    adata_m = _adata(pl_m.X, pl_m)
    log(f"  wgcna memory: module step at {memory_genes} genes")
    seconds, peak, others, res = timed(
        lambda: find_modules(adata_m, n_genes=memory_genes, **_rx_params())
    )
    lab = res.modules.set_index("gene")["module"].reindex(pl_m.genes)
    memory.append(
        {
            "impl": RXRANK,
            "genes": memory_genes,
            "samples": samples,
            "time_s": seconds,
            "peak_mib": peak / 2**20,
            "others_cores": others,
            "blocks": res.params["n_blocks"],
            "power": res.params["power"],
            "ari_planted": float(adjusted_rand_score(pl_m.modules, lab)),
        }
    )
    log(f"    rxrank {seconds:.1f} s, +{peak / 2**20:.0f} MiB, {res.params['n_blocks']} blocks")
    if wgcna_at_memory_size:
        pw = float(res.params["power"])
        del res
        try:
            seconds, _, others, out = timed(
                lambda: run_r(pl_m.X, power=pw, mode="modules", threads=threads, gc=wgcna_gc)
            )
            wl = _labels_from_r(np.asarray(out["labels"]))
            memory.append(
                {
                    "impl": WGCNA,
                    "genes": memory_genes,
                    "samples": samples,
                    "time_s": out["modules_seconds"],
                    "peak_mib": _peak(out) / 2**20 if _peak(out) is not None else float("nan"),
                    "others_cores": others,
                    "blocks": int(out.get("n_blocks", 0)),
                    "power": pw,
                    "ari_planted": float(adjusted_rand_score(pl_m.modules, wl)),
                    "ari_vs_rxrank": float(adjusted_rand_score(lab, wl)),
                }
            )
            log(f"    WGCNA {out['modules_seconds']:.1f} s")
            memory[-1]["gc_s"] = out.get("modules_gc_seconds")
        except (WgcnaError, subprocess.TimeoutExpired) as err:
            log(f"    WGCNA failed at {memory_genes} genes: {err}")
            memory.append({"impl": WGCNA, "genes": memory_genes, "failed": str(err)})
    return {
        "parity": parity,
        "parity_hard": parity_hard,
        "rows": rows,
        "memory": memory,
        "versions": versions,
        "sizes": {
            "samples": samples,
            "genes": genes,
            "memory_genes": memory_genes,
            "modules": k,
            "hard": hard,
            "wgcna_timing": "separate" if separate_wgcna_timing else "parity",
            "wgcna_gc": wgcna_gc,
            "power_wgcna_parity": parity["power_wgcna"],
        },
    }


def _rx_params() -> dict[str, Any]:
    return {
        "max_block_size": PARAMS["max_block_size"],
        "min_module_size": PARAMS["min_module_size"],
        "merge_cut_height": PARAMS["merge_cut_height"],
        "deep_split": PARAMS["deep_split"],
        "min_kme": PARAMS["min_kme"],
        "signed": True,
    }


def _peak(out: dict[str, Any]) -> int | None:
    v = out.get("modules_peak_bytes")
    return int(v) if isinstance(v, float) and np.isfinite(v) else None


# --------------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------------


def wgcna_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    """The ``wgcna`` section of BENCHMARKS.md."""
    if "skipped" in res:
        return "\n".join(
            [
                "<!-- bench:section wgcna -->",
                "## WGCNA parity (co-expression modules)",
                "",
                f"Not run ({run['date']}, `{run['command']}`): {res['skipped']}.",
                "",
            ]
        )
    rows = res["rows"]
    par = res["parity"]
    sz = res["sizes"]
    ver = res["versions"]
    out = report._header("wgcna", "WGCNA parity (co-expression modules)", run, rows)
    out += [
        f"Seeded planted modules (`bench.synth.planted_modules`): {sz['samples']:,} samples x "
        f"{sz['genes']:,} genes, {sz['modules']} planted modules (3 hub genes each), 30% grey "
        f"genes. R {ver['r']}, WGCNA {ver['wgcna']} (Debian `r-cran-wgcna`, OpenBLAS), "
        "run by `Rscript bench/wgcna_parity.R` on the same float64 matrix. Both: signed network, "
        "powers 1-20 with R^2 cut 0.8, minModuleSize 15, deepSplit 2, mergeCutHeight 0.25, "
        "minKMEtoStay 0.3, maxBlockSize 5,000; WGCNA's other defaults (its PAM stage on, "
        "rxrank's PAM-like stage on).",
        "",
        "**Parity**",
        "",
    ]
    header = ["", "rxrank", "WGCNA"]
    prow = _parity_rows(par)
    hard = res.get("parity_hard")
    if hard:
        header = ["", "clear modules: rxrank", "WGCNA", "weak, paired modules: rxrank", "WGCNA"]
        prow = [a + b[1:] for a, b in zip(prow, _parity_rows(hard), strict=True)]
    out.append(report._table(header, prow))
    if hard:
        hs = res["sizes"]["hard"]
        out += [
            "",
            f"The weak case: {hs['genes']:,} genes, {hs['modules']} planted modules with loadings "
            f"{hs['loading'][0]}-{hs['loading'][1]} (hubs still 0.93-0.97) whose driving factors "
            f"correlate {hs['factor_r']} in pairs, so the tree cut leaves many genes out and "
            "modules sit close; there the implementations' handling of leftover genes decides. "
            f"rxrank vs WGCNA ARI {hard['ari_rx_wgcna']:.4f} (over the genes both assign: "
            f"{hard['ari_rx_wgcna_assigned']:.4f}); matching eigengenes r >= "
            f"{hard['eigengene_r_min']:.4f}.",
        ]
    out += [
        "",
        f"rxrank vs WGCNA module assignment: ARI {par['ari_rx_wgcna']:.4f} over all genes "
        f"(each with its own power), {par['ari_rx_wgcna_assigned']:.4f} over the genes both "
        "assign to a module"
        + (
            f", {par['ari_rx_wgcna_same_power']:.4f} with the same power"
            if "ari_rx_wgcna_same_power" in par
            else ""
        )
        + ". Eigengenes of the matching modules (the module of each that holds most of a planted "
        f"module's genes; {par['eigengene_pairs']} pairs) correlate r >= "
        f"{par['eigengene_r_min']:.4f} (median {par['eigengene_r_median']:.4f}). Every planted hub "
        + (
            f"is within rank {par['hub_worst_rank_rx']} of its module by rxrank's kME "
            f"({par['hubs']} hubs)."
            if par["hub_worst_rank_rx"]
            else "gene is not in its module's rxrank module (see the raw JSON)."
        ),
        "",
        f"**Time of the module step** at {sz['genes']:,} genes, both given power "
        f"{par['power_rx']:g} (rxrank: the whole `find_modules`, including its fit table; WGCNA: "
        "`blockwiseModules` as timed by R, without R start-up or reading the matrix; WGCNA "
        "calls R's `gc()` over and over (`collectGarbage`), so its time is also shown less what "
        "R spent in garbage collection, `gc.time()`)"
        + (
            f"; in this run WGCNA's time is its module step in the parity run, with the power it "
            f"chose ({sz['power_wgcna_parity']:g}), not separate repeats"
            if sz.get("wgcna_timing") == "parity"
            else ""
        )
        + (
            "; in this run WGCNA's `collectGarbage` was switched off (quick mode: it costs about "
            "15 s a run whatever the size), so both of its rows are without it:"
            if sz.get("wgcna_gc") is False
            else ":"
        ),
        "",
    ]
    trows = [
        [
            r["impl"],
            f"{r['repeats']}" + (f" ({len(r['failures'])} failed)" if r["failures"] else ""),
            report.secs(r["time_s"]),
            report._range(r),
            report.times(r["time_vs_rxrank"]),
            report.mib(r["peak_mib"]),
            report.cores(r["others_cores"]),
        ]
        for r in rows
    ]
    out.append(
        report._table(
            [
                "implementation",
                "repeats",
                "median",
                "range",
                "time vs rxrank",
                "peak extra",
                report.OTHERS,
            ],
            trows,
        )
    )
    mem = res["memory"]
    out += [
        "",
        f"**Peak memory of the module step** at {sz['memory_genes']:,} genes x "
        f"{sz['samples']:,} samples (blockwise, maxBlockSize 5,000; one run each; peak extra = "
        "increase of the process's peak RSS over its size before the call):",
        "",
    ]
    mrows = []
    for m in mem:
        if "failed" in m:
            mrows.append([m["impl"], "failed: " + m["failed"], "-", "-", "-", "-"])
            continue
        mrows.append(
            [
                m["impl"],
                report.secs(m["time_s"]),
                report.mib(m["peak_mib"]),
                str(m["blocks"]),
                f"{m['ari_planted']:.4f}",
                report.cores(m["others_cores"]),
            ]
        )
    out.append(
        report._table(
            ["implementation", "time", "peak extra", "blocks", "ARI vs planted", report.OTHERS],
            mrows,
        )
    )
    out.append("")
    return "\n".join(out)


def _parity_rows(par: dict[str, Any]) -> list[list[str]]:
    return [
        ["soft-threshold power chosen", f"{par['power_rx']:g}", f"{par['power_wgcna']:g}"],
        [
            "fit table vs WGCNA, max difference over powers 1-20",
            f"signed R^2 {par['fit_r2_max_diff']:.2g}, slope {par['fit_slope_max_diff']:.2g}",
            f"mean k {par['fit_mean_k_max_rel_diff']:.2g} (relative)",
        ],
        [
            f"modules (planted: {par['n_planted']})",
            str(par["n_modules_rx"]),
            str(par["n_modules_wgcna"]),
        ],
        [
            f"grey genes (planted: {par['grey_planted']:,})",
            f"{par['grey_rx']:,}",
            f"{par['grey_wgcna']:,}",
        ],
        [
            "ARI with the planted modules",
            f"{par['ari_rx_planted']:.4f}",
            f"{par['ari_wgcna_planted']:.4f}",
        ],
        [
            "eigengene correlation with the planted factor (min, absolute)",
            f"{par['factor_r_min_rx']:.4f}",
            f"{par['factor_r_min_wgcna']:.4f}",
        ],
        [
            "planted hubs in the top 5 of their module by kME",
            f"{par['hubs_top5_rx']} of {par['hubs']}",
            "-",
        ],
    ]
