"""Seeded generator of the demo cohort and reference, with the planted truth written beside them.

The demo is small on purpose (200 patients, 2,000 genes, 150 cell lines, 20 drugs) but every stage's
signal is planted so that tests can check that it is recovered:

* three molecular subtypes (blocks of up-regulated genes);
* five co-expression modules (genes sharing a latent factor in patients and cell lines);
* six "driver" genes, each over-expressed in a subset of tumours and cell lines, and each the
  biomarker of one targeted drug; eight more drugs respond to a continuously varying biomarker;
  six chemotherapies have no expression signal at all, as in real screens;
* survival driven by module M1 (a proliferation-like programme), stage, age and a treatment x driver
  interaction (patients given the drug matching their driver do better, log HR -2.0). EGFR and ERBB2
  drivers, the biomarkers of the two targeted arms, are three times as common as the others, and arms
  are balanced within driver groups: at 80 patients the interaction was recovered (p < 0.05 in both
  arms) for 0 of 40 seeds, at 200 for 39 of 40 (``scripts/survival_power.py``).

Run ``python -m rxrank.demo resources`` to regenerate the committed files.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DemoSpec", "DRUGS", "generate", "write_demo"]

log = logging.getLogger(__name__)

# drug, targets, pathway, biomarker gene (None: no signal), effect on ln IC50 per SD, is_driver
DRUGS: list[tuple[str, str, str, str | None, float, bool]] = [
    ("Erlotinib", "EGFR", "EGFR signaling", "EGFR", 1.6, True),
    ("Lapatinib", "ERBB2;EGFR", "EGFR signaling", "ERBB2", 1.6, True),
    ("Dabrafenib", "BRAF", "ERK MAPK signaling", "BRAF", 1.6, True),
    ("Crizotinib", "ALK;MET", "RTK signaling", "ALK", 1.6, True),
    ("Palbociclib", "CDK4;CDK6", "Cell cycle", "CDK4", 1.6, True),
    ("Alpelisib", "PIK3CA", "PI3K/MTOR signaling", "PIK3CA", 1.6, True),
    ("Trametinib", "MAP2K1;MAP2K2", "ERK MAPK signaling", "DUSP6", 0.9, False),
    ("Olaparib", "PARP1;PARP2", "Genome integrity", "SLFN11", 0.9, False),
    ("Venetoclax", "BCL2", "Apoptosis regulation", "BCL2", 0.9, False),
    ("Nutlin-3a", "MDM2", "p53 pathway", "MDM2", 0.8, False),
    ("Tamoxifen", "ESR1", "Hormone-related", "ESR1", 0.8, False),
    ("Bortezomib", "PSMB5", "Protein stability and degradation", "PSMB5", 0.7, False),
    ("Imatinib", "ABL1;KIT;PDGFRA", "RTK signaling", "KIT", 0.8, False),
    ("Afatinib", "EGFR;ERBB2", "EGFR signaling", "AREG", 0.7, False),
    ("Cisplatin", "DNA crosslinker", "DNA replication", None, 0.0, False),
    ("Paclitaxel", "TUBB", "Mitosis", None, 0.0, False),
    ("Gemcitabine", "RRM1", "DNA replication", None, 0.0, False),
    ("Doxorubicin", "TOP2A", "DNA replication", None, 0.0, False),
    ("Fluorouracil", "TYMS", "DNA replication", None, 0.0, False),
    ("Vorinostat", "HDAC1;HDAC2;HDAC3", "Chromatin histone acetylation", None, 0.0, False),
]

TREATMENT_ARMS = ["standard_of_care", "Erlotinib", "Lapatinib"]
TISSUES = ["lung", "breast", "skin", "colon", "blood", "brain", "ovary", "pancreas"]


@dataclass(frozen=True)
class DemoSpec:
    """Sizes and effect strengths of the demo data."""

    n_patients: int = 200
    n_genes: int = 2000
    n_lines: int = 150
    n_subtypes: int = 3
    n_modules: int = 5
    module_size: int = 40
    subtype_genes: int = 50
    driver_fraction_patients: float = 0.85
    driver_fraction_lines: float = 0.45
    # relative frequency of each driver (DRUGS order) among driver-positive patients; cell lines: equal
    driver_weights: tuple[float, ...] = (3, 3, 1, 1, 1, 1)
    arm_probabilities: tuple[float, ...] = (1, 1, 1)  # TREATMENT_ARMS
    # stratified: arms balanced within each driver group, as in a stratified randomised trial
    allocation: str = "stratified"  # stratified | random
    matched_log_hr: float = -2.0  # log hazard ratio of receiving the drug matching one's driver
    baseline_hazard: float = 0.04  # events per month at the covariates' reference values
    follow_up: tuple[float, float] = (24.0, 120.0)  # censoring time uniform on this range (months)
    missing_fraction: float = 0.15
    seed: int = 7


def _gene_names(n_genes: int) -> list[str]:
    named = sorted(
        {d[3] for d in DRUGS if d[3]}
        | {t for d in DRUGS for t in d[1].split(";") if t.isupper() and " " not in t}
    )
    filler = [f"GENE{i:05d}" for i in range(1, n_genes - len(named) + 1)]
    return named + filler


def _latent_design(rng: np.random.Generator, genes: list[str], spec: DemoSpec) -> dict:
    """Choose which genes carry subtypes, modules and biomarkers (shared by patients and lines)."""
    biomarkers = [d[3] for d in DRUGS if d[3]]
    targets = {t for d in DRUGS for t in d[1].split(";")}
    reserved = set(biomarkers) | targets
    free = np.array([g for g in genes if g not in reserved])
    rng.shuffle(free)
    k = 0
    modules = {}
    for m in range(spec.n_modules):
        modules[f"M{m + 1}"] = list(free[k : k + spec.module_size])
        k += spec.module_size
    subtypes = {}
    for s in range(spec.n_subtypes):
        subtypes[f"S{s + 1}"] = list(free[k : k + spec.subtype_genes])
        k += spec.subtype_genes
    return {"modules": modules, "subtypes": subtypes}


def _log_expression(
    rng: np.random.Generator,
    n: int,
    genes: list[str],
    design: dict,
    base: np.ndarray,
    spec: DemoSpec,
    driver_fraction: float,
    driver_weights: tuple[float, ...] | None = None,
) -> tuple[np.ndarray, dict]:
    """Natural-log expression levels (samples x genes) with the planted structure, plus the latents."""
    gidx = {g: i for i, g in enumerate(genes)}
    x = base[None, :] + rng.normal(0, 0.35, size=(n, len(genes)))
    subtype = rng.integers(0, spec.n_subtypes, size=n)
    for s, members in enumerate(design["subtypes"].values()):
        cols = [gidx[g] for g in members]
        x[np.ix_(subtype == s, cols)] += 1.4
    factors = rng.normal(0, 1, size=(n, spec.n_modules))
    for m, members in enumerate(design["modules"].values()):
        cols = [gidx[g] for g in members]
        loadings = rng.uniform(0.6, 1.0, size=len(cols)) * rng.choice([1, 1, 1, -1], len(cols))
        x[:, cols] += factors[:, [m]] * loadings[None, :]
    drivers = [d[3] for d in DRUGS if d[5]]
    driver = np.full(n, "", dtype=object)
    has = rng.random(n) < driver_fraction
    weights = np.ones(len(drivers)) if driver_weights is None else np.asarray(driver_weights, float)
    if weights.shape != (len(drivers),) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"driver_weights needs {len(drivers)} non-negative weights, got {weights}")
    driver[has] = rng.choice(drivers, size=has.sum(), p=weights / weights.sum())
    for g in drivers:
        x[driver == g, gidx[g]] += 3.0
    # continuous biomarkers vary more than the average gene so that their signal is learnable
    for d in DRUGS:
        if d[3] and not d[5]:
            x[:, gidx[d[3]]] += rng.normal(0, 0.9, size=n)
    return x, {"subtype": subtype, "factors": factors, "driver": driver}


def _true_response(logx: np.ndarray, genes: list[str], ref_logx: np.ndarray) -> np.ndarray:
    """Noise-free ln IC50 of every drug (samples x drugs); biomarkers standardised on the reference."""
    gidx = {g: i for i, g in enumerate(genes)}
    out = np.zeros((logx.shape[0], len(DRUGS)))
    for j, (_, _, _, bm, beta, _) in enumerate(DRUGS):
        out[:, j] = 2.5 + 0.15 * j
        if bm:
            mu, sd = ref_logx[:, gidx[bm]].mean(), ref_logx[:, gidx[bm]].std()
            out[:, j] -= beta * (logx[:, gidx[bm]] - mu) / sd
    return out


def _allocate(rng: np.random.Generator, driver: np.ndarray, spec: DemoSpec) -> np.ndarray:
    """Treatment arm per patient: at random, or in proportion within each driver group."""
    p = np.asarray(spec.arm_probabilities, float)
    p = p / p.sum()
    arms = np.array(TREATMENT_ARMS, dtype=object)
    if spec.allocation == "random":
        return rng.choice(arms, size=len(driver), p=p)
    if spec.allocation != "stratified":
        raise ValueError(f"allocation must be stratified or random, not {spec.allocation!r}")
    out = np.empty(len(driver), dtype=object)
    for group in np.unique(driver):
        idx = np.flatnonzero(driver == group)
        quota = np.floor(p * len(idx)).astype(int)
        extra = rng.choice(len(p), size=len(idx) - quota.sum(), replace=False, p=p)
        quota[extra] += 1
        out[rng.permutation(idx)] = np.repeat(arms, quota)
    return out


def generate(spec: DemoSpec = DemoSpec()) -> dict[str, pd.DataFrame]:
    """Generate every demo table in memory; keys are the relative paths they are written to."""
    rng = np.random.default_rng(spec.seed)
    genes = _gene_names(spec.n_genes)
    design = _latent_design(rng, genes, spec)
    base = rng.normal(2.0, 1.3, size=len(genes))

    # ---- patients: counts ----
    plog, plat = _log_expression(
        rng,
        spec.n_patients,
        genes,
        design,
        base,
        spec,
        spec.driver_fraction_patients,
        spec.driver_weights,
    )
    patients = [f"P{i + 1:03d}" for i in range(spec.n_patients)]
    size = rng.lognormal(0, 0.25, size=spec.n_patients)[:, None]
    mean = np.exp(plog) * size * 8.0
    dispersion = 0.08
    lam = rng.gamma(1 / dispersion, mean * dispersion)
    counts = rng.poisson(lam).astype(np.int64)
    expression = pd.DataFrame(counts.T, index=pd.Index(genes, name="gene_id"), columns=patients)

    # ---- cell lines: log2 TPM-like values with a platform shift per gene ----
    llog, llat = _log_expression(
        rng, spec.n_lines, genes, design, base, spec, spec.driver_fraction_lines
    )
    shift = rng.normal(0, 0.5, size=len(genes))
    ref_values = (llog + shift[None, :]) / np.log(2) + rng.normal(0, 0.1, size=llog.shape)
    lines = [f"CL{i + 1:03d}" for i in range(spec.n_lines)]
    ref_expression = pd.DataFrame(
        np.round(ref_values.T, 3), index=pd.Index(genes, name="gene_id"), columns=lines
    )
    tissue = rng.choice(TISSUES, size=spec.n_lines)
    _lineage_programmes(ref_expression, tissue, spec)
    cell_lines = pd.DataFrame({"cell_line": lines, "tissue": tissue})
    # binary alteration calls (as from a mutation/copy-number pipeline): the planted driver of each
    # line, derived from the latents without any further random draw
    features = pd.DataFrame(
        {f"{g}_alt": (llat["driver"] == g).astype(int) for g in (d[3] for d in DRUGS if d[5])},
        index=pd.Index(lines, name="cell_line"),
    )

    # ---- responses ----
    true_lines = _true_response(llog, genes, llog)
    tissue_effect = dict(zip(TISSUES, rng.normal(0, 0.3, len(TISSUES)), strict=True))
    noise = rng.normal(0, 0.6, size=true_lines.shape)
    observed = true_lines + np.array([tissue_effect[t] for t in tissue])[:, None] + noise
    mask = rng.random(observed.shape) < spec.missing_fraction
    rows = [
        (lines[i], DRUGS[j][0], round(float(observed[i, j]), 4))
        for i in range(spec.n_lines)
        for j in range(len(DRUGS))
        if not mask[i, j]
    ]
    response = pd.DataFrame(rows, columns=["cell_line", "drug", "ln_ic50"])

    # ---- truth: each patient's best drug, standardised against the reference's true responses ----
    true_pat = _true_response(plog, genes, llog)
    z = (true_pat - true_lines.mean(0)) / true_lines.std(0).clip(1e-9)
    signal = np.array([d[3] is not None for d in DRUGS])
    z[:, ~signal] = np.inf
    best = [DRUGS[j][0] for j in z.argmin(1)]

    # ---- clinical ----
    age = np.clip(rng.normal(62, 10, spec.n_patients), 30, 90).round()
    stage = rng.choice(["I", "II", "III", "IV"], size=spec.n_patients, p=[0.2, 0.3, 0.3, 0.2])
    stage_num = pd.Series(stage).map({"I": 0, "II": 1, "III": 2, "IV": 3}).to_numpy()
    treatment = _allocate(rng, plat["driver"], spec)
    matched = np.array(
        [
            (t == "Erlotinib" and d == "EGFR") or (t == "Lapatinib" and d == "ERBB2")
            for t, d in zip(treatment, plat["driver"], strict=True)
        ]
    )
    m1 = plat["factors"][:, 0]
    lin = 0.8 * m1 + 0.35 * stage_num + 0.02 * (age - 62) + spec.matched_log_hr * matched
    hazard = spec.baseline_hazard * np.exp(lin)
    event_time = rng.exponential(1 / hazard)
    censor_time = rng.uniform(*spec.follow_up, size=spec.n_patients)
    time = np.minimum(event_time, censor_time)
    event = (event_time <= censor_time).astype(int)
    p_resp = 1 / (1 + np.exp(-(-0.6 + 2.2 * matched - 0.6 * m1)))
    response_bin = (rng.random(spec.n_patients) < p_resp).astype(int)
    clinical = pd.DataFrame(
        {
            "patient_id": patients,
            "os_months": np.round(np.maximum(time, 0.1), 2),
            "os_event": event,
            "age": age.astype(int),
            "stage": stage,
            "treatment": treatment,
            "response": response_bin,
        }
    )

    drugs = pd.DataFrame(
        [(d[0], d[1], d[2]) for d in DRUGS], columns=["drug", "targets", "pathway"]
    )
    truth_modules = pd.DataFrame(
        [(g, m) for m, gs in design["modules"].items() for g in gs], columns=["gene", "module"]
    )
    truth_biomarkers = pd.DataFrame(
        [(d[0], d[3] or "", d[4], d[5]) for d in DRUGS],
        columns=["drug", "biomarker", "effect_per_sd", "driver"],
    )
    truth_patients = pd.DataFrame(
        {
            "patient_id": patients,
            "subtype": [f"S{s + 1}" for s in plat["subtype"]],
            "driver": plat["driver"],
            "best_drug": best,
            "best_drug_z": np.round(z.min(1), 3),
            "m1_factor": np.round(m1, 4),
        }
    )
    truth_subtype_genes = pd.DataFrame(
        [(g, s) for s, gs in design["subtypes"].items() for g in gs], columns=["gene", "subtype"]
    )
    mutations = _mutations(patients, plat["driver"], spec)
    return {
        "demo/expression.tsv.gz": expression,
        "demo/clinical.tsv": clinical,
        "demo/reference_expression.tsv.gz": ref_expression,
        "demo/reference_response.tsv": response,
        "demo/cell_lines.tsv": cell_lines,
        "demo/cell_line_features.tsv": features,
        "reference/drugs.tsv": drugs,
        "demo/truth/modules.tsv": truth_modules,
        "demo/truth/biomarkers.tsv": truth_biomarkers,
        "demo/truth/patients.tsv": truth_patients,
        "demo/truth/subtype_genes.tsv": truth_subtype_genes,
        "demo/mutations.maf": mutations,
    }


#: the protein change planted for each driver (the commonest hotspot of each gene)
HOTSPOTS = {"EGFR": "p.L858R", "ERBB2": "p.S310F", "BRAF": "p.V600E", "ALK": "p.F1174L",
            "CDK4": "p.R24C", "PIK3CA": "p.H1047R"}  # fmt: skip


def _lineage_programmes(ref_expression: pd.DataFrame, tissue: np.ndarray, spec: DemoSpec) -> None:
    """Cell lines keep their lineage's expression: each tissue raises its own 50 filler genes by
    1 log2 unit in its lines (real lines cluster by lineage: on GDSC2 a line's nearest line shares
    its tissue 67% of the time). Its own random stream; the drug responses do not depend on it."""
    rng = np.random.default_rng([spec.seed, 31])
    fillers = [g for g in ref_expression.index if g.startswith("GENE")]
    for t in TISSUES:
        genes = rng.choice(fillers, size=min(50, len(fillers)), replace=False)
        cols = ref_expression.columns[tissue == t]
        ref_expression.loc[genes, cols] += 1.0


def _mutations(patients: list[str], driver: np.ndarray, spec: DemoSpec) -> pd.DataFrame:
    """A MAF of the cohort: 80% of the driver-positive patients carry a missense hotspot in their
    driver, some carry TP53 mutations (not a reference feature) or silent variants, and 10% were
    not sequenced. Its own random stream, so the other demo files do not change with it."""
    rng = np.random.default_rng([spec.seed, 21])
    rows = []
    for pid, gene in zip(patients, driver, strict=True):
        if rng.random() < 0.1:
            continue  # not sequenced: absent from the MAF, so not assessed
        if gene and rng.random() < 0.8:
            rows.append((gene, pid, "Missense_Mutation", HOTSPOTS[gene]))
        if rng.random() < 0.3:
            rows.append(("TP53", pid, "Nonsense_Mutation", "p.R213*"))
        rows.append(("TTN", pid, "Silent", "p.G100G"))  # every sequenced patient is listed
    return pd.DataFrame(
        rows,
        columns=["Hugo_Symbol", "Tumor_Sample_Barcode", "Variant_Classification", "HGVSp_Short"],
    )


def write_demo(outdir: str | Path, spec: DemoSpec = DemoSpec()) -> dict[str, Path]:
    """Write the demo tables under ``outdir`` (e.g. ``resources``); returns the written paths."""
    outdir = Path(outdir)
    written = {}
    for rel, frame in generate(spec).items():
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_index = frame.index.name in ("gene_id", "cell_line")
        # mtime=0 keeps gzip output byte-identical between runs
        compression = {"method": "gzip", "mtime": 0} if rel.endswith(".gz") else None
        if rel.endswith(".maf"):  # MAF files open with their version line
            path.write_text("#version 2.4\n" + frame.to_csv(sep="\t", index=False))
        else:
            frame.to_csv(path, sep="\t", index=keep_index, compression=compression)
        written[rel] = path
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="resources")
    parser.add_argument("--seed", type=int, default=DemoSpec.seed)
    parser.add_argument("--patients", type=int, default=DemoSpec.n_patients)
    parser.add_argument("--genes", type=int, default=DemoSpec.n_genes)
    parser.add_argument("--lines", type=int, default=DemoSpec.n_lines)
    args = parser.parse_args(argv)
    spec = DemoSpec(
        seed=args.seed, n_patients=args.patients, n_genes=args.genes, n_lines=args.lines
    )
    for path in write_demo(args.outdir, spec).values():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
