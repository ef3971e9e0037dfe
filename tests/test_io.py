"""Readers: orientation, duplicates, and errors that name the file, the row/column and the fix."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxrank import io


def _write(path, text):
    path.write_text(text)
    return path


def test_orientation_detected_both_ways(tmp_path):
    genes = [f"G{i}" for i in range(6)]
    frame = pd.DataFrame(np.arange(18).reshape(6, 3), index=genes, columns=["p1", "p2", "p3"])
    frame.index.name = "gene_id"
    frame.to_csv(tmp_path / "gxs.tsv", sep="\t")
    frame.T.rename_axis("sample").to_csv(tmp_path / "sxg.csv")
    a = io.read_expression(tmp_path / "gxs.tsv", expression_type="counts")
    b = io.read_expression(tmp_path / "sxg.csv", expression_type="counts")
    assert list(a.obs_names) == list(b.obs_names) == ["p1", "p2", "p3"]
    np.testing.assert_array_equal(a.X, b.X)
    assert a.uns["rxrank_io"]["orientation"] == "genes_by_samples"
    assert b.uns["rxrank_io"]["orientation"] == "samples_by_genes"


def test_ensembl_ids_decide_orientation(tmp_path):
    # more samples than genes: the Ensembl pattern, not the axis length, must decide
    cols = [f"s{i}" for i in range(5)]
    rows = ["ENSG00000141510.17", "ENSG00000012048"]
    frame = pd.DataFrame(np.ones((2, 5)), index=rows, columns=cols)
    frame.to_csv(tmp_path / "e.tsv", sep="\t")
    a = io.read_expression(tmp_path / "e.tsv", expression_type="tpm")
    assert a.n_obs == 5 and a.n_vars == 2


def test_duplicate_genes_summed_for_counts_averaged_otherwise(tmp_path):
    path = _write(tmp_path / "d.tsv", "gene\tp1\tp2\nA\t1\t2\nA\t3\t4\nB\t5\t6\n")
    counts = io.read_expression(path, expression_type="counts", orientation="genes_by_samples")
    assert counts[:, "A"].X.ravel().tolist() == [4, 6]
    tpm = io.read_expression(path, expression_type="tpm", orientation="genes_by_samples")
    assert tpm[:, "A"].X.ravel().tolist() == [2, 3]
    assert counts.uns["rxrank_io"]["duplicate_genes_merged"] == 1


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        ("gene\tp1\tp2\nA\t1\tx\nB\t2\t3\n", "counts", ["'x'", "'A'", "column 3", "numbers"]),
        ("gene\tp1\tp2\nA\t1\t-2\nB\t2\t3\n", "counts", ["negative", "column 3", "'A'", "log"]),
        ("gene\tp1\tp2\nA\t1.5\t2\nB\t2\t3\n", "counts", ["non-integer", "tpm"]),
        ("gene\tp1\tp2\nA\t1\t\nB\t2\t3\n", "tpm", ["missing", "column 3", "'A'"]),
    ],
)
def test_expression_errors_name_place_and_fix(tmp_path, text, kind, words):
    path = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(io.RxrankInputError) as err:
        io.read_expression(path, expression_type=kind, orientation="genes_by_samples")
    msg = str(err.value)
    assert "bad.tsv" in msg
    for w in words:
        assert w in msg


def test_wrong_delimiter_and_empty_file(tmp_path):
    path = _write(tmp_path / "x.tsv", "gene,p1,p2\nA,1,2\n")
    with pytest.raises(io.RxrankInputError, match="comma-separated"):
        io.read_expression(path)
    empty = _write(tmp_path / "e.tsv", "")
    with pytest.raises(io.RxrankInputError, match="empty"):
        io.read_clinical(empty)
    with pytest.raises(io.RxrankInputError, match="not found"):
        io.read_clinical(tmp_path / "nope.tsv")


def test_bom_is_ignored(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_bytes("\ufeffpatient_id\tos_months\tos_event\nP1\t3\t1\n".encode())
    assert list(io.read_clinical(path).index) == ["P1"]


@pytest.mark.parametrize(
    ("row", "words"),
    [("P2\t0\t1", ["os_months", "line 3", "positive"]), ("P2\t5\t2", ["os_event", "line 3", "0"])],
)
def test_clinical_errors(tmp_path, row, words):
    path = _write(tmp_path / "c.tsv", f"patient_id\tos_months\tos_event\nP1\t3\t1\n{row}\n")
    with pytest.raises(io.RxrankInputError) as err:
        io.read_clinical(path)
    for w in words:
        assert w in str(err.value)


def test_clinical_duplicate_and_missing_column(tmp_path):
    path = _write(tmp_path / "c.tsv", "patient_id\tos_months\tos_event\nP1\t3\t1\nP1\t4\t0\n")
    with pytest.raises(io.RxrankInputError, match="line 2 and line 3 hold the same patient ID"):
        io.read_clinical(path)
    with pytest.raises(io.RxrankInputError, match="lacks column"):
        io.read_clinical(path, time_column="time")


def test_response_reader(tmp_path):
    path = _write(tmp_path / "r.tsv", "cell_line\tdrug\tln_ic50\nA\td\t1.5\nB\td\t\nC\td\tabc\n")
    with pytest.raises(io.RxrankInputError, match="row 4"):
        io.read_response(path)
    path = _write(tmp_path / "r.tsv", "cell_line\tdrug\tln_ic50\nA\td\t1.5\nB\td\t\n")
    out = io.read_response(path)
    assert list(out.columns) == ["cell_line", "drug", "value"] and len(out) == 1


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_gzipped_expression(tmp_path):
    path = tmp_path / "x.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("gene\tp1\tp2\nA\t1\t2\nB\t3\t4\nC\t5\t6\n")
    assert io.read_expression(path).shape == (2, 3)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_fuzz_expression_reader_raises_only_rxrank_errors(tmp_path, text):
    path = tmp_path / "fuzz.tsv"
    path.write_text(text, encoding="utf-8")
    try:
        adata = io.read_expression(path, expression_type="tpm")
    except io.RxrankInputError:
        return
    assert np.isfinite(np.asarray(adata.X)).all()


def test_duplicate_sample_ids_rejected_in_header(tmp_path):
    path = _write(tmp_path / "d.tsv", "gene\tp1\tp1\nA\t1\t2\nB\t3\t4\nC\t5\t6\n")
    with pytest.raises(
        io.RxrankInputError,
        match="column 2 of the header and column 3 of the header hold the same patient ID",
    ):
        io.read_expression(path, orientation="genes_by_samples")


def test_binary_features_values_and_errors(tmp_path):
    from rxrank.io import read_binary_features

    path = tmp_path / "features.tsv"
    path.write_text("cell_line\tEGFR_alt\tKRAS_mut\nCL1\t1\tTRUE\nCL2\t0\t\nCL3\tNA\tfalse\n")
    calls = read_binary_features(path)
    assert calls.index.tolist() == ["CL1", "CL2", "CL3"]
    assert calls["EGFR_alt"].tolist()[:2] == [1.0, 0.0] and np.isnan(calls.at["CL3", "EGFR_alt"])
    assert calls.at["CL1", "KRAS_mut"] == 1.0 and calls.at["CL3", "KRAS_mut"] == 0.0
    path.write_text("cell_line\tEGFR_alt\nCL1\t1\nCL2\tyes\n")
    with pytest.raises(io.RxrankInputError, match=r"column .EGFR_alt. holds .yes. for cell line"):
        read_binary_features(path)


def test_parquet_tables_round_trip_filter_and_name_a_damaged_file(tmp_path):
    """write_table/read_output_table: Parquet by suffix (floats, booleans, text, NaN kept), the
    same rows through a filter from Parquet and TSV, and a damaged file named with the fix."""
    frame = pd.DataFrame(
        {
            "patient_id": ["P2", "P1", "P2", "P3"],
            "drug": ["a", "b", "c", "a"],
            "value": [1.5, np.nan, -2.25, 1e-9],
            "beats": [True, False, True, False],
        }
    )
    io.write_table(frame, tmp_path / "t.parquet")
    io.write_table(frame, tmp_path / "t.tsv")
    back = io.read_output_table(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, frame)
    for name in ("t.parquet", "t.tsv"):
        got = io.read_output_table(
            tmp_path / name, columns=["patient_id", "value"], filters=[("patient_id", "in", ["P2"])]
        )
        assert list(got.columns) == ["patient_id", "value"]
        assert got["value"].tolist() == [1.5, -2.25]
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(io.RxrankInputError, match="bad.parquet.*delete it and run snakemake"):
        io.read_output_table(tmp_path / "bad.parquet")
