"""Tests of rxrank.associations: module-trait, gene-drug and binary-feature tests, the stage
(after the modules stage, through its files as the workflow runs them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rxrank import associations as A
from rxrank.coexpression import bh, run_modules
from rxrank.io import RxrankInputError, read_clinical, read_expression, read_response

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
TRUTH = DEMO / "truth"


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def reference():
    ref = read_expression(DEMO / "reference_expression.tsv.gz", expression_type="log")
    return ref.to_df(), read_response(DEMO / "reference_response.tsv")


# ---------------------------------------------------------------------------------- module traits


def test_module_traits_pairwise_complete_and_bh(modules_signed):
    eig = modules_signed.eigengenes
    rng = np.random.default_rng(8)
    traits = pd.DataFrame(
        {
            "a": eig["M1"] + rng.normal(size=len(eig)),
            "b": rng.normal(size=len(eig)),
            "label": ["x"] * len(eig),  # non-numeric: skipped
            "const": 1.0,  # no variation: skipped
        },
        index=eig.index,
    )
    traits.loc[traits.index[:13], "a"] = np.nan
    traits.loc[traits.index[20:25], "b"] = np.nan
    mt = A.module_traits(eig, traits)
    assert list(mt.columns) == ["module", "trait", "r", "p", "q"]
    assert set(mt["trait"]) == {"a", "b"}
    assert len(mt) == 2 * eig.shape[1]
    np.testing.assert_allclose(mt["q"], stats.false_discovery_control(mt["p"]), rtol=1e-12)
    np.testing.assert_allclose(mt["q"], bh(mt["p"]))
    for _, row in mt.iterrows():
        ok = traits[row.trait].notna()
        ref = stats.pearsonr(eig.loc[ok, row.module], traits.loc[ok, row.trait])
        assert row.r == pytest.approx(ref.statistic, abs=1e-10)
        assert row.p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    top = mt.loc[mt.trait == "a"].sort_values("p").iloc[0]
    assert top.module == "M1"


def test_build_traits():
    clinical = read_clinical(DEMO / "clinical.tsv")
    preds = pd.DataFrame(
        {"patient_id": ["P001", "P002"], "drug": ["Erlotinib"] * 2, "predicted": [1.0, 2.0]}
    )
    traits = A.build_traits(clinical, preds)
    assert traits.index.name == "patient_id"
    for col in ["os_months", "os_event", "age", "stage:IV", "treatment:Erlotinib"]:
        assert col in traits
    assert traits["sensitivity:Erlotinib"].notna().sum() == 2
    assert set(traits["stage:IV"].unique()) <= {0.0, 1.0}


# ------------------------------------------------------------------------------------- gene-drug


def test_gene_drug_finds_planted_biomarkers(reference):
    expr, response = reference
    table = A.gene_drug_associations(expr, response, top=50)
    assert list(table.columns) == ["drug", "gene", "r", "p", "q", "n_lines", "rank"]
    assert (table.groupby("drug")["rank"].max() == 50).all()
    truth = pd.read_csv(TRUTH / "biomarkers.tsv", sep="\t").fillna({"biomarker": ""})
    signal = truth[truth["biomarker"] != ""]
    assert len(signal) == 14
    hits = 0
    for drug, marker in zip(signal["drug"], signal["biomarker"], strict=True):
        top10 = table.loc[(table.drug == drug) & (table["rank"] <= 10), "gene"]
        hits += marker in set(top10)
    assert hits >= 12  # measured: 14 of 14, all at rank 1


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_gene_drug_matches_brute_force(reference, method):
    expr, response = reference
    r, p, n = A.gene_drug_matrix(expr, response, method=method)
    wide = response.pivot(index="cell_line", columns="drug", values="value")
    genes = list(expr.columns[:40]) + ["EGFR", "BCL2"]
    brute = stats.pearsonr if method == "pearson" else stats.spearmanr
    for drug in ["Erlotinib", "Venetoclax", "Cisplatin"]:
        y = wide[drug].reindex(expr.index)
        ok = y.notna()
        assert ok.sum() < len(expr)  # the demo has missing responses for every drug
        assert n[drug] == ok.sum()
        for gene in genes:
            ref = brute(expr.loc[ok, gene], y[ok])
            assert r.at[gene, drug] == pytest.approx(ref.statistic, abs=1e-9)
            assert p.at[gene, drug] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)


def test_gene_drug_q_per_drug_and_full_matrix(reference):
    expr, response = reference
    table, r = A.gene_drug_associations(expr, response, top=None, return_matrix=True)
    assert r.shape == (expr.shape[1], response["drug"].nunique())
    for _drug, grp in table.groupby("drug"):
        np.testing.assert_allclose(grp["q"], stats.false_discovery_control(grp["p"]))
        assert (np.diff(grp["r"].abs()) <= 0).all()
        assert list(grp["rank"]) == list(range(1, len(grp) + 1))


def test_gene_drug_full_matrix_npz(reference, tmp_path):
    expr, response = reference
    r, p, n = A.gene_drug_matrix(expr, response)
    A.write_gene_drug_matrix(tmp_path / "m.npz", r, p, n)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert z["r"].shape == r.shape and z["r"].dtype == np.float32
        np.testing.assert_allclose(z["r"], r.to_numpy(), atol=1e-6, equal_nan=True)
        assert list(z["genes"]) == list(r.index) and list(z["drugs"]) == list(r.columns)
        drug = r.columns[0]
        q = stats.false_discovery_control(p[drug].to_numpy())
        np.testing.assert_allclose(z["q"][:, 0], q, rtol=1e-5, atol=1e-30)  # float32
        assert list(z["n_lines"]) == list(n[r.columns])


def test_gene_drug_constant_gene_and_sparse_drug():
    lines = [f"L{i}" for i in range(8)]
    expr = pd.DataFrame(
        {"g1": np.arange(8.0), "flat": 2.0, "g2": [1, 3, 2, 5, 4, 6, 8, 7]}, index=lines
    )
    response = pd.DataFrame(
        {
            "cell_line": lines + lines[:2],
            "drug": ["A"] * 8 + ["B"] * 2,
            "value": list(np.arange(8.0) * 2) + [1.0, 2.0],
        }
    )
    table = A.gene_drug_associations(expr, response, top=None)
    assert set(table["drug"]) == {"A"}  # B has 2 lines only
    a = table.set_index("gene")
    assert a.at["g1", "r"] == pytest.approx(1.0)
    assert a.at["flat", "r"] == 0.0 and a.at["flat", "p"] == pytest.approx(1.0)
    with pytest.raises(RxrankInputError):
        A.gene_drug_associations(expr, response.rename(columns={"value": "ic50"}))


# ------------------------------------------------------------------------------------------ stage


def _demo_cohort(cohort):
    adata = cohort.copy()
    adata.obs = adata.obs.join(read_clinical(DEMO / "clinical.tsv"))
    return adata


def _predictions(adata, drugs=("DrugA", "DrugB")) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    ids = np.repeat(adata.obs_names.astype(str), len(drugs))
    return pd.DataFrame(
        {
            "patient_id": ids,
            "drug": np.tile(drugs, adata.n_obs),
            "predicted": rng.normal(size=ids.size),
        }
    )


def test_run_associations_outputs(cohort, reference):
    expr, response = reference
    adata = _demo_cohort(cohort)
    eig = run_modules(adata, params={"n_genes": 600})["eigengenes.tsv"].set_index("patient_id")
    traits = A.build_traits(adata.obs, _predictions(adata))
    params = {"n_genes": 600, "gene_drug_top": 20}
    out = A.run_associations(eig, traits, expr, response, params=params)
    assert set(out) == {"module_traits.tsv", "gene_drug.tsv", "feature_drug.tsv"}
    assert out["feature_drug.tsv"].empty  # headers only without binary features
    mt = out["module_traits.tsv"]
    assert list(mt.columns) == ["module", "trait", "r", "p", "q"]
    assert {"os_months", "os_event", "age", "sensitivity:DrugA"} <= set(mt["trait"])
    assert set(mt["module"]) == set(eig.columns)
    pd.testing.assert_frame_equal(mt, A.module_traits(eig, traits))
    gd = out["gene_drug.tsv"]
    assert gd.groupby("drug").size().max() == 20
    assert mt.attrs["params"]["gene_drug_top"] == 20
    feats = pd.DataFrame({"f": [1.0, 0.0] * (len(expr) // 2) + [1.0] * (len(expr) % 2)})
    feats.index = expr.index
    with_features = A.run_associations(eig, traits, expr, response, binary_features=feats)
    assert list(with_features["feature_drug.tsv"].columns[:2]) == ["drug", "feature"]


def test_stages_through_files_give_the_module_traits_of_one_process(cohort, reference, tmp_path):
    """``rxrank modules`` then ``rxrank associations``: the module-trait table made through the files
    is the one computed in memory from the eigengenes as written (6 significant digits), and within
    rounding of the one from the unrounded eigengenes."""
    import json

    import anndata as ad

    from rxrank.cli import main as cli
    from rxrank.io import write_tsv

    adata = _demo_cohort(cohort)
    adata.obs = adata.obs.astype(
        {c: str for c in adata.obs.columns if adata.obs[c].dtype == object}
    )
    ad.AnnData(adata.X, obs=adata.obs, var=adata.var).write_h5ad(tmp_path / "cohort.h5ad")
    write_tsv(_predictions(adata), tmp_path / "predictions.tsv")
    write_tsv(reference[1], tmp_path / "response.tsv")  # as the reference stage writes it
    params = json.dumps({"reference": {}, "correlation": {"n_genes": 600}})
    out = tmp_path / "correlation"
    cohort_file = str(tmp_path / "cohort.h5ad")
    assert cli(["modules", f"--params={params}", f"--cohort={cohort_file}", f"--outdir={out}"]) == 0
    assert (out / "eigengenes.tsv").exists()
    assert not (out / "module_traits.tsv").exists()  # the modules stage tests nothing
    argv = [
        "associations", f"--params={params}", f"--cohort={cohort_file}",
        f"--eigengenes={out / 'eigengenes.tsv'}",
        f"--predictions={tmp_path / 'predictions.tsv'}",
        f"--reference-expression={DEMO / 'reference_expression.tsv.gz'}",
        f"--response={tmp_path / 'response.tsv'}", f"--outdir={out}",
    ]  # fmt: skip
    assert cli(argv) == 0
    assert (out / "feature_drug.tsv").read_text().startswith("drug\tfeature\t")

    eig = run_modules(adata, params={"n_genes": 600})["eigengenes.tsv"].set_index("patient_id")
    # the predictions as the associations stage reads them (6 digits, from the sensitivity stage)
    traits = A.build_traits(adata.obs, pd.read_csv(tmp_path / "predictions.tsv", sep="\t"))
    rounded = pd.read_csv(out / "eigengenes.tsv", sep="\t", index_col="patient_id")
    rounded.index = rounded.index.astype(str)
    np.testing.assert_allclose(rounded.to_numpy(), eig.to_numpy(), rtol=1e-5, atol=1e-6)
    write_tsv(A.module_traits(rounded, traits), tmp_path / "in_memory.tsv")
    assert (out / "module_traits.tsv").read_bytes() == (tmp_path / "in_memory.tsv").read_bytes()
    exact = A.module_traits(eig, traits)
    through_files = pd.read_csv(out / "module_traits.tsv", sep="\t")
    np.testing.assert_allclose(through_files["r"], exact["r"], atol=1e-5)


# ---------------------------------------------------------------------------------- binary features


def test_binary_feature_associations_match_t_test():
    rng = np.random.default_rng(23)
    lines = [f"L{i}" for i in range(60)]
    feats = pd.DataFrame(
        {
            "KRAS_mut": (rng.random(60) < 0.3).astype(float),
            "TP53_mut": (rng.random(60) < 0.5).astype(float),
            "rare": np.r_[np.ones(2), np.zeros(58)],  # 2 lines only: left out
        },
        index=lines,
    )
    feats.iloc[5, 1] = np.nan  # not assessed
    resp = []
    for drug, driver in [("drugA", "KRAS_mut"), ("drugB", None)]:
        y = rng.normal(2.5, 1.0, 60)
        if driver:
            y -= 1.5 * feats[driver].to_numpy()
        for line, v in zip(lines, y, strict=True):
            if rng.random() > 0.1:
                resp.append((line, drug, v))
    response = pd.DataFrame(resp, columns=["cell_line", "drug", "value"])
    out = A.binary_feature_associations(feats, response)
    assert set(out["feature"]) == {"KRAS_mut", "TP53_mut"}
    wide = response.pivot(index="cell_line", columns="drug", values="value")
    for row in out.itertuples():
        f = feats[row.feature].reindex(wide.index)
        y = wide[row.drug]
        ok = f.notna() & y.notna()
        a, b = y[ok & (f == 1)], y[ok & (f == 0)]
        ref = stats.ttest_ind(a, b, equal_var=True)
        assert (row.n_with, row.n_without) == (len(a), len(b))
        assert row.t == pytest.approx(ref.statistic, rel=1e-9)
        assert row.p == pytest.approx(ref.pvalue, rel=1e-6)
        assert row.mean_with == pytest.approx(a.mean()) and row.delta == pytest.approx(
            a.mean() - b.mean()
        )
        sp = np.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
        assert row.cohen_d == pytest.approx((a.mean() - b.mean()) / sp)
        assert row.glass_delta == pytest.approx((a.mean() - b.mean()) / b.std())
    top = out[out.drug == "drugA"].iloc[0]
    assert top.feature == "KRAS_mut" and top.delta < -1 and top.q < 1e-4
    for _, grp in out.groupby("drug"):
        np.testing.assert_allclose(grp["q"], stats.false_discovery_control(grp["p"]))
    with pytest.raises(RxrankInputError, match="0/1"):
        A.binary_feature_associations(feats.assign(KRAS_mut=2.0), response)


def test_demo_driver_alterations_are_each_drugs_top_binary_feature(demo_dir, reference, truth):
    from rxrank.associations import binary_feature_associations
    from rxrank.io import read_binary_features

    _, response = reference
    calls = read_binary_features(demo_dir / "cell_line_features.tsv")
    table = binary_feature_associations(calls, response)
    drivers = truth["biomarkers"].query("driver == True")
    assert len(drivers) == 6
    for drug, gene in zip(drivers["drug"], drivers["biomarker"], strict=True):
        top = table[table["drug"] == drug].sort_values("p").iloc[0]
        # the planted driver: lines carrying it are more sensitive (lower ln IC50), strongly
        assert top["feature"] == f"{gene}_alt" and top["delta"] < -1 and top["q"] < 1e-3, top
