"""Input variants of the expression reader and the gene-ID normaliser: every test asserts values.

TP53 = ENSG00000141510, EGFR = ENSG00000146648, KRAS = ENSG00000133703 (shipped gene map).
"""

from __future__ import annotations

import gzip
import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rxrank import io
from rxrank.gene_ids import GeneMap, load_gene_map, normalise_gene_ids

TP53, EGFR, KRAS = "ENSG00000141510", "ENSG00000146648", "ENSG00000133703"


def _frame(matrix, genes, samples):
    """A samples x genes frame of known values (the expected result)."""
    return pd.DataFrame(np.asarray(matrix, dtype=float), index=samples, columns=genes)


def _as_frame(adata) -> pd.DataFrame:
    X = np.asarray(adata.X, dtype=float)
    return pd.DataFrame(X, index=list(adata.obs_names), columns=list(adata.var_names))


def _write_genes_by_samples(path, expected: pd.DataFrame, *, sep="\t"):
    table = expected.T.rename_axis("gene_id").reset_index()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt") as fh:
        table.to_csv(fh, sep=sep, index=False)
    return path


# --- orientation -------------------------------------------------------------------------------


PATIENTS = [f"P{i:03d}" for i in range(1, 9)]  # 8 patients, 3 genes: more patients than genes
EXPECTED = _frame(np.arange(24).reshape(8, 3) * 3 + 1, ["TP53", "EGFR", "KRAS"], PATIENTS)


def test_more_patients_than_genes_both_orientations(tmp_path):
    rows = _write_genes_by_samples(tmp_path / "gxs.tsv", EXPECTED)
    cols = tmp_path / "sxg.csv"
    EXPECTED.rename_axis("sample").to_csv(cols)
    a = io.read_expression(rows, expression_type="counts")
    b = io.read_expression(cols, expression_type="counts")
    pd.testing.assert_frame_equal(_as_frame(a), EXPECTED)
    pd.testing.assert_frame_equal(_as_frame(b), EXPECTED)
    assert a.uns["rxrank_io"]["orientation"] == "genes_by_samples"
    assert b.uns["rxrank_io"]["orientation"] == "samples_by_genes"


def test_sample_like_ids_decide_when_genes_are_unknown(tmp_path):
    samples = [f"TCGA-AB-{i:04d}" for i in range(6)]
    expected = _frame(np.arange(12).reshape(6, 2), ["MYPROBE_A", "MYPROBE_B"], samples)
    path = _write_genes_by_samples(tmp_path / "x.tsv", expected)
    got = io.read_expression(path, expression_type="counts")
    pd.testing.assert_frame_equal(_as_frame(got), expected)


def test_orientation_override_and_undecidable_error(tmp_path):
    path = tmp_path / "square.tsv"
    path.write_text("id\tx1\tx2\nfoo\t1\t2\nbar\t3\t4\n")
    with pytest.raises(io.RxrankInputError) as err:
        io.read_expression(path, expression_type="counts")
    msg = str(err.value)
    for fragment in ["square.tsv", "cohort.orientation", "genes_by_samples", "samples_by_genes"]:
        assert fragment in msg
    rows = io.read_expression(path, expression_type="counts", orientation="genes_by_samples")
    cols = io.read_expression(path, expression_type="counts", orientation="samples_by_genes")
    pd.testing.assert_frame_equal(
        _as_frame(rows), _frame([[1, 3], [2, 4]], ["FOO", "BAR"], ["x1", "x2"])
    )
    pd.testing.assert_frame_equal(
        _as_frame(cols), _frame([[1, 2], [3, 4]], ["X1", "X2"], ["foo", "bar"])
    )
    with pytest.raises(io.RxrankInputError, match="reference.orientation"):
        io.read_expression(path, what="reference expression")


def test_longer_axis_fallback_is_logged_with_the_fix(tmp_path, caplog):
    path = tmp_path / "x.tsv"
    path.write_text("id\tq\tr\nfoo\t1\t2\nbar\t3\t4\nbaz\t5\t6\n")
    with caplog.at_level(logging.WARNING, logger="rxrank.io"):
        got = io.read_expression(path, expression_type="counts")
    assert list(got.var_names) == ["FOO", "BAR", "BAZ"]
    assert got.X[:, 2].tolist() == [5, 6]
    assert "cohort.orientation: samples_by_genes" in caplog.text


# --- gz, Ensembl versions, mapping ----------------------------------------------------------------


def test_gzipped_ensembl_with_versions_mapped_to_symbols(tmp_path):
    path = tmp_path / "e.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(
            f"gene_id\tS1\tS2\n{TP53}.17\t10\t20\n{EGFR}.9\t1\t2\nENSG00000999999.1\t5\t6\n"
            f"{KRAS}.3_PAR_Y\t0\t0\n"
        )
    got = io.read_expression(path, expression_type="counts")
    expected = _frame([[10, 1, 5], [20, 2, 6]], ["TP53", "EGFR", "ENSG00000999999"], ["S1", "S2"])
    pd.testing.assert_frame_equal(_as_frame(got), expected)
    table = got.uns["rxrank_io"]["gene_ids"].set_index("input_id")
    assert table.loc[f"{TP53}.17", "action"] == "mapped"
    assert "version .17 stripped" in table.loc[f"{TP53}.17", "detail"]
    assert table.loc["ENSG00000999999.1", ["gene", "action"]].tolist() == [
        "ENSG00000999999",
        "renamed",
    ]
    assert table.loc[f"{KRAS}.3_PAR_Y", "action"] == "dropped"
    assert got.uns["rxrank_io"]["gene_ids_dropped"] == 1


def test_ensembl_cohort_meets_symbol_reference(tmp_path):
    cohort = tmp_path / "cohort.tsv"
    cohort.write_text(f"gene_id\tP1\tP2\n{TP53}.4\t1\t2\n{EGFR}.1\t3\t4\n{KRAS}\t5\t6\n")
    ref = tmp_path / "ref.tsv"
    ref.write_text("gene_id\tCL1\tCL2\nKRAS\t0.5\t1.5\nTP53\t2.5\t3.5\nMYC\t1\t1\n")
    a = io.read_expression(cohort, expression_type="counts")
    b = io.read_expression(ref, expression_type="log", what="reference expression")
    shared = a.var_names.intersection(b.var_names)
    assert sorted(shared) == ["KRAS", "TP53"]
    assert a[:, "KRAS"].X.ravel().tolist() == [5, 6]
    assert b[:, "KRAS"].X.ravel().tolist() == [0.5, 1.5]


def test_ambiguous_ensembl_id_stays_ensembl():
    gene_map = load_gene_map()
    amb = next(k for k, v in gene_map.ensembl.items() if len(v) > 1)
    ids, table = normalise_gene_ids([amb + ".2"], gene_map)
    assert ids == [amb]
    assert "ambiguous" in table.at[0, "detail"]


# --- duplicates and case ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "agg"), [("counts", "sum"), ("tpm", "mean"), ("log", "mean")])
def test_duplicates_and_mixed_case_merged(tmp_path, kind, agg):
    # TP53 three ways (symbol, lower case, Ensembl with version), C11orf58 in upper case
    path = tmp_path / "d.tsv"
    path.write_text(
        f"gene\tp1\tp2\nTP53\t40\t2\ntp53\t4\t6\n{TP53}.2\t1\t1\nC11ORF58\t7\t8\nnovelgene\t9\t10\n"
    )
    if kind == "log":
        path.write_text(path.read_text().replace("\t40\t", "\t30\t"))
    got = io.read_expression(path, expression_type=kind, orientation="genes_by_samples")
    first = 30 if kind == "log" else 40
    tp53 = np.array([[first, 2], [4, 6], [1, 1]], dtype=float)
    tp53 = tp53.sum(axis=0) if agg == "sum" else tp53.mean(axis=0)
    expected = pd.DataFrame(
        {"TP53": tp53, "C11orf58": [7.0, 8.0], "NOVELGENE": [9.0, 10.0]}, index=["p1", "p2"]
    )
    pd.testing.assert_frame_equal(_as_frame(got), expected, rtol=1e-6)
    table = got.uns["rxrank_io"]["gene_ids"].set_index("input_id")
    assert (table.loc[["TP53", "tp53", f"{TP53}.2"], "action"] == "merged").all()
    assert f"into TP53 ({agg})" in table.loc["tp53", "detail"]
    assert table.loc["C11ORF58", ["gene", "action"]].tolist() == ["C11orf58", "renamed"]
    assert table.loc["novelgene", "gene"] == "NOVELGENE"
    assert got.uns["rxrank_io"]["duplicate_genes_merged"] == 2


def test_empty_gene_ids_dropped(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("gene,p1,p2,p3\nEGFR,1,2,3\nNA,4,5,6\n,7,8,9\nKRAS,1,1,1\n")
    got = io.read_expression(path, expression_type="counts", orientation="genes_by_samples")
    pd.testing.assert_frame_equal(
        _as_frame(got),
        _frame([[1, 1], [2, 1], [3, 1]], ["EGFR", "KRAS"], ["p1", "p2", "p3"]),
        check_dtype=False,
    )
    assert got.uns["rxrank_io"]["gene_ids_dropped"] == 2


# --- h5ad -----------------------------------------------------------------------------------------


def test_h5ad_x_layer_and_sparse(tmp_path):
    counts = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    adata = ad.AnnData(
        X=sp.csr_matrix(counts * 0.5),
        obs=pd.DataFrame(index=["P1", "P2"]),
        var=pd.DataFrame(index=[f"{TP53}.1", "egfr", "KRAS"]),
    )
    adata.layers["counts"] = counts
    path = tmp_path / "cohort.h5ad"
    adata.write_h5ad(path)
    x = io.read_expression(path, expression_type="tpm")
    layer = io.read_expression(path, expression_type="counts", layer="counts")
    genes = ["TP53", "EGFR", "KRAS"]
    pd.testing.assert_frame_equal(_as_frame(x), _frame(counts * 0.5, genes, ["P1", "P2"]))
    pd.testing.assert_frame_equal(_as_frame(layer), _frame(counts, genes, ["P1", "P2"]))
    assert layer.uns["rxrank_io"]["layer"] == "counts"
    assert io.expression_sample_ids(path) == ["P1", "P2"]
    with pytest.raises(io.RxrankInputError) as err:
        io.read_expression(path, layer="raw")
    for fragment in ["cohort.h5ad", "'raw'", "['counts']", "cohort.expression_layer"]:
        assert fragment in str(err.value)
    with pytest.raises(io.RxrankInputError) as err:  # .X (halves) is not counts
        io.read_expression(path, expression_type="counts")
    for fragment in [
        "cohort.h5ad",
        "non-integer",
        "obs row 1",
        f"'{TP53}.1'",
        "expression_type: tpm",
    ]:
        assert fragment in str(err.value)


def test_damaged_h5ad_names_file(tmp_path):
    path = tmp_path / "broken.h5ad"
    path.write_bytes(b"not an hdf5 file")
    with pytest.raises(io.RxrankInputError, match=r"broken\.h5ad.*write_h5ad"):
        io.read_expression(path)


# --- declared type vs the numbers -----------------------------------------------------------------


def test_log_declared_but_raw_is_an_error(tmp_path):
    path = tmp_path / "raw.tsv"
    path.write_text("gene\tp1\tp2\nEGFR\t3\t1200\nKRAS\t2\t5\n")
    with pytest.raises(io.RxrankInputError) as err:
        io.read_expression(path, expression_type="log", orientation="genes_by_samples")
    msg = str(err.value)
    for fragment in [
        "raw.tsv",
        "declared as log",
        "column 3 of the header",
        "'EGFR'",
        "1200",
        "expression_type",
    ]:
        assert fragment in msg
    assert "counts" in msg and "tpm" in msg


def test_tpm_declared_but_log_scale_warns_with_fix(tmp_path, caplog):
    path = tmp_path / "t.tsv"
    path.write_text("gene\tp1\tp2\nEGFR\t3.5\t7.25\nKRAS\t0.5\t12\n")
    with caplog.at_level(logging.WARNING, logger="rxrank.io"):
        got = io.read_expression(path, expression_type="tpm", orientation="genes_by_samples")
    assert "looks log-scale" in caplog.text and "cohort.expression_type: log" in caplog.text
    assert got.uns["rxrank_io"]["warnings"] and "t.tsv" in got.uns["rxrank_io"]["warnings"][0]
    pd.testing.assert_frame_equal(
        _as_frame(got), _frame([[3.5, 0.5], [7.25, 12]], ["EGFR", "KRAS"], ["p1", "p2"])
    )


@pytest.mark.parametrize(
    ("text", "kind", "fragments"),
    [
        (
            "gene\tp1\tp2\nEGFR\t1\t-2\nKRAS\t2\t3\n",
            "tpm",
            ["negative", "column 3 of the header", "'EGFR'", "log"],
        ),
        (
            "gene\tp1\tp2\nEGFR\t1\t2.5\nKRAS\t2\t3\n",
            "counts",
            ["column 3 of the header", "'EGFR'", "tpm"],
        ),
        (
            "gene\tp1\tp2\nEGFR\t1\tabc\nKRAS\t2\t3\n",
            "log",
            ["'abc'", "'EGFR'", "line 2, column 3", "numbers"],
        ),
        ("gene\tp1\tp2\nNA\t1\t2\n\t2\t3\n", "log", ["no usable gene IDs", "first column"]),
    ],
)
def test_malformed_or_misdeclared_names_file_place_and_fix(tmp_path, text, kind, fragments):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(io.RxrankInputError) as err:
        io.read_expression(path, expression_type=kind, orientation="genes_by_samples")
    assert "bad.tsv" in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


# --- the normaliser as a property -------------------------------------------------------------------

SMALL_MAP = GeneMap(
    ensembl={TP53: ("TP53",), EGFR: ("EGFR",), "ENSG00000004866": ("ST7", "ST7-OT3")},
    symbols={s.upper(): s for s in ["TP53", "EGFR", "C11orf58", "ST7", "ST7-OT3"]},
)
symbol = st.sampled_from(["TP53", "EGFR", "C11orf58", "ST7", "MYGENE1"])
ensembl = st.sampled_from([TP53, EGFR, "ENSG00000004866", "ENSG00000000001"])


@st.composite
def variant(draw):
    """A gene ID as messy files write it: random case, version suffix, surrounding spaces."""
    if draw(st.booleans()):
        base = draw(symbol)
        text = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in base)
    else:
        base = draw(ensembl)
        version = draw(st.one_of(st.just(""), st.integers(1, 99).map(lambda v: f".{v}")))
        text = (base.lower() if draw(st.booleans()) else base) + version
    return base, " " * draw(st.integers(0, 2)) + text


@settings(max_examples=200, deadline=None)
@given(st.lists(variant(), min_size=1, max_size=12))
def test_normaliser_properties(pairs):
    bases = [b for b, _ in pairs]
    ids, table = normalise_gene_ids([t for _, t in pairs], SMALL_MAP)
    expected = {TP53: "TP53", EGFR: "EGFR", "MYGENE1": "MYGENE1"}
    for base, new in zip(bases, ids, strict=True):
        assert new == expected.get(base, base)  # case/version/space variants land on one ID
    again, _ = normalise_gene_ids(ids, SMALL_MAP)
    assert again == ids  # idempotent
    assert len(table) == len(pairs)
    merged = table["action"] == "merged"
    counts = pd.Series(ids).value_counts()
    assert merged.tolist() == [counts[g] > 1 for g in ids]


# --- Affymetrix probe set IDs -------------------------------------------------------------------


def test_affymetrix_probe_ids_each_get_a_reason():
    ids, table = normalise_gene_ids(
        ["205225_at", "X201068_s_at", "207118_s_at", "214919_s_at", "208180_s_at", "217019_at",
         "1552256_a_at", "AFFX-BioB-5_at", "TP53"],
        load_gene_map(),
    )  # fmt: skip
    # ESR1 as such; R's X prefix; a pseudogene (MMP23A) and a read-through (ANKHD1-EIF4EBP3)
    # beside one coding gene; the H4 histone cluster stays a probe; no gene; Plus 2.0 only; control
    assert ids == ["ESR1", "PSMC2", "MMP23B", "EIF4EBP3", "208180_s_at", "217019_at",
                   "1552256_a_at", None, "TP53"]  # fmt: skip
    assert table["id_type"].tolist()[:8] == ["affy_probe"] * 8
    assert table["action"].tolist()[:8] == ["mapped"] * 4 + ["kept"] * 3 + ["dropped"]
    detail = table.set_index("input_id")["detail"]
    assert "several genes (H4C1, H4C11" in detail["208180_s_at"]
    assert "Plus 2.0-only probe sets are not covered" in detail["1552256_a_at"]
    assert "control probe set" in detail["AFFX-BioB-5_at"]


def test_gse7390_probes_map_to_symbols_and_read_in_either_orientation(tmp_path):
    """scikit-survival's GSE7390 (198 breast tumours, 76 HG-U133A probe sets of the Wang et al.
    signature, ``X``-prefixed by R): 70 of the 76 map to one gene; the rest say
    why, and the file is read as genes x samples without an orientation setting."""
    sksurv = pytest.importorskip("sksurv.datasets")
    X, _ = sksurv.load_breast_cancer()
    probes = [c for c in X.columns if c.endswith("_at")]
    assert len(probes) == 76
    ids, table = normalise_gene_ids(probes, load_gene_map())
    mapped = [p for p, g in zip(probes, ids, strict=True) if not g.endswith("_at")]
    assert len(mapped) == 70  # merged probes (two for CD44) say "merged", so count symbols
    assert ids[probes.index("X200726_at")] == "PPP1CC"
    assert set(probes) - set(mapped) == {
        "X208180_s_at", "X209500_x_at", "X210593_at", "X217019_at", "X217102_at", "X217471_at"
    }  # fmt: skip
    expr = X[probes].astype(float)
    expr.index = [f"GSM{i}" for i in range(len(expr))]
    path = _write_genes_by_samples(tmp_path / "gse7390.tsv", expr)
    adata = io.read_expression(path, expression_type="log")
    assert adata.uns["rxrank_io"]["orientation"] == "genes_by_samples"
    assert adata.n_obs == 198 and adata.n_vars == len(set(ids))
    assert {"PPP1CC", "CD44", "208180_s_at"} <= set(adata.var_names)
    # two probes of one gene are averaged (log scale), not summed
    cd44 = [p for p, g in zip(probes, ids, strict=True) if g == "CD44"]
    assert len(cd44) == 2
    np.testing.assert_allclose(
        np.asarray(adata[:, "CD44"].X).ravel(), expr[cd44].mean(axis=1).to_numpy(), rtol=1e-5
    )


# --- end to end: a cohort in Ensembl IDs against a reference in symbols -----------------------------


def test_check_passes_ensembl_cohort_against_symbol_reference(tmp_path, monkeypatch):
    from helpers import small_demo_config

    from rxrank.check import run_check
    from rxrank.demo import DemoSpec, write_demo

    write_demo(tmp_path, DemoSpec(n_patients=30, n_genes=300, n_lines=40, seed=3))
    config = small_demo_config(privacy={"pseudonymize": False})
    expr = tmp_path / config["cohort"]["expression"]
    frame = pd.read_csv(expr, sep="\t", index_col=0)
    to_ensembl = {}
    for ens, symbols in load_gene_map().ensembl.items():
        if len(symbols) == 1 and symbols[0] in frame.index:
            to_ensembl.setdefault(symbols[0], f"{ens}.7")
    assert len(to_ensembl) >= 20  # the demo's drug targets are real HGNC symbols
    frame.index = [to_ensembl.get(g, g) for g in frame.index]
    frame.rename_axis("gene_id").to_csv(expr, sep="\t")
    monkeypatch.chdir(tmp_path)
    report, _ = run_check("config.yaml", config)
    assert report.ok, report.text()
    assert report.counts["genes_shared"] == report.counts["genes_reference"] == 300


def test_annotation_column_and_header_only_tables(tmp_path):
    # RSEM/STAR-style table with a gene-name column next to the IDs
    path = tmp_path / "rsem.tsv"
    path.write_text(f"gene_id\tgene_name\tS1\tS2\n{TP53}.1\tTP53\t1\t2\n{EGFR}.1\tEGFR\t3\t4\n")
    with pytest.raises(io.RxrankInputError) as err:
        io.read_expression(path, expression_type="counts")
    for fragment in ["rsem.tsv", "['gene_name']", "'TP53'", "Delete it"]:
        assert fragment in str(err.value)
    path.write_text(f"gene_id\tS1\tS2\n{TP53}.1\t1\t2\n{EGFR}.1\t3\t4\n")  # the fix
    pd.testing.assert_frame_equal(
        _as_frame(io.read_expression(path, expression_type="counts")),
        _frame([[1, 3], [2, 4]], ["TP53", "EGFR"], ["S1", "S2"]),
    )
    empty = tmp_path / "header.tsv"
    empty.write_text("gene_id\tS1\tS2\n")
    with pytest.raises(io.RxrankInputError, match=r"header\.tsv has a header but no data rows"):
        io.read_expression(empty)


@pytest.mark.slow
def test_a_wheel_carries_the_gene_map_and_maps_ensembl_ids(tmp_path):
    """`pip install .` (not -e) used to build a wheel without the gene map, so Ensembl IDs silently
    stopped mapping: the wheel holds every data file, and an unpacked copy maps an Ensembl ID."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(root)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    wheel = next(tmp_path.glob("rxrank-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("rxrank/data/gene_map.tsv.gz", "rxrank/data/gene_map.json",
                 "rxrank/data/affy_probe_map.tsv.gz", "rxrank/data/affy_probe_map.json",
                 "rxrank/schemas/config.schema.yaml", "rxrank/report/templates/patient.html"):  # fmt: skip
        assert data in names, data
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "from rxrank.gene_ids import default_gene_map_path, normalise_gene_ids, load_gene_map;"
        "print(default_gene_map_path());"
        "print(*normalise_gene_ids(['ENSG00000141510.16', '205225_at'], load_gene_map())[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    assert out[0].startswith(str(site)) and out[1:] == ["TP53", "ESR1"]
