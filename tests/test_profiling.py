"""Profiling: planted subtypes recovered, QC and target z-scores in the documented slots."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from rxrank import io, profiling


@pytest.fixture(scope="module")
def profiled(demo_dir):
    adata = io.read_expression(demo_dir / "expression.tsv.gz", expression_type="counts")
    clinical = io.read_clinical(demo_dir / "clinical.tsv")
    return profiling.profile(adata, clinical.iloc[:198], expression_type="counts")


def test_planted_subtypes_recovered(profiled, truth):
    planted = truth["patients"].loc[profiled.obs_names, "subtype"]
    ari = adjusted_rand_score(planted, profiled.obs["subtype"])
    assert ari > 0.9, ari  # measured 1.0 at commit
    assert profiled.uns["rxrank"]["subtypes"]["resolution"] is not None


def test_slots_and_provenance(profiled):
    assert profiled.n_obs == 198  # only patients with clinical data
    assert "counts" in profiled.layers
    assert {"X_pca", "X_umap"} <= set(profiled.obsm)
    assert {"total_counts", "n_genes", "qc_outlier", "subtype", "os_months"} <= set(profiled.obs)
    assert profiled.uns["rxrank"]["profiling"]["patients_without_clinical"] == ["P199", "P200"]
    np.testing.assert_allclose(np.expm1(profiled.X).sum(1), 1e6, rtol=1e-3)


def test_markers_are_planted_subtype_genes(profiled, demo_dir, truth):
    import pandas as pd

    markers = profiling.markers(profiled, n_genes=20)
    planted = pd.read_csv(demo_dir / "truth" / "subtype_genes.tsv", sep="\t")
    assert markers["gene"].isin(planted["gene"]).mean() > 0.9
    # each recovered subtype's top 20 are its planted subtype's genes (measured 20 of 20 for all 3)
    subtypes = truth["patients"].loc[profiled.obs_names, "subtype"]
    for found, top in markers.groupby("subtype"):
        match = subtypes[(profiled.obs["subtype"] == found).to_numpy()].mode()[0]
        genes = set(planted.loc[planted["subtype"] == match, "gene"])
        assert len(top) == 20 and top["gene"].isin(genes).sum() >= 18, (found, match)


def test_target_zscores(profiled, demo_dir):
    drugs = io.read_drugs(demo_dir.parent / "reference" / "drugs.tsv")
    z = profiling.target_zscores(profiled, drugs)
    assert {"EGFR", "ERBB2", "BRAF"} <= set(z.columns)
    np.testing.assert_allclose(z.mean(), 0, atol=1e-6)


def test_no_shared_patients_is_clear(demo_dir):
    adata = io.read_expression(demo_dir / "expression.tsv.gz", expression_type="counts")
    clinical = io.read_clinical(demo_dir / "clinical.tsv")
    clinical.index = clinical.index.str.lower()
    with pytest.raises(io.RxrankInputError, match="no patient ID is shared"):
        profiling.profile(adata, clinical, expression_type="counts")
