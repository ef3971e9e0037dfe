"""Patient mutations and copy-number calls: the MAF and call-table readers with real-world quirks,
and the mapping onto the reference's binary feature names."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxrank.errors import RxrankInputError
from rxrank.genomics import parse_feature, patient_features, read_maf, read_patient_calls

MAF = """#version 2.4
#filedate 20261206
Hugo_Symbol\tEntrez_Gene_Id\tCenter\tTumor_Sample_Barcode\tVariant_Classification\tHGVSp_Short\tt_alt_count
BRAF\t673\tBI\tP001\tMissense_Mutation\tp.V600E\t31
braf\t673\tBI\tP001\tMissense_Mutation\tp.V600E\t31
TP53\t7157\tBI\tP001\tSilent\tp.P72P\t12
TP53\t7157\tBI\tP002\tNonsense_Mutation\tp.R213*\t40
KRAS\t3845\tBI\tP003\tIntron\t\t5
EGFR\t1956\tBI\tP004\tIn_Frame_Del\tp.E746_A750del\t22
"""


def _write(path, text):
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["cohort.maf", "cohort.maf.gz"])
def test_maf_comment_lines_extra_columns_and_silent_variants(tmp_path, name):
    events = read_maf(_write(tmp_path / name, MAF))
    # the duplicate lower-case BRAF row is one event; silent TP53 (P001) and intronic KRAS are out
    assert events[["patient_id", "gene", "kind", "protein_change"]].values.tolist() == [
        ["P001", "BRAF", "mut", "p.V600E"],
        ["P002", "TP53", "mut", "p.R213*"],
        ["P004", "EGFR", "mut", "p.E746_A750del"],
    ]
    assert events.attrs["rows"] == 6 and events.attrs["silent"] == 2
    # P003 has only an intronic variant: assessed, without mutations
    assert events.attrs["assessed"] == ["P001", "P002", "P003", "P004"]


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda t: t.replace("Missense_Mutation\tp.V600E\t31\nbraf", "Missense\tp.V600E\t31\nbraf"),
         ["data row 1", "'Missense'", "Missense_Mutation"]),
        (lambda t: t.replace("Tumor_Sample_Barcode", "Sample"), ["no column(s)", "Tumor_Sample_Barcode"]),
        (lambda t: t.replace("EGFR\t1956\tBI\tP004", "EGFR\t1956\tBI\t"), ["data row 6", "empty"]),
        (lambda t: t.replace("\t22\n", "\t22\textra\n"), ["data row 6", "8 fields, the header 7"]),
    ],
)  # fmt: skip
def test_maf_errors_name_the_row_and_the_fix(tmp_path, edit, fragments):
    with pytest.raises(RxrankInputError) as err:
        read_maf(_write(tmp_path / "bad.maf", edit(MAF)))
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_feature_names_gdsc_style():
    assert parse_feature("BRAF_mut") == ("mut", ("BRAF",))
    assert parse_feature("EGFR_alt") == ("alt", ("EGFR",))
    assert parse_feature("gain:cnaPANCAN301 (CDK12,ERBB2,MED24)") == (
        "amp", ("CDK12", "ERBB2", "MED24"))  # fmt: skip
    assert parse_feature("loss:cnaPANCAN1 (PTEN)") == ("del", ("PTEN",))
    assert parse_feature("EWSR1-FLI1_fusion") == ("fusion", ("EWSR1", "FLI1"))
    assert parse_feature("BCR_ABL_fusion") == ("fusion", ("BCR", "ABL"))
    assert parse_feature("MSI") is None and parse_feature("tissue_lung") is None


def test_patients_map_onto_reference_features(tmp_path):
    mutations = read_maf(_write(tmp_path / "m.maf", MAF))
    calls = read_patient_calls(_write(tmp_path / "calls.tsv", (
        "patient\tERBB2_amp\tPTEN_del\tEWSR1-FLI1_fusion\n"
        "P001\t0\t1\t0\nP002\t1\t0\t\nP005\t1\tNA\t1\n"
    )))  # fmt: skip
    features = ["BRAF_mut", "TP53_mut", "gain:cna1 (CDK12,ERBB2)", "PTEN_del",
                "FLI1_EWSR1_fusion", "EGFR_alt", "KRAS_mut", "MSI"]  # fmt: skip
    patients = ["P001", "P002", "P003", "P004", "P005", "P006"]
    matrix, table = patient_features(features, patients, mutations=mutations, calls=calls)
    nan = np.nan
    expected = pd.DataFrame(
        {
            "BRAF_mut": [1, 0, 0, 0, nan, nan],
            "TP53_mut": [0, 1, 0, 0, nan, nan],
            "gain:cna1 (CDK12,ERBB2)": [0, 1, nan, nan, 1, nan],
            "PTEN_del": [1, 0, nan, nan, nan, nan],
            "FLI1_EWSR1_fusion": [0, nan, nan, nan, 1, nan],  # partners in either order
            "EGFR_alt": [0, 0, 0, 1, 0, nan],  # any kind; P005 assessed for calls
            "KRAS_mut": [0, 0, 0, 0, nan, nan],  # P003's KRAS variant is intronic
            "MSI": [nan] * 6,
        },
        index=pd.Index(patients, name="patient_id"),
    )
    pd.testing.assert_frame_equal(matrix, expected, check_dtype=False)
    t = table.set_index("feature")
    assert t.loc["BRAF_mut", "note"] == "1 patient(s) carry it"
    assert t.loc["MSI", "note"].startswith("name not read")
    assert t.loc["gain:cna1 (CDK12,ERBB2)", ["patients_assessed", "patients_with"]].tolist() == [
        3,
        2,
    ]


def test_calls_table_refuses_unreadable_names_and_values(tmp_path):
    with pytest.raises(RxrankInputError, match=r"column 'smoker' is not a call"):
        read_patient_calls(_write(tmp_path / "a.tsv", "patient\tsmoker\nP1\t1\n"))
    with pytest.raises(RxrankInputError, match=r"line 3, column 'BRAF_mut': 'yes'"):
        read_patient_calls(_write(tmp_path / "b.tsv", "patient\tBRAF_mut\nP1\t1\nP2\tyes\n"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["Missense_Mutation", "Silent", "Intron", "Nonsense_Mutation"]),
                min_size=1, max_size=12))  # fmt: skip
def test_maf_keeps_exactly_the_protein_altering_rows(tmp_path_factory, classes):
    body = "".join(f"G{i}\tP{i % 3}\t{c}\n" for i, c in enumerate(classes))
    path = tmp_path_factory.mktemp("maf") / "x.maf"
    path.write_text("#v\nHugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\n" + body)
    events = read_maf(path)
    kept = [f"G{i}" for i, c in enumerate(classes) if c.endswith("Mutation")]
    assert events["gene"].tolist() == kept
    assert events.attrs["silent"] == len(classes) - len(kept)
