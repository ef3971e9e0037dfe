"""Seeded single-cell variant of the demo cohort: one ``.h5ad`` per demo patient, plus a samples sheet.

Built from :func:`rxrank.demo.generate` (the demo itself is unchanged): each patient's cells are of
four types. Tumour cells carry the patient's bulk profile (counts drawn from the proportions of the
patient's demo counts, so subtypes, modules and drivers survive); T cells, fibroblasts and
macrophages carry a cell-type signature (the cohort's mean profile with 25 marker genes up 5-fold).
The tumour fraction of each patient (50-90%) is planted and written to ``truth_composition.tsv``.
Composition confounds the pseudobulk as in real tumours: with these defaults Leiden on the
pseudobulk recovers the planted subtypes with ARI 0.47 (0.26-0.47 over six seeds of this variant;
1.0 on the bulk demo).

Raw counts are in ``.X`` (sparse, float32 as scanpy writes them), labels in ``obs['cell_type']``.
The clinical table and the reference are the bulk demo's (``resources/demo``); only the first 80 of
its patients get cells, to keep the variant small (the others then have clinical data only).

Run ``python -m rxrank.demo_singlecell OUTDIR`` (80 files, about 13 MB, in 7 s).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .demo import DemoSpec, generate

__all__ = ["CELL_TYPES", "SingleCellSpec", "generate_single_cell", "write_single_cell_demo"]

CELL_TYPES = ["tumour", "T_cell", "fibroblast", "macrophage"]


@dataclass(frozen=True)
class SingleCellSpec:
    """Sizes of the single-cell variant (per patient)."""

    min_cells: int = 100
    max_cells: int = 300
    umis_per_cell: int = 150
    tumour_fraction: tuple[float, float] = (0.5, 0.9)
    marker_fold: float = 5.0
    marker_genes: int = 25
    n_patients: int | None = 80  # the first N demo patients (the rest have clinical data only)
    seed: int = 11


def _signatures(
    rng: np.random.Generator,
    genes: pd.Index,
    mean_profile: np.ndarray,
    free: list[str],
    n: int,
    fold: float,
) -> dict[str, np.ndarray]:
    """Proportions per non-tumour cell type: the mean profile with its own markers up ``fold``."""
    chosen = rng.choice(free, size=n * (len(CELL_TYPES) - 1), replace=False)
    out = {}
    for k, cell_type in enumerate(CELL_TYPES[1:]):
        profile = mean_profile * rng.lognormal(0, 0.5, size=len(genes))
        markers = genes.get_indexer(chosen[k * n : (k + 1) * n])
        profile[markers] *= fold
        out[cell_type] = profile / profile.sum()
    return out


def generate_single_cell(
    spec: DemoSpec | None = None,
    sc_spec: SingleCellSpec | None = None,
    tables: dict | None = None,
) -> tuple[dict[str, ad.AnnData], pd.DataFrame]:
    """Per-patient AnnData (cells x genes) and the planted composition (patient x cell type).

    ``tables``: the output of :func:`rxrank.demo.generate` for ``spec`` (computed if omitted).
    """
    spec, sc_spec = spec or DemoSpec(), sc_spec or SingleCellSpec()
    tables = generate(spec) if tables is None else tables
    bulk = tables["demo/expression.tsv.gz"].iloc[:, : sc_spec.n_patients]  # genes x patients
    genes = pd.Index(bulk.index.astype(str))
    truth = set(tables["demo/truth/modules.tsv"]["gene"])
    truth |= set(tables["demo/truth/subtype_genes.tsv"]["gene"])
    free = sorted(g for g in genes if g.startswith("GENE") and g not in truth)
    rng = np.random.default_rng(sc_spec.seed)
    props = bulk.to_numpy(dtype=np.float64)
    props = (props + 0.5) / (props + 0.5).sum(axis=0, keepdims=True)
    signatures = _signatures(
        rng, genes, props.mean(axis=1), free, sc_spec.marker_genes, sc_spec.marker_fold
    )
    cells, planted = {}, []
    for j, patient in enumerate(bulk.columns):
        n = int(rng.integers(sc_spec.min_cells, sc_spec.max_cells + 1))
        tumour = rng.uniform(*sc_spec.tumour_fraction)
        rest = rng.dirichlet([2.0, 2.0, 2.0]) * (1 - tumour)
        n_type = rng.multinomial(n, np.r_[tumour, rest])
        labels = np.repeat(CELL_TYPES, n_type)
        profile = np.stack([props[:, j] if t == "tumour" else signatures[t] for t in CELL_TYPES])[
            np.repeat(np.arange(len(CELL_TYPES)), n_type)
        ]
        size = rng.lognormal(np.log(sc_spec.umis_per_cell), 0.3, size=n)
        counts = sp.csr_matrix(rng.poisson(profile * size[:, None]).astype(np.float32))
        adata = ad.AnnData(
            X=counts,
            obs=pd.DataFrame(
                {"cell_type": pd.Categorical(labels, categories=CELL_TYPES)},
                index=[f"{patient}_c{i:04d}" for i in range(n)],
            ),
            var=pd.DataFrame(index=genes),
        )
        cells[patient] = adata
        for t, k in zip(CELL_TYPES, n_type, strict=True):
            planted.append((patient, t, int(k), k / n))
    truth_table = pd.DataFrame(planted, columns=["patient_id", "cell_type", "n_cells", "fraction"])
    return cells, truth_table


def write_single_cell_demo(
    outdir: str | Path, spec: DemoSpec | None = None, sc_spec: SingleCellSpec | None = None
) -> dict[str, Path]:
    """Write ``OUTDIR/<patient>.h5ad``, ``samples.tsv`` (relative paths) and the planted truth."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cells, truth = generate_single_cell(spec, sc_spec)
    written = {}
    for patient, adata in cells.items():
        path = outdir / f"{patient}.h5ad"
        adata.write_h5ad(path, compression="gzip")
        written[patient] = path
    sheet = pd.DataFrame({"patient_id": list(cells), "h5ad": [f"{p}.h5ad" for p in cells]})
    written["samples"] = outdir / "samples.tsv"
    sheet.to_csv(written["samples"], sep="\t", index=False)
    written["truth"] = outdir / "truth_composition.tsv"
    truth.to_csv(written["truth"], sep="\t", index=False, float_format="%.6g")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--seed", type=int, default=SingleCellSpec.seed)
    parser.add_argument("--min-cells", type=int, default=SingleCellSpec.min_cells)
    parser.add_argument("--max-cells", type=int, default=SingleCellSpec.max_cells)
    parser.add_argument("--umis", type=int, default=SingleCellSpec.umis_per_cell)
    parser.add_argument("--patients", type=int, default=SingleCellSpec.n_patients)
    args = parser.parse_args(argv)
    sc_spec = SingleCellSpec(
        min_cells=args.min_cells,
        max_cells=args.max_cells,
        umis_per_cell=args.umis,
        n_patients=args.patients,
        seed=args.seed,
    )
    written = write_single_cell_demo(args.outdir, sc_spec=sc_spec)
    print(f"wrote {len(written) - 2} .h5ad files, {written['samples']} and {written['truth']}")


if __name__ == "__main__":
    main()
