"""Seeded synthetic data: lines (or patients) x genes expression and drug responses with holes.

Expression is drawn in float32 (a few shared factors, so genes are correlated as real co-expression
is, plus gene-specific means and spreads on a log scale); callers convert to float64 where a peer
needs it. Each drug's response is driven by a few genes plus noise, on the ln IC50 scale of GDSC
(centre ~2.5, spread ~2), with a given fraction of line-drug pairs missing completely at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "SHAPES",
    "Planted",
    "Screen",
    "expression",
    "planted_modules",
    "screen",
    "write_workflow_inputs",
]

#: (patients, genes, lines, drugs) of real runs (issue 22): a TCGA-sized cohort against GDSC2 or PRISM
SHAPES = {
    "small": (60, 300, 40, 12),
    "tcga-gdsc2": (11_000, 20_000, 1_000, 300),
    "tcga-prism": (11_000, 20_000, 1_000, 1_400),
}


def expression(n_samples: int, n_genes: int, *, seed: int = 0, n_factors: int = 10) -> np.ndarray:
    """Samples x genes float32 log-expression: ``mean + sd * (factors @ loadings + noise)``."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n_samples, n_factors), dtype=np.float32)
    loadings = rng.standard_normal((n_factors, n_genes), dtype=np.float32)
    loadings *= rng.uniform(0.0, 0.5, n_genes).astype(np.float32)  # genes differ in how shared
    x = rng.standard_normal((n_samples, n_genes), dtype=np.float32)
    x += factors @ loadings
    x *= rng.uniform(0.1, 0.5, n_genes).astype(np.float32)  # log-scale spreads across lines
    x += rng.uniform(0.0, 10.0, n_genes).astype(np.float32)
    return x


@dataclass
class Screen:
    """A synthetic drug screen: ``X`` lines x genes (float32), ``Y`` lines x drugs (NaN = missing)."""

    X: np.ndarray
    Y: np.ndarray
    drivers: np.ndarray  # drugs x n_drivers gene indices
    weights: np.ndarray  # drugs x n_drivers effect sizes (per SD of the gene)


def screen(
    n_lines: int,
    n_genes: int,
    n_drugs: int,
    *,
    missing: float = 0.2,
    n_drivers: int = 5,
    noise: float = 0.5,
    seed: int = 0,
) -> Screen:
    """Lines x genes expression and lines x drugs responses, ``missing`` of the pairs set to NaN.

    Every drug keeps at least 3 measured lines (what a ridge fit needs); with ``missing`` well below
    1 that never binds. Gene spreads and noise are set so that leave-one-out picks penalties across
    the inside of ``np.logspace(-1, 4, 10)`` at 17,000 genes, not only its edge, which makes the
    equality check of the chosen alphas a real test.
    """
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be in [0, 1), got {missing}")
    X = expression(n_lines, n_genes, seed=seed)
    rng = np.random.default_rng([seed, 1])
    n_drivers = min(n_drivers, n_genes)
    drivers = np.stack([rng.choice(n_genes, n_drivers, replace=False) for _ in range(n_drugs)])
    weights = rng.normal(0.0, 1.0, (n_drugs, n_drivers))
    Y = np.empty((n_lines, n_drugs))
    for j in range(n_drugs):
        xd = X[:, drivers[j]].astype(np.float64)
        xd = (xd - xd.mean(0)) / xd.std(0)
        Y[:, j] = xd @ weights[j]
    Y += noise * rng.standard_normal(Y.shape)
    Y = 2.5 + 2.0 * (Y - Y.mean(0)) / Y.std(0)
    holes = rng.random(Y.shape) < missing
    for j in range(n_drugs):  # keep at least 3 measured lines per drug
        kept = np.flatnonzero(~holes[:, j])
        if kept.size < 3:
            holes[rng.choice(n_lines, 3, replace=False), j] = False
    Y[holes] = np.nan
    return Screen(X=X, Y=Y, drivers=drivers, weights=weights)


@dataclass
class Planted:
    """Samples x genes expression with planted co-expression modules.

    ``modules`` maps gene -> planted module (``grey``: no module); ``hubs`` maps module -> its hub
    genes (the most strongly loaded); ``factors`` holds each module's driving factor (samples x
    modules), the eigengene a method should recover.
    """

    X: np.ndarray
    genes: pd.Index
    modules: pd.Series
    hubs: dict[str, list[str]]
    factors: pd.DataFrame


def planted_modules(
    n_samples: int,
    n_genes: int,
    n_modules: int,
    *,
    grey_fraction: float = 0.3,
    loading: tuple[float, float] = (0.4, 0.8),
    hub_loading: tuple[float, ...] = (0.97, 0.95, 0.93),
    factor_r: float = 0.0,
    seed: int = 0,
) -> Planted:
    """Seeded planted-module expression: each module gene is ``a * factor + sqrt(1 - a^2) * noise``.

    Module sizes vary (up to 3x between modules); loadings ``a`` are uniform in ``loading`` except
    for each module's hubs, loaded ``hub_loading``, so that the hubs are the genes a method's kME
    should rank first. ``factor_r`` correlates the factors of module pairs (1-2, 3-4, ...), which
    makes them harder to tell apart (and tests merging). Grey genes are pure noise. Genes get log-scale means (2-10) and spreads
    (0.2-1), and are shuffled, so module members are not adjacent columns.
    """
    rng = np.random.default_rng(seed)
    n_grey = int(round(grey_fraction * n_genes))
    weights = rng.uniform(1.0, 3.0, n_modules)
    sizes = np.floor(weights / weights.sum() * (n_genes - n_grey)).astype(int)
    sizes[: (n_genes - n_grey) - sizes.sum()] += 1
    factors = rng.standard_normal((n_samples, n_modules))
    if factor_r:  # modules 2, 4, ... driven by factors correlated ~factor_r with 1, 3, ...
        odd = np.arange(1, n_modules, 2)
        factors[:, odd] = (
            factor_r * factors[:, odd - 1] + np.sqrt(1 - factor_r**2) * factors[:, odd]
        )
    factors = (factors - factors.mean(0)) / factors.std(0)
    x = rng.standard_normal((n_samples, n_genes))
    labels = np.array(["grey"] * n_genes, dtype=object)
    hubs_idx: dict[str, list[int]] = {}
    start = 0
    for m, size in enumerate(sizes):
        name = f"P{m + 1}"
        a = rng.uniform(*loading, size)
        a[: len(hub_loading)] = hub_loading
        cols = np.arange(start, start + size)
        x[:, cols] = factors[:, [m]] * a + np.sqrt(1.0 - a * a) * x[:, cols]
        labels[cols] = name
        hubs_idx[name] = list(cols[: len(hub_loading)])
        start += size
    x = x * rng.uniform(0.2, 1.0, n_genes) + rng.uniform(2.0, 10.0, n_genes)
    perm = rng.permutation(n_genes)  # column j of the output is planted gene perm[j]
    genes = pd.Index([f"G{i:05d}" for i in range(n_genes)], name="gene")
    where = np.empty(n_genes, dtype=int)
    where[perm] = np.arange(n_genes)
    modules = pd.Series(labels[perm], index=genes, name="module")
    hubs = {m: [str(genes[where[i]]) for i in idx] for m, idx in hubs_idx.items()}
    samples = pd.Index([f"S{i:04d}" for i in range(n_samples)], name="sample")
    fac = pd.DataFrame(factors, index=samples, columns=[f"P{m + 1}" for m in range(n_modules)])
    return Planted(X=x[:, perm], genes=genes, modules=modules, hubs=hubs, factors=fac)


def write_workflow_inputs(
    outdir,
    *,
    patients: int,
    genes: int,
    lines: int,
    drugs: int,
    missing: float = 0.18,
    tissues: int = 20,
    seed: int = 0,
):
    """Every input of a workflow run at a given shape, and its config; returns the config's path.

    Cohort and reference expression are ``.h5ad`` (samples x genes, float32 log values: a
    TCGA-sized matrix as text would take longer to write than the workflow to read it); the
    screen is a long table with ``missing`` of the pairs absent; lines are spread over
    ``tissues`` tissues; each drug targets one of its driver genes. Pseudonymisation is off (no key
    needed to run a benchmark).
    """
    from pathlib import Path

    import anndata as ad
    import yaml

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    gene_ids = [f"GENE{i:05d}" for i in range(genes)]
    sc = screen(lines, genes, drugs, missing=missing, seed=seed)
    line_ids = [f"CL{i:05d}" for i in range(lines)]
    drug_ids = [f"DRUG{j:04d}" for j in range(drugs)]
    ref = ad.AnnData(X=sc.X, obs=pd.DataFrame(index=line_ids), var=pd.DataFrame(index=gene_ids))
    ref.write_h5ad(outdir / "reference.h5ad")
    cohort = expression(patients, genes, seed=seed + 1)
    patient_ids = [f"P{i:05d}" for i in range(patients)]
    obs = pd.DataFrame(index=patient_ids)
    ad.AnnData(X=cohort, obs=obs, var=pd.DataFrame(index=gene_ids)).write_h5ad(
        outdir / "cohort.h5ad"
    )
    del cohort
    measured = np.isfinite(sc.Y)
    li, dj = np.nonzero(measured)
    pd.DataFrame(
        {"cell_line": np.asarray(line_ids)[li], "drug": np.asarray(drug_ids)[dj],
         "ln_ic50": np.round(sc.Y[li, dj], 4)}
    ).to_csv(outdir / "response.tsv", sep="\t", index=False)  # fmt: skip
    rng = np.random.default_rng([seed, 2])
    pd.DataFrame(
        {"cell_line": line_ids, "tissue": rng.choice([f"tissue{t:02d}" for t in range(tissues)],
                                                     lines)}
    ).to_csv(outdir / "cell_lines.tsv", sep="\t", index=False)  # fmt: skip
    pd.DataFrame(
        {"drug": drug_ids, "targets": [gene_ids[sc.drivers[j, 0]] for j in range(drugs)],
         "pathway": [f"pathway {j % 12}" for j in range(drugs)]}
    ).to_csv(outdir / "drugs.tsv", sep="\t", index=False)  # fmt: skip
    stage = rng.choice(["I", "II", "III", "IV"], patients)
    pd.DataFrame(
        {"patient_id": patient_ids,
         "os_months": np.round(rng.exponential(40.0, patients) + 0.1, 2),
         "os_event": (rng.random(patients) < 0.6).astype(int),
         "age": rng.integers(30, 90, patients), "stage": stage}
    ).to_csv(outdir / "clinical.tsv", sep="\t", index=False)  # fmt: skip
    config = {
        "cohort_name": f"synthetic {patients} x {genes}",
        "outdir": str(outdir / "results"),
        "cohort": {"expression": str(outdir / "cohort.h5ad"), "expression_type": "log",
                   "clinical": str(outdir / "clinical.tsv"), "covariates": ["age", "stage"]},
        "reference": {"expression": str(outdir / "reference.h5ad"),
                      "response": str(outdir / "response.tsv"),
                      "cell_lines": str(outdir / "cell_lines.tsv"),
                      "drugs": str(outdir / "drugs.tsv")},
        "privacy": {"pseudonymize": False},
    }  # fmt: skip
    path = outdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.synth OUT [--shape small|tcga-gdsc2|tcga-prism]``: write the inputs."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("outdir")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_p, n_g, n_l, n_d = SHAPES[args.shape]
    path = write_workflow_inputs(
        args.outdir, patients=n_p, genes=n_g, lines=n_l, drugs=n_d, seed=args.seed
    )
    print(f"wrote {path}: {n_p} patients x {n_g} genes, {n_l} lines x {n_d} drugs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
