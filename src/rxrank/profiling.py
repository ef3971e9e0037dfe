"""Expression profiling of the patient cohort on AnnData: QC, normalisation, subtypes, markers.

Follows scanpy's conventions: the AnnData is the one positional argument, results go to documented
slots and the parameters used are recorded in ``.uns["rxrank"]["profiling"]``.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from sklearn.metrics import silhouette_score

from .io import RxrankInputError, target_genes

__all__ = ["markers", "normalise", "profile", "qc_metrics", "subtypes", "target_zscores"]

log = logging.getLogger(__name__)


def qc_metrics(adata: ad.AnnData, *, nmads: float = 5.0) -> None:
    """Add library size, detected genes and a MAD-based outlier flag to ``.obs``."""
    X = np.asarray(adata.X)
    adata.obs["total_counts"] = X.sum(1)
    adata.obs["n_genes"] = (X > 0).sum(1)
    flag = np.zeros(adata.n_obs, dtype=bool)
    for col in ("total_counts", "n_genes"):
        v = np.log1p(adata.obs[col].to_numpy(float))
        med = np.median(v)
        mad = np.median(np.abs(v - med)) * 1.4826
        if mad > 0:
            flag |= np.abs(v - med) > nmads * mad
    adata.obs["qc_outlier"] = flag
    if flag.any():
        log.warning(
            "%d sample(s) flagged as QC outliers: %s", flag.sum(), list(adata.obs_names[flag])
        )


def normalise(adata: ad.AnnData, *, expression_type: str, target_sum: float = 1e6) -> None:
    """Bring ``.X`` to log scale: CPM + log1p for counts, log1p for TPM, unchanged for log data."""
    if expression_type == "counts":
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
    elif expression_type == "tpm":
        sc.pp.log1p(adata)
    adata.X = np.asarray(adata.X, dtype=np.float32)


def subtypes(
    adata: ad.AnnData,
    *,
    resolutions: tuple[float, ...] = (0.2, 0.3, 0.5, 0.8, 1.0),
    min_size: int = 5,
    seed: int = 0,
) -> None:
    """Leiden subtypes with the resolution of best silhouette on the PCA space (recorded in .uns)."""
    rep = adata.obsm["X_pca"]
    table = []
    best = None
    for res in resolutions:
        key = f"_leiden_{res}"
        sc.tl.leiden(
            adata,
            resolution=res,
            key_added=key,
            random_state=seed,
            flavor="igraph",
            n_iterations=2,
            directed=False,
        )
        labels = adata.obs.pop(key).to_numpy()
        sizes = pd.Series(labels).value_counts()
        k = len(sizes)
        score = silhouette_score(rep, labels) if 1 < k < adata.n_obs else -1.0
        ok = k > 1 and sizes.min() >= min_size
        table.append({"resolution": res, "n_subtypes": k, "silhouette": float(score), "valid": ok})
        if ok and (best is None or score > best[1]):
            best = (res, score, labels)
    if best is None:
        labels = np.zeros(adata.n_obs, dtype=int).astype(str)
        best = (None, float("nan"), labels)
        log.warning("no resolution gave >1 subtype of size >= %d; all patients in S1", min_size)
    order = pd.Series(best[2]).value_counts().index
    names = {old: f"S{i + 1}" for i, old in enumerate(order)}
    adata.obs["subtype"] = pd.Categorical(
        [names[v] for v in best[2]], categories=[names[v] for v in order]
    )
    adata.uns.setdefault("rxrank", {})["subtypes"] = {
        "resolution": best[0],
        "silhouette": best[1],
        "search": pd.DataFrame(table).to_dict(orient="list"),
    }


def markers(adata: ad.AnnData, *, n_genes: int = 50) -> pd.DataFrame:
    """Marker genes per subtype (Wilcoxon, scanpy) as a tidy table."""
    if adata.obs["subtype"].nunique() < 2:
        return pd.DataFrame(columns=["subtype", "gene", "score", "logfc", "pval_adj"])
    sc.tl.rank_genes_groups(adata, "subtype", method="wilcoxon", n_genes=n_genes)
    df = sc.get.rank_genes_groups_df(adata, group=None)
    df = df.rename(
        columns={
            "group": "subtype",
            "names": "gene",
            "scores": "score",
            "logfoldchanges": "logfc",
            "pvals_adj": "pval_adj",
        }
    )
    return df[["subtype", "gene", "score", "logfc", "pval_adj"]]


def target_zscores(adata: ad.AnnData, drugs: pd.DataFrame) -> pd.DataFrame:
    """z-scores (vs the cohort) of every drug-target gene's log expression, patients x genes."""
    genes = sorted({g for t in drugs["targets"] for g in target_genes(t)} & set(adata.var_names))
    X = np.asarray(adata[:, genes].X, dtype=np.float64)
    sd = X.std(0)
    z = np.where(sd > 0, (X - X.mean(0)) / np.where(sd > 0, sd, 1), 0.0)
    out = pd.DataFrame(z, index=adata.obs_names, columns=genes)
    out.index.name = "patient_id"
    return out


def profile(
    adata: ad.AnnData,
    clinical: pd.DataFrame,
    *,
    expression_type: str,
    n_top_genes: int = 1000,
    n_pcs: int = 20,
    n_neighbors: int = 10,
    resolutions: tuple[float, ...] = (0.2, 0.3, 0.5, 0.8, 1.0),
    drop_outliers: bool = False,
    seed: int = 0,
) -> ad.AnnData:
    """Run the whole profiling stage; returns a new AnnData of patients with clinical data."""
    shared = adata.obs_names.intersection(clinical.index)
    if len(shared) == 0:
        raise RxrankInputError(
            "no patient ID is shared by the expression and clinical tables; e.g. expression has "
            f"{list(adata.obs_names[:3])}, clinical has {list(clinical.index[:3])}. "
            "Make the IDs match (same spelling and case)."
        )
    only_expr = adata.obs_names.difference(clinical.index)
    only_clin = clinical.index.difference(adata.obs_names)
    if len(only_expr) or len(only_clin):
        log.warning(
            "%d patient(s) without clinical data and %d without expression are left out",
            len(only_expr),
            len(only_clin),
        )
    adata = adata[shared].copy()
    adata.obs = adata.obs.join(clinical)
    if expression_type == "counts":
        qc_metrics(adata)
    else:
        adata.obs["qc_outlier"] = False
    if drop_outliers and adata.obs["qc_outlier"].any():
        adata = adata[~adata.obs["qc_outlier"].to_numpy()].copy()
    normalise(adata, expression_type=expression_type)
    n_top = min(n_top_genes, adata.n_vars)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat")
    n_comps = int(min(n_pcs, adata.n_obs - 1, n_top - 1))
    sc.pp.pca(adata, n_comps=n_comps, mask_var="highly_variable", random_state=seed)
    sc.pp.neighbors(
        adata,
        n_neighbors=min(n_neighbors, adata.n_obs - 1),
        use_rep="X_pca",
        transformer="sklearn",
        random_state=seed,
    )
    subtypes(adata, resolutions=resolutions, seed=seed)
    sc.tl.umap(adata, random_state=seed)
    adata.uns.setdefault("rxrank", {})["profiling"] = {
        "expression_type": expression_type,
        "n_top_genes": n_top,
        "n_pcs": n_comps,
        "n_neighbors": n_neighbors,
        "drop_outliers": drop_outliers,
        "seed": seed,
        "patients_without_clinical": list(map(str, only_expr)),
        "patients_without_expression": list(map(str, only_clin)),
    }
    return adata
