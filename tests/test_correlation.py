"""Tests of rxrank.correlation: kernels vs numpy/scipy, planted-truth recovery on the demo data."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import adjusted_rand_score

from rxrank import correlation as C
from rxrank.io import RxrankInputError, read_clinical, read_expression, read_response

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synth import planted_modules  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
TRUTH = DEMO / "truth"


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cohort():
    adata = read_expression(DEMO / "expression.tsv.gz", expression_type="counts")
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    return adata


@pytest.fixture(scope="module")
def modules_signed(cohort):
    return C.find_modules(cohort)


@pytest.fixture(scope="module")
def reference():
    ref = read_expression(DEMO / "reference_expression.tsv.gz", expression_type="log")
    return ref.to_df(), read_response(DEMO / "reference_response.tsv")


@pytest.fixture(scope="module")
def truth_modules():
    return pd.read_csv(TRUTH / "modules.tsv", sep="\t")


def _recovery(found: pd.DataFrame, truth: pd.DataFrame) -> dict[str, tuple[str, float, float]]:
    """Per planted module: best-matching found module, share of planted genes in it, its purity."""
    lab = found.set_index("gene")["module"]
    out = {}
    for mod, grp in truth.groupby("module"):
        hits = lab.reindex(grp["gene"]).dropna()
        hits = hits[hits != "grey"]
        best = hits.value_counts().idxmax()
        recall = (hits == best).sum() / len(grp)
        members = lab.index[lab == best]
        purity = members.isin(grp["gene"]).mean()
        out[mod] = (best, float(recall), float(purity))
    return out


# ------------------------------------------------------------------------------------------- corr


def test_corr_pearson_matches_corrcoef():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 60)) @ rng.normal(size=(60, 60))
    b = rng.normal(size=(40, 25)) + a[:, :25]
    np.testing.assert_allclose(C.corr(a), np.corrcoef(a, rowvar=False), atol=2e-6)
    cross = np.corrcoef(a, b, rowvar=False)[:60, 60:]
    np.testing.assert_allclose(C.corr(a, b), cross, atol=2e-6)
    assert C.corr(a).dtype == np.float32


def test_corr_spearman_matches_scipy():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 6, size=(35, 20)).astype(float)  # many ties
    b = rng.normal(size=(35, 7))
    expected = stats.spearmanr(a).statistic
    np.testing.assert_allclose(C.corr(a, method="spearman"), expected, atol=2e-6)
    cross = stats.spearmanr(a, b).statistic[:20, 20:]
    np.testing.assert_allclose(C.corr(a, b, method="spearman"), cross, atol=2e-6)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_corr_blocks_match_single_block(method):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 103))
    b = rng.normal(size=(50, 41))
    whole = C.corr(a, method=method, block_size=10_000)
    for block in (1, 7, 64):
        np.testing.assert_allclose(C.corr(a, method=method, block_size=block), whole, atol=1e-6)
    np.testing.assert_allclose(
        C.corr(a, b, method=method, block_size=5), C.corr(a, b, method=method), atol=1e-6
    )


def test_corr_zero_variance_gives_zero():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(20, 5))
    a[:, 2] = 3.7
    r = C.corr(a)
    assert np.isfinite(r).all()
    assert (r[2] == 0).all() and (r[:, 2] == 0).all()


def test_corr_rejects_bad_input():
    with pytest.raises(RxrankInputError):
        C.corr(np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 1.0]]))
    with pytest.raises(RxrankInputError):
        C.corr(np.ones((5, 3)), np.ones((4, 3)))
    with pytest.raises(RxrankInputError):
        C.corr(np.ones((5, 3)), method="kendall")


def test_corr_at_20000_genes():
    """The module path's float32 GEMM at 20,000 genes (numpy's float64 SYRK crashes here)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 20_000)).astype(np.float32)
    r = C.corr(x)
    assert r.shape == (20_000, 20_000)
    idx = np.array([0, 1, 9_999, 19_998, 19_999])
    np.testing.assert_allclose(r[np.ix_(idx, idx)], np.corrcoef(x[:, idx].T), atol=2e-6)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(3, 12), st.integers(1, 6)),
        elements=st.integers(-1000, 1000).map(float),  # columns constant or clearly varying
    ),
    st.floats(0.5, 20.0),
    st.floats(-50.0, 50.0),
)
def test_corr_properties(x, scale, shift):
    r = C.corr(x)
    assert np.isfinite(r).all()
    assert (np.abs(r) <= 1.0).all()
    np.testing.assert_allclose(r, r.T, atol=1e-6)
    # invariant to a positive affine change of every column
    np.testing.assert_allclose(C.corr(x * scale + shift), r, atol=1e-4)


# -------------------------------------------------------------------------------------------- bh


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(0.0, 1.0)))
def test_bh_matches_scipy_and_is_monotone(p):
    q = C.bh(p)
    np.testing.assert_allclose(q, stats.false_discovery_control(p), rtol=1e-12, atol=1e-15)
    assert (q >= p - 1e-15).all() and (q <= 1).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(q[order]) >= -1e-15).all()


def test_bh_ignores_nan():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    q = C.bh(p)
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], stats.false_discovery_control(p[[0, 2, 3]]))


# --------------------------------------------------------------------------------- soft threshold


def test_pick_soft_threshold(cohort):
    x = cohort.X[:, np.argsort(-cohort.X.var(axis=0))[:400]]
    power, table = C.pick_soft_threshold(x, powers=range(1, 13))
    assert list(table.columns) == ["power", "sft_r2", "slope", "mean_k"]
    assert list(table["power"]) == list(range(1, 13))
    assert table["mean_k"].is_monotonic_decreasing
    reach = table[table["sft_r2"] >= 0.8]
    expected = reach["power"].iloc[0] if len(reach) else table.loc[table.sft_r2.idxmax(), "power"]
    assert power == expected
    # a lower bar is met no later
    low, _ = C.pick_soft_threshold(x, powers=range(1, 13), r2_cut=0.3)
    assert low <= power


# ------------------------------------------------------------------------------------- tree cut


def test_dynamic_tree_cut_separates_clusters_and_leaves_outliers():
    rng = np.random.default_rng(6)
    centres = rng.normal(scale=10, size=(3, 5))
    sizes = (30, 20, 16)
    pts = [c + rng.normal(scale=0.5, size=(s, 5)) for c, s in zip(centres, sizes, strict=True)]
    outliers = rng.normal(scale=30, size=(4, 5))
    x = np.vstack([*pts, outliers])
    d = pdist(x)
    labels = C.dynamic_tree_cut(linkage(d, "average"), squareform(d), min_cluster_size=15)
    truth = np.repeat([0, 1, 2, 3], [*sizes, 4])
    for k in range(3):
        found = labels[truth == k]
        assert (found == found[0]).all() and found[0] >= 0
    assert len(set(labels[truth < 3])) == 3
    # clusters smaller than the minimum are not modules
    small = C.dynamic_tree_cut(linkage(d, "average"), squareform(d), min_cluster_size=25)
    assert len({v for v in small if v >= 0}) <= 2


# ----------------------------------------------------------------------------------------- modules


def test_find_modules_recovers_planted_modules(modules_signed, truth_modules):
    res = modules_signed
    rec = _recovery(res.modules, truth_modules)
    # signed network: a planted module's ~25% negatively loaded genes cannot join its module
    for mod, (best, recall, purity) in rec.items():
        assert recall >= 0.65, (mod, best, recall)
        assert purity >= 0.8, (mod, best, purity)
    assert len({best for best, _, _ in rec.values()}) == len(rec)  # one found module each
    lab = res.modules.set_index("gene")["module"]
    planted = truth_modules.set_index("gene")["module"].reindex(lab.index).fillna("none")
    subtype = pd.read_csv(TRUTH / "subtype_genes.tsv", sep="\t").set_index("gene")["subtype"]
    planted = planted.where(planted != "none", subtype.reindex(lab.index)).fillna("none")
    assert adjusted_rand_score(planted, lab) > 0.8


def test_find_modules_unsigned_recovers_whole_modules(cohort, truth_modules):
    res = C.find_modules(cohort, signed=False)
    for mod, (best, recall, purity) in _recovery(res.modules, truth_modules).items():
        assert recall >= 0.9 and purity >= 0.9, (mod, best, recall, purity)
    # the demo plants a quarter of each module's genes with negative loadings: only an unsigned
    # network can hold whole modules, and there the planted partition is recovered (measured 0.994)
    lab = res.modules.set_index("gene")["module"]
    planted = truth_modules.set_index("gene")["module"].reindex(lab.index)
    subtype = pd.read_csv(TRUTH / "subtype_genes.tsv", sep="\t").set_index("gene")["subtype"]
    planted = planted.fillna(subtype.reindex(lab.index)).fillna("none")
    assert adjusted_rand_score(planted, lab) >= 0.9


# ------------------------------------------------------------------ larger planted case, blockwise


@pytest.fixture(scope="module")
def planted():
    """3,000 genes x 120 samples, 12 planted modules (89-246 genes), 30% grey, 3 hubs each."""
    pl = planted_modules(120, 3000, 12, seed=1)
    adata = ad.AnnData(pl.X.astype(np.float32), var=pd.DataFrame(index=pl.genes))
    adata.obs_names = pl.factors.index
    return pl, adata


def _check_planted(pl, res):
    lab = res.modules.set_index("gene")["module"].reindex(pl.genes)
    assert adjusted_rand_score(pl.modules, lab) >= 0.9  # measured 0.98 (one block), 0.98 (4)
    mods = res.modules
    for planted_mod, hubs in pl.hubs.items():
        found = lab[pl.modules == planted_mod].value_counts().idxmax()
        assert found != "grey"
        top5 = set(mods.loc[mods.module == found, "gene"].iloc[:5])  # sorted by kME
        assert set(hubs) <= top5, (planted_mod, found, hubs)
        r = np.corrcoef(res.eigengenes[found], pl.factors[planted_mod])[0, 1]
        assert r > 0.97, (planted_mod, r)


def test_find_modules_larger_planted_case(planted):
    pl, adata = planted
    res = C.find_modules(adata, n_genes=3000)
    assert res.params["n_blocks"] == 1
    assert res.params["n_modules"] == 12
    _check_planted(pl, res)


def test_find_modules_blockwise_planted_case(planted, caplog):
    pl, adata = planted
    with caplog.at_level(logging.INFO, logger="rxrank.correlation"):
        res = C.find_modules(adata, n_genes=3000, max_block_size=1000)
    assert res.params["n_blocks"] >= 3
    assert "gene blocks: 3000 genes in" in caplog.text
    assert res.params["n_modules"] == 12
    _check_planted(pl, res)


def test_gene_blocks_partition_and_keep_modules_together(planted):
    pl, adata = planted
    x = np.asarray(adata.X)
    blocks = C.gene_blocks(x, 1000, seed=3)
    assert all(b.size <= 1000 for b in blocks)
    allg = np.concatenate(blocks)
    assert np.array_equal(np.sort(allg), np.arange(3000))
    block_of = np.empty(3000, dtype=int)
    for i, b in enumerate(blocks):
        block_of[b] = i
    for mod in pl.modules.unique():
        if mod == "grey":
            continue
        where = np.bincount(block_of[(pl.modules == mod).to_numpy()])
        assert where.max() / where.sum() >= 0.9, mod  # a module stays (almost) in one block
    assert len(C.gene_blocks(x[:, :500], 1000)) == 1
    with pytest.raises(RxrankInputError, match="max_block_size"):
        C.gene_blocks(x, 1)


@pytest.mark.parametrize("signed", [True, False])
def test_connectivity_in_blocks_matches_dense(signed):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(30, 50)) + rng.normal(size=(30, 1))
    r = C.corr(x)
    z = C._standardise(x, block_size=2000)
    powers = [1, 2, 3, 6, 2.5]
    conn = C._connectivity(z, powers, signed=signed, block_size=7)
    for i, pw in enumerate(powers):
        dense = C._adjacency(r, pw, signed=signed).sum(axis=1, dtype=np.float64)
        np.testing.assert_allclose(conn[i], dense, rtol=1e-4)


# ------------------------------------------------------------------------- messages on bad input


def _toy(n=40, g=120, seed=12):
    pl = planted_modules(n, g, 3, seed=seed)
    return ad.AnnData(pl.X, var=pd.DataFrame(index=pl.genes))


def test_find_modules_leaves_out_constant_and_all_missing_genes(caplog):
    adata = _toy()
    x = adata.X.copy()
    x[:, 0] = 5.0
    x[:, 1] = np.nan
    adata.X = x
    with caplog.at_level(logging.INFO, logger="rxrank.correlation"):
        res = C.find_modules(adata, n_genes=1000)
    assert "1 gene(s) with every value missing left out (G00001)" in caplog.text
    assert "1 gene(s) without variation left out (G00000)" in caplog.text
    assert {"G00000", "G00001"}.isdisjoint(res.modules["gene"])
    assert len(res.modules) == 118
    assert res.params["n_left_out_all_missing"] == 1 and res.params["n_left_out_constant"] == 1
    assert np.isfinite(res.eigengenes.to_numpy()).all()
    assert res.modules.loc[res.modules.module != "grey", "kME"].notna().all()


def test_find_modules_clear_messages():
    adata = _toy()
    x = adata.X.copy()
    x[3, 7] = np.nan
    bad = adata.copy()
    bad.X = x
    with pytest.raises(RxrankInputError, match=r"1 gene\(s\) have missing values.*G00007.*impute"):
        C.find_modules(bad)
    x = adata.X.copy()
    x[0, 2] = np.inf
    bad.X = x
    with pytest.raises(RxrankInputError, match=r"infinite values \(G00002\)"):
        C.find_modules(bad)
    with pytest.raises(RxrankInputError, match="at least 10 samples.*got 9"):
        C.find_modules(adata[:9].copy())
    with pytest.raises(RxrankInputError, match="at least 20 samples.*got 15"):
        C.find_modules(adata[:15].copy(), min_samples=20)
    flat = adata.copy()
    flat.X = np.where(np.arange(120) < 100, 1.0, adata.X)
    with pytest.raises(RxrankInputError, match="only 20 of 120 genes vary.*100 constant"):
        C.find_modules(flat)
    with pytest.raises(RxrankInputError, match="max_block_size"):
        C.find_modules(adata, max_block_size=20)


def test_module_table_layout(modules_signed, cohort):
    res = modules_signed
    mods = res.modules
    assert list(mods.columns) == ["gene", "module", "kME"]
    assert len(mods) == 1000 and mods["gene"].is_unique
    names = [m for m in mods["module"].unique() if m != "grey"]
    sizes = mods["module"].value_counts()[names]
    assert names == [f"M{i + 1}" for i in range(len(names))]
    assert sizes.is_monotonic_decreasing
    assert mods.loc[mods.module == "grey", "kME"].isna().all()
    assert (mods.loc[mods.module != "grey", "kME"] >= 0.3).all()
    eig = res.eigengenes
    assert eig.index.name == "patient_id" and list(eig.index) == list(cohort.obs_names)
    assert list(eig.columns) == names
    np.testing.assert_allclose(eig.mean(), 0, atol=1e-9)
    np.testing.assert_allclose(eig.std(), 1, atol=1e-9)
    assert res.params["power"] in set(res.soft_threshold["power"])
    assert res.params["n_modules"] == len(names)


def test_m1_eigengene_tracks_planted_factor(modules_signed, truth_modules):
    rec = _recovery(modules_signed.modules, truth_modules)
    found = rec["M1"][0]
    patients = pd.read_csv(TRUTH / "patients.tsv", sep="\t", index_col="patient_id")
    eig = modules_signed.eigengenes[found]
    r = np.corrcoef(eig, patients.loc[eig.index, "m1_factor"])[0, 1]
    assert abs(r) > 0.8


def test_eigengene_sign_follows_mean_expression(modules_signed, cohort):
    mods = modules_signed.modules
    x = cohort.to_df()
    for name in modules_signed.eigengenes.columns:
        genes = mods.loc[mods.module == name, "gene"]
        z = (x[genes] - x[genes].mean()) / x[genes].std()
        assert np.corrcoef(z.mean(axis=1), modules_signed.eigengenes[name])[0, 1] > 0


def test_eigengenes_reapplied(modules_signed, cohort):
    again = C.eigengenes(cohort, modules_signed.modules)
    pd.testing.assert_frame_equal(again, modules_signed.eigengenes, atol=1e-8)
    # a new cohort lacking some genes: eigengenes are still computed on what is present
    mods = modules_signed.modules
    drop = mods.loc[mods.module == "M1", "gene"].iloc[:3]
    sub = cohort[:50, ~cohort.var_names.isin(drop)].copy()
    eig = C.eigengenes(sub, mods)
    assert list(eig.columns) == list(modules_signed.eigengenes.columns)
    assert eig.shape[0] == 50
    r = np.corrcoef(eig["M1"], modules_signed.eigengenes["M1"].iloc[:50])[0, 1]
    assert r > 0.95


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
    mt = C.module_traits(eig, traits)
    assert list(mt.columns) == ["module", "trait", "r", "p", "q"]
    assert set(mt["trait"]) == {"a", "b"}
    assert len(mt) == 2 * eig.shape[1]
    np.testing.assert_allclose(mt["q"], stats.false_discovery_control(mt["p"]), rtol=1e-12)
    np.testing.assert_allclose(mt["q"], C.bh(mt["p"]))
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
    traits = C.build_traits(clinical, preds)
    assert traits.index.name == "patient_id"
    for col in ["os_months", "os_event", "age", "stage:IV", "treatment:Erlotinib"]:
        assert col in traits
    assert traits["sensitivity:Erlotinib"].notna().sum() == 2
    assert set(traits["stage:IV"].unique()) <= {0.0, 1.0}


# ------------------------------------------------------------------------------------- gene-drug


def test_gene_drug_finds_planted_biomarkers(reference):
    expr, response = reference
    table = C.gene_drug_associations(expr, response, top=50)
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
    r, p, n = C.gene_drug_matrix(expr, response, method=method)
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
    table, r = C.gene_drug_associations(expr, response, top=None, return_matrix=True)
    assert r.shape == (expr.shape[1], response["drug"].nunique())
    for _drug, grp in table.groupby("drug"):
        np.testing.assert_allclose(grp["q"], stats.false_discovery_control(grp["p"]))
        assert (np.diff(grp["r"].abs()) <= 0).all()
        assert list(grp["rank"]) == list(range(1, len(grp) + 1))


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
    table = C.gene_drug_associations(expr, response, top=None)
    assert set(table["drug"]) == {"A"}  # B has 2 lines only
    a = table.set_index("gene")
    assert a.at["g1", "r"] == pytest.approx(1.0)
    assert a.at["flat", "r"] == 0.0 and a.at["flat", "p"] == pytest.approx(1.0)
    with pytest.raises(RxrankInputError):
        C.gene_drug_associations(expr, response.rename(columns={"value": "ic50"}))


# ------------------------------------------------------------------------------------------ stage


def test_run_correlation_outputs(cohort, reference):
    expr, response = reference
    clinical = read_clinical(DEMO / "clinical.tsv")
    adata = cohort.copy()
    adata.obs = adata.obs.join(clinical)
    out = C.run_correlation(
        adata, expr, response, None, params={"n_genes": 600, "gene_drug_top": 20}
    )
    assert set(out) == {
        "modules.tsv",
        "eigengenes.tsv",
        "soft_threshold.tsv",
        "module_traits.tsv",
        "gene_drug.tsv",
    }
    assert list(out["modules.tsv"].columns) == ["gene", "module", "kME"]
    eig = out["eigengenes.tsv"]
    assert eig.columns[0] == "patient_id" and len(eig) == adata.n_obs
    assert list(out["soft_threshold.tsv"].columns) == ["power", "sft_r2", "slope", "mean_k"]
    mt = out["module_traits.tsv"]
    assert list(mt.columns) == ["module", "trait", "r", "p", "q"]
    assert {"os_months", "os_event", "age"} <= set(mt["trait"])
    assert set(mt["module"]) == set(eig.columns[1:])
    gd = out["gene_drug.tsv"]
    assert gd.groupby("drug").size().max() == 20
    assert out["module_traits.tsv"].attrs["params"]["n_genes"] == 600
