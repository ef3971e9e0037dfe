"""Single-cell input: pseudobulk equals the sum over cells, composition the planted labels, clear
errors for every malformed input, and the workflow end to end on the seeded single-cell demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from helpers import demo_config
from sklearn.metrics import adjusted_rand_score

from rxrank.check import run_check, workflow_patients
from rxrank.cli import main as cli_main
from rxrank.demo import DemoSpec
from rxrank.demo_singlecell import CELL_TYPES, SingleCellSpec, write_single_cell_demo
from rxrank.io import RxrankInputError
from rxrank.privacy import pseudonym
from rxrank.singlecell import pseudobulk, read_samples, scan_samples

ROOT = Path(__file__).resolve().parents[1]
KEY = "5f2b9c4e8a1d7063" * 4  # a test key of 256 bits, not secret


def _cells(rng, patient: str, n: int, genes: list[str], types: list[str], *, dense=False):
    counts = rng.poisson(2.0, size=(n, len(genes))).astype(np.float32)
    counts[counts < 2] = 0
    labels = pd.Categorical(rng.choice(types, size=n))
    X = counts if dense else sp.csr_matrix(counts)
    obs = pd.DataFrame({"cell_type": labels}, index=[f"{patient}_{i}" for i in range(n)])
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=genes))


def _write(tmp: Path, adatas: dict[str, ad.AnnData], sheet_name="samples.tsv") -> Path:
    (tmp / "h5ad").mkdir(exist_ok=True)
    for pid, adata in adatas.items():
        adata.write_h5ad(tmp / "h5ad" / f"{pid}.h5ad")
    sheet = tmp / sheet_name
    pd.DataFrame({"patient_id": list(adatas), "h5ad": [f"h5ad/{p}.h5ad" for p in adatas]}).to_csv(
        sheet, sep="\t", index=False
    )
    return sheet


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(30)]
    adatas = {
        "A": _cells(rng, "A", 70, genes, ["tumour", "T_cell"]),
        "B": _cells(rng, "B", 90, genes[:25] + ["EXTRA"], ["tumour", "fibroblast"], dense=True),
        "C": _cells(rng, "C", 60, genes, ["tumour", "T_cell", "fibroblast"]),
    }
    adatas["C"].X = sp.csc_matrix(adatas["C"].X)  # every storage: CSR, dense, CSC
    return tmp_path, adatas, _write(tmp_path, adatas)


def test_pseudobulk_is_the_exact_sum_over_cells_and_composition_the_labels(small):
    tmp, adatas, sheet = small
    counts, composition, scan = pseudobulk(sheet, min_cells=50, chunk=16)  # many blocks per file
    assert list(counts.columns) == ["A", "B", "C"]
    assert counts.index[-1] == "EXTRA" and len(counts) == 31  # union: EXTRA in B only
    assert counts.dtypes.unique().tolist() == [np.dtype("int64")]
    for pid, adata in adatas.items():
        X = adata.X.toarray() if sp.issparse(adata.X) else adata.X
        expected = pd.Series(X.sum(axis=0).astype(np.int64), index=adata.var_names)
        got = counts[pid]
        assert (got.loc[expected.index] == expected).all()
        assert (got.drop(expected.index) == 0).all()  # genes absent from the file count 0
        planted = adata.obs["cell_type"].value_counts()
        mine = composition[composition["patient_id"] == pid].set_index("cell_type")
        for cell_type, n in planted.items():
            assert mine.loc[cell_type, "n_cells"] == n
            assert mine.loc[cell_type, "fraction"] == pytest.approx(n / adata.n_obs, abs=1e-12)
        assert mine["n_cells"].sum() == adata.n_obs
    assert set(composition["cell_type"]) == {"tumour", "T_cell", "fibroblast"}
    assert len(composition) == 3 * 3  # zero rows for types a patient lacks
    assert any("lack genes" in w for w in scan.warnings)


def test_cell_types_sum_only_those_cells_in_every_storage(small):
    tmp, adatas, sheet = small
    counts, composition, _ = pseudobulk(sheet, min_cells=10, chunk=16, cell_types=["tumour"])
    for pid, adata in adatas.items():
        X = adata.X.toarray() if sp.issparse(adata.X) else adata.X
        tumour = (adata.obs["cell_type"] == "tumour").to_numpy()
        expected = X[tumour].sum(axis=0).astype(np.int64)
        assert (counts.loc[adata.var_names, pid].to_numpy() == expected).all(), pid
    assert composition["n_cells"].sum() == sum(a.n_obs for a in adatas.values())  # every cell


def test_cell_types_absent_or_too_few_name_the_fix(small):
    tmp, adatas, sheet = small
    with pytest.raises(RxrankInputError, match=r"no file has.*'T_cell', 'fibroblast', 'tumour'"):
        scan_samples(sheet, min_cells=10, cell_types=["malignant"])
    # B has no T cells at all: 0 of its 90 cells would be summed
    with pytest.raises(RxrankInputError, match=r"min_cells=10 cells of \['T_cell'\].*widen"):
        scan_samples(sheet, min_cells=10, cell_types=["T_cell"])
    scan_samples(sheet, min_cells=10, cell_types=["T_cell", "fibroblast"])  # every patient has 10+


def test_tumour_cells_only_recover_the_planted_subtypes_better(sc_demo):
    """Summing all cells dilutes the planted subtypes with each sample's stromal share; summing the
    tumour cells only removes that confounder (what is left is the low depth of 150 UMIs a cell)."""
    from rxrank import profiling
    from rxrank.io import read_clinical

    clinical = read_clinical(ROOT / "resources/demo/clinical.tsv")
    planted = pd.read_csv(ROOT / "resources/demo/truth/patients.tsv", sep="\t", index_col=0)
    ari = {}
    for name, cell_types in (("all", None), ("tumour", ["tumour"])):
        counts, _, _ = pseudobulk(sc_demo / "samples.tsv", cell_types=cell_types)
        adata = ad.AnnData(counts.T.astype(np.float32))
        prof = profiling.profile(adata, clinical.loc[counts.columns], expression_type="counts")
        ari[name] = adjusted_rand_score(planted.loc[prof.obs_names, "subtype"], prof.obs["subtype"])
    print(f"planted subtypes from the pseudobulk: ARI {ari}")
    # measured: all cells 0.47, tumour cells only 0.63
    assert ari["tumour"] > ari["all"] + 0.1 and ari["tumour"] > 0.55, ari


def test_intersection_keeps_the_genes_of_every_file(small):
    _, adatas, sheet = small
    counts, _, _ = pseudobulk(sheet, min_cells=50, gene_join="intersection")
    assert list(counts.index) == [f"G{i}" for i in range(25)]
    A = adatas["A"]
    assert (counts["A"] == np.asarray(A.X[:, :25].sum(axis=0)).ravel().astype(int)).all()


def test_counts_from_a_layer_and_nan_labels(tmp_path):
    rng = np.random.default_rng(1)
    adata = _cells(rng, "A", 60, ["G1", "G2", "G3"], ["x"])
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.multiply(0.37).tocsr()  # normalised values in .X
    adata.obs["cell_type"] = pd.Categorical([None] * 5 + ["x"] * 55)
    sheet = _write(tmp_path, {"A": adata})
    counts, comp, _ = pseudobulk(sheet, layer="counts", min_cells=10)
    assert (counts["A"].to_numpy() == adata.layers["counts"].sum(axis=0).A1).all()
    assert comp.set_index("cell_type").loc["unassigned", "n_cells"] == 5
    with pytest.raises(
        RxrankInputError,
        match=r"\.X should hold raw counts but has the non-integer value 0\.74.*single_cell\.layer",
    ):
        pseudobulk(sheet, min_cells=10)


def _error(sheet, **kw) -> str:
    kw.setdefault("min_cells", 50)
    with pytest.raises(RxrankInputError) as err:
        pseudobulk(sheet, **kw)
    return str(err.value)


def test_missing_file_names_the_sheet_line_and_the_fix(small):
    tmp, _, sheet = small
    (tmp / "h5ad" / "B.h5ad").unlink()
    msg = _error(sheet)
    assert "B.h5ad" in msg and f"samples sheet {sheet}, line 3" in msg and "Fix the path" in msg


def test_missing_obs_column_lists_the_columns(small):
    _, _, sheet = small
    msg = _error(sheet, cell_type_column="celltype")
    assert "A.h5ad has no obs column 'celltype'" in msg
    assert "['cell_type']" in msg and "cohort.single_cell.cell_type_column" in msg


def test_missing_layer_lists_the_layers(small):
    _, _, sheet = small
    msg = _error(sheet, layer="raw")
    assert "A.h5ad has no layer 'raw'" in msg and "cohort.single_cell.layer" in msg


def test_non_integer_counts_name_file_cell_gene_and_fix(tmp_path):
    rng = np.random.default_rng(2)
    adata = _cells(rng, "A", 60, ["G1", "G2"], ["x"])
    X = adata.X.toarray()
    X[41, 1] = 2.5  # past the first block: found by the full pass
    adata.X = sp.csr_matrix(X)
    sheet = _write(tmp_path, {"A": adata})
    msg = _error(sheet, chunk=20)
    assert "A.h5ad" in msg and "non-integer value 2.5 (cell 'A_41', gene 'G2')" in msg
    assert "cohort.single_cell.layer" in msg
    X[41, 1] = -3
    adata.X = sp.csr_matrix(X)
    adata.write_h5ad(tmp_path / "h5ad" / "A.h5ad")
    assert "negative value -3 (cell 'A_41', gene 'G2')" in _error(sheet, chunk=20)


def test_patient_listed_twice_and_same_file_twice(small):
    tmp, _, sheet = small
    frame = pd.read_csv(sheet, sep="\t")
    twice = tmp / "twice.tsv"
    pd.concat([frame, frame.iloc[[0]]]).to_csv(twice, sep="\t", index=False)
    msg = _error(twice)
    assert f"samples sheet {twice}: line 2 and line 5 hold the same patient ID" in msg
    frame.loc[1, "h5ad"] = frame.loc[0, "h5ad"]
    frame.to_csv(twice, sep="\t", index=False)
    assert "lines 2 and 3 point to the same file" in _error(twice)


def test_too_few_cells_names_the_patient_and_the_setting(small):
    _, _, sheet = small
    msg = _error(sheet, min_cells=65)
    assert "C.h5ad (patient 'C') has 60 cells, fewer than cohort.single_cell.min_cells=65" in msg


def test_sheet_without_the_columns(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("id\tfile_name\nA\ta.h5ad\n")
    with pytest.raises(RxrankInputError, match=r"needs a column 'patient_id'.*'h5ad'"):
        read_samples(sheet)


def test_scan_reads_no_matrix_beyond_the_first_block(small):
    _, _, sheet = small
    scan = scan_samples(sheet, min_cells=50)
    assert scan.patients == ["A", "B", "C"] and scan.n_cells == 220
    assert len(scan.genes) == 31


# ---- the seeded single-cell demo and the workflow on it ----

SPEC = SingleCellSpec()  # 100-300 cells per patient: fewer lose the planted subtypes (ARI 0.18)


@pytest.fixture(scope="module")
def sc_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("sc_demo")
    write_single_cell_demo(out, sc_spec=SPEC)
    return out


def _sc_config(tmp: Path, sc_demo: Path) -> Path:
    config = demo_config()
    del config["cohort"]["expression"]
    config["cohort"]["single_cell"] = {"samples": str(sc_demo / "samples.tsv"), "min_cells": 50}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_demo_variant_matches_the_bulk_demo_and_is_small(sc_demo):
    sheet = pd.read_csv(sc_demo / "samples.tsv", sep="\t")
    assert len(sheet) == SPEC.n_patients == 80
    truth = pd.read_csv(sc_demo / "truth_composition.tsv", sep="\t")
    assert set(truth["cell_type"]) == set(CELL_TYPES)
    a = ad.read_h5ad(sc_demo / "P001.h5ad")
    assert SPEC.min_cells <= a.n_obs <= SPEC.max_cells and a.n_vars == DemoSpec().n_genes
    size = sum(p.stat().st_size for p in sc_demo.iterdir())
    assert size < 15e6


def test_check_and_workflow_patients_read_the_samples_sheet(sc_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    path = _sc_config(tmp_path, sc_demo)
    config = yaml.safe_load(path.read_text())
    report, ids = run_check(path, config)
    assert report.ok, report.text()
    assert report.counts["single_cell_files"] == 80
    assert report.counts["patients_with_expression_and_clinical"] == 80
    assert report.counts["genes_shared"] == 2000
    expected = sorted(pseudonym(f"P{i:03d}", KEY.encode()) for i in range(1, 81))
    assert workflow_patients(config) == expected


def test_single_cell_null_and_set_pass_the_workflow_validation():
    from snakemake.utils import validate

    schema = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    config = demo_config()
    assert config["cohort"]["single_cell"] is None  # the default: bulk input
    validate(config, schema)  # Snakemake sets defaults: none may sit under a null section
    config["cohort"]["single_cell"] = {"samples": "s.tsv", "layer": "counts"}
    validate(config, schema)
    config["cohort"]["single_cell"]["gene_join"] = "outer"
    with pytest.raises(Exception, match="outer"):
        validate(config, schema)


def test_check_names_the_missing_input(tmp_path, monkeypatch):
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    config = demo_config()
    del config["cohort"]["expression"]
    report, _ = run_check("cfg", config)
    assert any("cohort needs `expression`" in e for e in report.errors)
    config["cohort"]["single_cell"] = {"samples": str(tmp_path / "nope.tsv")}
    report, _ = run_check("cfg", config)
    assert any("cohort.single_cell.samples points to" in e for e in report.errors)


def test_check_names_an_absent_cell_type_before_any_stage(small, monkeypatch):
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    tmp, _, sheet = small
    config = demo_config()
    del config["cohort"]["expression"]
    config["cohort"]["single_cell"] = {"samples": str(sheet), "cell_types": ["malignant"]}
    report, _ = run_check("cfg", config)
    assert any("cell_types lists ['malignant']" in e for e in report.errors), report.errors


def test_cli_pseudobulk_pseudonymises_every_id(small, tmp_path, monkeypatch):
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    _, _, sheet = small
    params = '{"cohort": {"single_cell": {"samples": "x", "min_cells": 50}}, "privacy": {}}'
    out = tmp_path / "out"
    rc = cli_main(
        ["pseudobulk", "--params", params, "--samples", str(sheet), "--pseudobulk",
         str(out / "pb.tsv.gz"), "--composition", str(out / "comp.tsv")]
    )  # fmt: skip
    assert rc == 0
    pb = pd.read_csv(out / "pb.tsv.gz", sep="\t", index_col=0)
    comp = pd.read_csv(out / "comp.tsv", sep="\t")
    names = [pseudonym(p, KEY.encode()) for p in "ABC"]
    assert list(pb.columns) == names and set(comp["patient_id"]) == set(names)


@pytest.mark.slow
@pytest.mark.workflow
def test_workflow_on_the_single_cell_demo(sc_demo, tmp_path):
    """End to end: check, pseudobulk, profile ... rankings on the single-cell demo variant."""
    config = _sc_config(tmp_path, sc_demo)
    env = {**os.environ, "RXRANK_PSEUDONYM_KEY": KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
         str(config), "--cores", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    logs = "\n".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert proc.returncode == 0, proc.stderr[-4000:] + logs[-4000:]
    results = tmp_path / "results"
    pb = pd.read_csv(results / "profiling" / "pseudobulk.tsv.gz", sep="\t", index_col=0)
    comp = pd.read_csv(results / "profiling" / "composition.tsv", sep="\t")
    rankings = pd.read_csv(results / "ranking" / "rankings.tsv", sep="\t")
    ids = {f"P{i:03d}": pseudonym(f"P{i:03d}", KEY.encode()) for i in range(1, 81)}
    assert sorted(pb.columns) == sorted(ids.values()) and pb.shape[0] == 2000
    assert set(rankings["patient_id"]) == set(ids.values())
    # the planted composition is recovered exactly, under the pseudonyms
    truth = pd.read_csv(sc_demo / "truth_composition.tsv", sep="\t")
    truth["patient_id"] = truth["patient_id"].map(ids)
    merged = truth.merge(comp, on=["patient_id", "cell_type"], suffixes=("_planted", ""))
    assert len(merged) == len(truth) == len(comp)
    assert (merged["n_cells"] == merged["n_cells_planted"]).all()
    assert np.allclose(merged["fraction"], merged["fraction_planted"], atol=1e-6)
    # the pseudobulk equals the cells' sum, and carries each patient's bulk profile
    cells = ad.read_h5ad(sc_demo / "P007.h5ad")
    assert (pb[ids["P007"]].to_numpy() == cells.X.sum(axis=0).A1.astype(int)).all()
    bulk = pd.read_csv(ROOT / "resources/demo/expression.tsv.gz", sep="\t", index_col=0)
    r = np.corrcoef(np.log1p(bulk["P007"].loc[pb.index]), np.log1p(pb[ids["P007"]]))[0, 1]
    assert r > 0.8, r
    # the planted subtypes survive the stromal cells only in part: ARI 0.47 on this seed, 0.26-0.47
    # over six single-cell seeds of the 200-patient demo (chance: 0); composition is the confounder
    cohort = ad.read_h5ad(results / "profiling" / "cohort.h5ad")
    planted = pd.read_csv(ROOT / "resources/demo/truth/patients.tsv", sep="\t")
    planted = planted.set_index(planted["patient_id"].map(ids))["subtype"]
    ari = adjusted_rand_score(planted.loc[cohort.obs_names], cohort.obs["subtype"])
    print(f"planted subtypes from the pseudobulk: ARI {ari:.2f}")
    assert ari >= 0.3, ari
    assert cohort.uns["rxrank"]["single_cell"]["gene_join"] == "union"
    # no original patient ID in any output
    for path in results.rglob("*"):
        if path.is_file() and path.suffix in (".tsv", ".json", ".html"):
            text = path.read_text(errors="ignore")
            assert "P007" not in text and "P042" not in text, path
