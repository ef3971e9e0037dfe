"""Screen readers: GDSC, PRISM, wide and long layouts mapped exactly, detected, and rejected clearly."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxrank import io, screens
from rxrank.io import RxrankInputError

# Hand-written miniatures of each layout (made up values, real column names).
GDSC = """\
DATASET,NLME_RESULT_ID,COSMIC_ID,CELL_LINE_NAME,SANGER_MODEL_ID,TCGA_DESC,DRUG_ID,DRUG_NAME,PUTATIVE_TARGET,PATHWAY_NAME,LN_IC50,AUC,RMSE,Z_SCORE
GDSC1,1,683665,MC-CAR,SIDM00636,MM,1,Erlotinib,"EGFR, ERBB2",EGFR signaling,2.5,0.9,0.02,0.5
GDSC2,2,683665,MC-CAR,SIDM00636,MM,1001,Erlotinib,"EGFR, ERBB2",EGFR signaling,3.5,0.8,0.02,1.5
GDSC1,1,684055,ES3,SIDM00265,UNCLASSIFIED,1,Erlotinib,"EGFR, ERBB2",EGFR signaling,-1.25,0.7,0.03,-0.5
GDSC1,1,684055,ES3,SIDM00265,UNCLASSIFIED,5,Cisplatin,DNA crosslinker,DNA replication,,0.6,0.03,
GDSC1,1,684057,ES5,SIDM00263,SKCM,5,Cisplatin,DNA crosslinker,DNA replication,1.75,0.5,0.01,0.2
"""

PRISM = """\
broad_id,depmap_id,ccle_name,screen_id,upper_limit,lower_limit,slope,r2,auc,ec50,ic50,name,moa,target,passed_str_profiling,row_name
BRD-K1-001,ACH-000001,A549_LUNG,HTS002,1,0,-1,0.9,0.8,1.5,2,erlotinib,EGFR inhibitor,"EGFR, ERBB2",TRUE,x
BRD-K1-002,ACH-000001,A549_LUNG,MTS005,1,0,-1,0.9,0.6,1.5,8,erlotinib,EGFR inhibitor,"EGFR, ERBB2",TRUE,x
BRD-K2-001,ACH-000002,KMH2_HAEMATOPOIETIC_AND_LYMPHOID_TISSUE,HTS002,1,0,-1,0.9,0.5,1,0.5,taxol,tubulin inhibitor,TUBB,FALSE,x
BRD-K2-001,ACH-000003,HS578T_BREAST,HTS002,1,0,-1,0.9,0.4,1,NA,taxol,tubulin inhibitor,TUBB,TRUE,x
BRD-K2-001,ACH-000004,HCC1954_BREAST,HTS002,1,0,-1,0.9,0.3,1,0,taxol,tubulin inhibitor,TUBB,TRUE,x
BRD-K2-001,ACH-000005,SKMEL5_SKIN,HTS002,1,0,-1,0.9,0.2,1,0.25,taxol,tubulin inhibitor,TUBB,TRUE,x
"""

WIDE = "cell_line\tErlotinib\tTaxol\nA549\t1.5\t\nMCF7\t-2\t0.25\n"
WIDE_T = "drug\tA549\tMCF7\nErlotinib\t1.5\t-2\nTaxol\t\t0.25\n"
E1, E2 = "Erlotinib (GDSC1:1)", "Erlotinib (GDSC2:1001)"
LONG = "cell_line\tdrug\tln_ic50\ttissue\nA549\terl\t1.5\tlung\nA549\terl\t2.5\tlung\nMCF7\terl\t-1\tbreast\n"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _pairs(response: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(c, d): v for c, d, v in response.itertuples(index=False)}


def test_gdsc_keeps_each_dataset_and_drug_id_apart_and_labels_shared_names(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "gdsc.csv", GDSC), layout="gdsc", dataset=None)
    assert list(screen.response.columns) == ["cell_line", "drug", "value"]
    assert _pairs(screen.response) == {
        ("MC-CAR", E1): 2.5,  # GDSC1 DRUG_ID 1 and GDSC2 DRUG_ID 1001: never averaged
        ("MC-CAR", E2): 3.5,
        ("ES3", E1): -1.25,
        ("ES5", "Cisplatin"): 1.75,  # one (dataset, DRUG_ID): the plain name
    }
    assert screen.tissues.to_dict() == {"MC-CAR": "MM", "ES3": "UNCLASSIFIED", "ES5": "SKCM"}
    assert screen.drugs.index.name == "drug"
    annotation = {"targets": "EGFR;ERBB2", "pathway": "EGFR signaling"}
    assert screen.drugs.to_dict("index") == {
        E1: annotation,
        E2: annotation,
        "Cisplatin": {"targets": "DNA crosslinker", "pathway": "DNA replication"},
    }
    assert screen.drug_ids.to_dict("index") == {
        E1: {"name": "Erlotinib", "dataset": "GDSC1", "drug_id": "1"},
        E2: {"name": "Erlotinib", "dataset": "GDSC2", "drug_id": "1001"},
        "Cisplatin": {"name": "Cisplatin", "dataset": "GDSC1", "drug_id": "5"},
    }
    assert (screen.layout, screen.metric) == ("gdsc", "ln_ic50")
    notes = "\n".join(screen.notes)
    assert "1 drug name(s) stand for more than one measurement" in notes and "Erlotinib" in notes
    assert "measured more than once" not in notes
    assert "dropped 1 row(s) with an empty value" in notes
    assert "['GDSC1', 'GDSC2'] are all kept" in notes
    assert any("never averaged" in w for w in screen.warnings)


def test_gdsc_dataset_auto_keeps_gdsc2_and_a_named_dataset_keeps_that_one(tmp_path):
    path = _write(tmp_path / "gdsc.csv", GDSC)
    auto = screens.read_screen(path)
    assert _pairs(auto.response) == {("MC-CAR", "Erlotinib"): 3.5}
    assert any(
        "kept the 1 row(s) of dataset 'GDSC2'" in n and "3 of 'GDSC1'" in n for n in auto.notes
    )
    gdsc1 = screens.read_screen(path, dataset="gdsc1")
    assert _pairs(gdsc1.response) == {
        ("MC-CAR", "Erlotinib"): 2.5,
        ("ES3", "Erlotinib"): -1.25,
        ("ES5", "Cisplatin"): 1.75,
    }
    with pytest.raises(RxrankInputError, match=r"holds dataset\(s\) \['GDSC1', 'GDSC2'\]"):
        screens.read_screen(path, dataset="GDSC3")
    with pytest.raises(RxrankInputError, match="names no dataset"):
        screens.read_screen(_write(tmp_path / "l.tsv", LONG), dataset="GDSC2")


def test_gdsc_without_drug_ids_warns_that_repeats_cannot_be_told_apart(tmp_path):
    text = "CELL_LINE_NAME,DRUG_NAME,LN_IC50\nA,Afatinib,1\nA,Afatinib,3.5\nB,Afatinib,2\n"
    screen = screens.read_screen(_write(tmp_path / "cut.csv", text))
    assert _pairs(screen.response) == {("A", "Afatinib"): 2.25, ("B", "Afatinib"): 2.0}
    assert any("no DRUG_ID column" in w and "Afatinib" in w for w in screen.warnings)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"metric": "auc", "aggregate": "first", "cell_line_id": "cosmic", "dataset": None},
            {
                ("683665", E1): 0.9,
                ("683665", E2): 0.8,
                ("684055", E1): 0.7,
                ("684055", "Cisplatin"): 0.6,
                ("684057", "Cisplatin"): 0.5,
            },
        ),
        (
            {"metric": "z_score", "cell_line_id": "sanger", "dataset": "GDSC1"},
            {
                ("SIDM00636", "Erlotinib"): 0.5,
                ("SIDM00265", "Erlotinib"): -0.5,
                ("SIDM00263", "Cisplatin"): 0.2,
            },
        ),
        (
            {"value_column": "rmse", "metric": "rmse", "aggregate": "median", "dataset": "GDSC1"},
            {
                ("MC-CAR", "Erlotinib"): 0.02,
                ("ES3", "Erlotinib"): 0.03,
                ("ES3", "Cisplatin"): 0.03,
                ("ES5", "Cisplatin"): 0.01,
            },
        ),
    ],
)
def test_gdsc_metric_id_and_aggregate_options(tmp_path, options, expected):
    screen = screens.read_screen(_write(tmp_path / "gdsc.csv", GDSC), **options)
    assert screen.layout == "gdsc"
    assert _pairs(screen.response) == pytest.approx(expected)


def test_gdsc_without_tissue_or_annotation_columns(tmp_path):
    text = "CELL_LINE_NAME\tDRUG_NAME\tLN_IC50\nA\tx\t1\nB\tx\t2\n"
    screen = screens.read_screen(_write(tmp_path / "g.tsv", text))
    assert screen.layout == "gdsc" and screen.tissues is None and screen.drugs is None
    assert _pairs(screen.response) == {("A", "x"): 1.0, ("B", "x"): 2.0}


def test_gdsc_cosmic_ids_lose_spreadsheet_decimals(tmp_path):
    text = "COSMIC_ID\tDRUG_NAME\tLN_IC50\n683665.0\tx\t1\n"
    screen = screens.read_screen(_write(tmp_path / "g.tsv", text), cell_line_id="cosmic")
    assert list(screen.response["cell_line"]) == ["683665"]


def test_prism_ln_ic50_str_filter_tissue_and_targets(tmp_path):
    screen = screens.read_screen(
        _write(tmp_path / "prism.csv", PRISM), layout="prism", metric="ln_ic50"
    )
    # A549 erlotinib: two broad_ids in two screens, IC50 2 and 8: two drugs, never averaged
    hts, mts = "erlotinib (HTS002:BRD-K1-001)", "erlotinib (MTS005:BRD-K1-002)"
    assert _pairs(screen.response) == pytest.approx(
        {
            ("ACH-000001", hts): math.log(2.0),
            ("ACH-000001", mts): math.log(8.0),
            ("ACH-000005", "taxol"): math.log(0.25),
        },
        rel=1e-12,
    )
    assert screen.tissues.to_dict() == {"ACH-000001": "lung", "ACH-000005": "skin"}
    erlotinib = {"targets": "EGFR;ERBB2", "pathway": "EGFR inhibitor"}
    assert screen.drugs.to_dict("index") == {
        hts: erlotinib,
        mts: erlotinib,
        "taxol": {"targets": "TUBB", "pathway": "tubulin inhibitor"},
    }
    notes = "\n".join(screen.notes)
    assert "dropped 1 row(s) not marked as passing STR profiling" in notes
    assert "dropped 2 row(s) with a missing or non-positive ic50" in notes
    # curves without an IC50 are left out loudly, never silently
    assert any("2 row(s) with a missing or non-positive ic50" in w for w in screen.warnings)
    assert "measured more than once" not in notes


def test_prism_default_metric_is_auc_and_keeps_curves_without_ic50(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "prism.csv", PRISM))
    assert screen.metric == "auc" and not screen.warnings[1:]
    assert _pairs(screen.response) == pytest.approx(
        {
            ("ACH-000001", "erlotinib (HTS002:BRD-K1-001)"): 0.8,
            ("ACH-000001", "erlotinib (MTS005:BRD-K1-002)"): 0.6,
            ("ACH-000003", "taxol"): 0.4,  # ic50 NA: kept under AUC
            ("ACH-000004", "taxol"): 0.3,
            ("ACH-000005", "taxol"): 0.2,
        }
    )


def test_prism_auc_by_ccle_name_keeps_all_passing_rows(tmp_path):
    screen = screens.read_screen(
        _write(
            tmp_path / "prism.csv", PRISM.replace("MTS005", "HTS002").replace("K1-002", "K1-001")
        ),
        metric="auc",
        cell_line_id="ccle",
    )
    assert _pairs(screen.response) == pytest.approx(
        {
            ("A549_LUNG", "erlotinib"): 0.7,  # one (screen, broad_id) measured twice: merged
            ("HS578T_BREAST", "taxol"): 0.4,
            ("HCC1954_BREAST", "taxol"): 0.3,
            ("SKMEL5_SKIN", "taxol"): 0.2,
        }
    )
    assert screen.tissues["HS578T_BREAST"] == "breast"
    assert "KMH2_HAEMATOPOIETIC_AND_LYMPHOID_TISSUE" not in screen.tissues  # failed STR


def test_prism_tissue_keeps_the_whole_suffix_and_unnamed_drugs_use_broad_id(tmp_path):
    text = (
        "broad_id,depmap_id,ccle_name,auc,name\n"
        "BRD-K9,ACH-000002,KMH2_HAEMATOPOIETIC_AND_LYMPHOID_TISSUE,0.5,\n"
        "BRD-K9,ACH-000003,NOSUFFIX,0.25,NA\n"
    )
    screen = screens.read_screen(_write(tmp_path / "p.csv", text), metric="auc")
    assert _pairs(screen.response) == {
        ("ACH-000002", "BRD-K9"): 0.5,
        ("ACH-000003", "BRD-K9"): 0.25,
    }
    assert screen.tissues.to_dict() == {"ACH-000002": "haematopoietic_and_lymphoid_tissue"}
    assert screen.drugs is None
    assert any("use their broad_id" in n for n in screen.notes)


def test_wide_both_orientations_and_tissue_column(tmp_path):
    expected = {("A549", "Erlotinib"): 1.5, ("MCF7", "Erlotinib"): -2.0, ("MCF7", "Taxol"): 0.25}
    a = screens.read_screen(_write(tmp_path / "w.tsv", WIDE), layout="wide")
    b = screens.read_screen(_write(tmp_path / "t.tsv", WIDE_T), orientation="drugs_by_lines")
    assert _pairs(a.response) == _pairs(b.response) == expected
    assert a.layout == b.layout == "wide" and a.tissues is None and a.drugs is None
    assert any("dropped 1 cell(s) with an empty value" in n for n in a.notes)
    text = "\tErlotinib\ttissue\tErlotinib\nA549\t1\tlung\t2\nA549\t4\tlung\t\n"
    c = screens.read_screen(_write(tmp_path / "r.tsv", text))  # R-style empty first header
    assert _pairs(c.response) == {("A549", "Erlotinib"): pytest.approx(7 / 3)}
    assert c.tissues.to_dict() == {"A549": "lung"}


def test_long_with_tissue_value_column_and_duplicates(tmp_path):
    path = _write(tmp_path / "l.tsv", LONG)
    screen = screens.read_screen(path)
    assert screen.layout == "long"
    assert _pairs(screen.response) == {("A549", "erl"): 2.0, ("MCF7", "erl"): -1.0}
    assert screen.tissues.to_dict() == {"A549": "lung", "MCF7": "breast"}
    assert screen.drugs is None
    renamed = _write(tmp_path / "v.csv", LONG.replace("ln_ic50", "AUC").replace("\t", ","))
    auc = screens.read_screen(renamed, metric="auc", aggregate="first")
    assert _pairs(auc.response) == {("A549", "erl"): 1.5, ("MCF7", "erl"): -1.0}
    other = screens.read_screen(renamed, value_column="AUC", metric="auc")
    assert other.metric == "auc" and len(other.response) == 2


def test_long_reader_agrees_with_read_response_on_the_demo(demo_dir):
    path = demo_dir / "reference_response.tsv"
    screen = screens.read_screen(path)
    assert screen.layout == "long"
    pd.testing.assert_frame_equal(screen.response, io.read_response(path))


@pytest.mark.parametrize(
    ("name", "text", "layout"),
    [
        ("gdsc.csv", GDSC, "gdsc"),
        ("prism.csv", PRISM, "prism"),
        ("wide.tsv", WIDE, "wide"),
        ("long.tsv", LONG, "long"),
    ],
)
def test_auto_detection_of_each_layout(tmp_path, caplog, name, text, layout):
    with caplog.at_level("INFO", logger="rxrank.screens"):
        screen = screens.read_screen(_write(tmp_path / name, text))
    assert screen.layout == layout
    assert f"layout {layout!r} auto-detected" in screen.notes[0]
    assert f"layout {layout!r} auto-detected" in caplog.text


@pytest.mark.parametrize(
    ("header", "layout"),
    [
        (["DATASET", "CELL_LINE_NAME", "DRUG_NAME", "LN_IC50"], "gdsc"),
        (["COSMIC_ID", "DRUG_NAME", "AUC"], "gdsc"),
        (["Drug Name", "Drug ID", "Cell Line Name", "IC50"], "gdsc_web"),
        (["experiment_id", "area_under_curve", "master_cpd_id"], "ctrp"),
        (["ccl_name", "cpd_name", "area_under_curve"], "ctrp"),
        (["CCLE Cell Line Name", "Compound", "IC50 (uM)"], "ccle"),
        (["depmap_id", "name", "auc"], "prism"),
        (["broad_id", "foo"], "prism"),
        (["cell_line", "drug", "ln_ic50"], "long"),  # rxrank's own table is not GDSC
        (["Cell_Line", "Drug", "auc", "tissue"], "long"),
        (["", "Erlotinib", "Taxol"], "wide"),
        (["cell_line", "Erlotinib"], "wide"),
    ],
)
def test_detect_layout_rules(header, layout):
    found, reason = screens.detect_layout(header)
    assert found == layout and reason


@pytest.mark.parametrize(
    ("text", "options", "layout", "missing", "found"),
    [
        ("CELL_LINE_NAME,DRUG_NAME,AUC\nA,x,1\n", {}, "gdsc", "['LN_IC50']", "'AUC'"),
        (
            "CELL_LINE_NAME,DRUG_NAME,AUC\nA,x,1\n",
            {"cell_line_id": "sanger", "metric": "auc"},
            "gdsc",
            "['SANGER_MODEL_ID']",
            "'CELL_LINE_NAME'",
        ),
        ("broad_id,depmap_id,auc\nB,A,1\n", {"metric": "auc"}, "prism", "['name']", "'broad_id'"),
        ("depmap_id,name,ic50\nA,x,1\n", {}, "prism", "['auc']", "'ic50'"),
        ("cell_line,drug,auc\nA,x,1\n", {}, "long", "['ln_ic50']", "'auc'"),
        ("cell_line,drug\nA,x\n", {"layout": "long", "value_column": "v"}, "long", "['v']", ""),
        (
            "a,b\n1,2\n",
            {"layout": "gdsc"},
            "gdsc",
            "['CELL_LINE_NAME', 'DRUG_NAME', 'LN_IC50']",
            "",
        ),
    ],
)
def test_missing_columns_are_named(tmp_path, text, options, layout, missing, found):
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(_write(tmp_path / "bad.csv", text), **options)
    msg = str(err.value)
    assert "bad.csv" in msg and f"the {layout} layout" in msg and missing in msg
    assert found in msg and "its header has" in msg


@pytest.mark.parametrize(
    ("text", "options", "words"),
    [
        (GDSC.replace("-1.25", "abc"), {}, ["line 4", "'LN_IC50'", "'abc'", "number"]),
        (GDSC.replace("-1.25", "inf"), {}, ["line 4", "'inf'", "finite"]),
        (PRISM.replace(",8,", ",1;5,"), {"metric": "ic50"}, ["line 3", "'ic50'", "'1;5'"]),
        (LONG.replace("-1", "1,5") + "\n", {}, ["line 4", "'ln_ic50'", "'1,5'"]),
        # the blank line counts: file line numbers, not data-row numbers
        ("cell_line\tErl\tTax\n\nA\t1\t2\nB\t3\tx\n", {}, ["line 4", "'Tax'", "'x'"]),
        (
            "drug\tA\tB\nErl\t1\t2\nTax\t3\t?\n",
            {"orientation": "drugs_by_lines"},
            ["line 3", "'B'"],
        ),
    ],
)
def test_non_numeric_values_name_line_and_column(tmp_path, text, options, words):
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(
            _write(tmp_path / "bad.tsv" if "\t" in text else tmp_path / "bad.csv", text), **options
        )
    msg = str(err.value)
    assert "bad." in msg
    for w in words:
        assert w in msg


@pytest.mark.parametrize(
    ("layout", "metric", "available"),
    [("gdsc", "ic50", "['auc', 'ln_ic50', 'z_score']"), ("prism", "z_score", "'ln_ic50'")],
)
def test_unknown_metric_names_those_available(tmp_path, layout, metric, available):
    text = GDSC if layout == "gdsc" else PRISM
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(_write(tmp_path / "s.csv", text), metric=metric)
    msg = str(err.value)
    assert f"metric {metric!r}" in msg and layout in msg and available in msg and "s.csv" in msg


@pytest.mark.parametrize(
    ("text", "options", "words"),
    [
        (
            PRISM.replace("TRUE", "FALSE"),
            {"metric": "auc"},
            ["no usable measurements", "6 row(s) not marked as passing STR profiling"],
        ),
        (
            "depmap_id,name,ic50\nA,x,0\nB,x,-2\nC,x,\n",
            {"metric": "ln_ic50"},
            ["no usable measurements", "3 row(s) with a missing or non-positive ic50"],
        ),
        ("cell_line,drug,ln_ic50\nA,x,\n,y,2\n", {}, ["1 row(s) without a cell line or drug"]),
        ("cell_line\tErl\n", {}, ["0 data row(s) read", "no data rows"]),
    ],
)
def test_empty_result_says_why(tmp_path, text, options, words):
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(
            _write(tmp_path / ("e.tsv" if "\t" in text else "e.csv"), text), **options
        )
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"layout": "excel"}, ["layout='excel'", "'gdsc'"]),
        ({"aggregate": "max"}, ["aggregate='max'", "'first'"]),
        ({"orientation": "sideways"}, ["orientation='sideways'"]),
        ({"metric": ""}, ["metric"]),
        ({"cell_line_id": "ccle"}, ["cell_line_id='ccle'", "['cosmic', 'name', 'sanger']"]),
        ({"orientation": "drugs_by_lines"}, ["wide layout only", "gdsc"]),
    ],
)
def test_bad_options(tmp_path, options, words):
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(_write(tmp_path / "gdsc.csv", GDSC), **options)
    for w in words:
        assert w in str(err.value)


def test_options_that_do_not_apply_to_the_layout(tmp_path):
    with pytest.raises(RxrankInputError, match="cell_line_id applies to"):
        screens.read_screen(_write(tmp_path / "l.tsv", LONG), cell_line_id="name")
    with pytest.raises(RxrankInputError, match="value_column applies to"):
        screens.read_screen(_write(tmp_path / "w.tsv", WIDE), value_column="x")


def test_bad_str_flag_and_duplicate_header_are_named(tmp_path):
    path = _write(tmp_path / "p.csv", PRISM.replace("FALSE", "maybe"))
    with pytest.raises(RxrankInputError, match=r"line 4, column 'passed_str_profiling': 'maybe'"):
        screens.read_screen(path)
    path = _write(tmp_path / "d.tsv", "cell_line\tdrug\tln_ic50\tLN_IC50\nA\tx\t1\t2\n")
    with pytest.raises(RxrankInputError, match=r"'ln_ic50' appears 2 times.*columns \[3, 4\]"):
        screens.read_screen(path)


def test_auto_detected_errors_say_how_the_layout_was_chosen(tmp_path):
    path = _write(tmp_path / "typo.tsv", "CELL_LINE_NAME\tDRUG_NAME\tauc\nA\tx\t1\n")
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(path)
    msg = str(err.value)
    assert "the gdsc layout" in msg and "['LN_IC50']" in msg
    assert "auto-detected" in msg and "layout=" in msg


@pytest.mark.parametrize(
    "text",
    [
        "cellline\tdrug\tauc\nA\tx\t1\n",  # a typo: once read as a wide matrix of two drugs
        "cellline\tdrug\tln_ic50\nA\tx\t1\n",  # once read as GDSC for its LN_IC50 column
        "x\tLN_IC50\nA\t1\n",
        # CTRPv2's per-experiment meta table: once read silently as drugs named after its columns
        "experiment_id\trun_id\texperiment_date\tculture_media\tbaseline_signal\tmaster_ccl_id\n"
        "1\t1\t20120101\tRPMI\t500\t1\n",
        "cell_line\tconc_pts_fit\tp1_center\tp2_slope\n",  # a wide matrix with no drug columns
    ],
)
def test_unknown_layouts_are_refused_with_the_list_of_layouts(tmp_path, text):
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(_write(tmp_path / "unknown.tsv", text))
    msg = str(err.value)
    assert "unknown.tsv" in msg and "fits none of the screen layouts" in msg
    for layout in screens.LAYOUTS[1:]:
        assert f"{layout} (" in msg


def test_file_errors(tmp_path):
    with pytest.raises(RxrankInputError, match="not found"):
        screens.read_screen(tmp_path / "nope.tsv")
    with pytest.raises(RxrankInputError, match="empty"):
        screens.read_screen(_write(tmp_path / "e.tsv", ""))
    with pytest.raises(RxrankInputError, match="comma-separated"):
        screens.read_screen(_write(tmp_path / "c.tsv", "cell_line,drug,ln_ic50\nA,x,1\n"))
    with pytest.raises(RxrankInputError, match="not.*xlsx workbook.*Export the sheet as CSV"):
        screens.read_screen(_write(tmp_path / "g.xlsx", "PK"))
    with pytest.raises(RxrankInputError, match="Export the sheet as CSV"):
        screens.read_screen(_write(tmp_path / "g.xls", "PK"))
    with pytest.raises(RxrankInputError, match="could not be parsed as TSV.*R row names"):
        screens.read_screen(_write(tmp_path / "r.tsv", "Erl\tTax\nA\t1\t2\n"))
    with pytest.raises(RxrankInputError, match="fake.tsv.gz is damaged or truncated"):
        screens.read_screen(_write(tmp_path / "fake.tsv.gz", "cell_line\tdrug\tln_ic50\n"))
    (tmp_path / "latin1.tsv").write_bytes(
        "cell_line\tdrug\tln_ic50\nA\t\xe9\t1\n".encode("latin-1")
    )
    with pytest.raises(RxrankInputError, match="UTF-8"):
        screens.read_screen(tmp_path / "latin1.tsv")


def test_gzip_and_bom(tmp_path):
    gz = tmp_path / "gdsc.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(GDSC)
    assert screens.read_screen(gz).layout == "gdsc"
    bom = tmp_path / "long.tsv"
    bom.write_bytes(("\ufeff" + LONG).encode("utf-8"))
    assert screens.read_screen(bom).layout == "long"


def test_write_round_trips_through_the_config_readers(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "gdsc.csv", GDSC), dataset="GDSC1")
    paths = screen.write(tmp_path / "out")
    assert sorted(paths) == ["cell_lines", "drugs", "response"]
    response = io.read_response(paths["response"], value_column="ln_ic50")
    pd.testing.assert_frame_equal(response, screen.response)
    pd.testing.assert_frame_equal(io.read_drugs(paths["drugs"]), screen.drugs)
    lines = pd.read_csv(paths["cell_lines"], sep="\t", dtype=str)
    assert list(lines.columns) == ["cell_line", "tissue"] and len(lines) == 3


def _check_screen(screen: screens.Screen) -> None:
    response = screen.response
    assert list(response.columns) == ["cell_line", "drug", "value"] and len(response)
    assert np.isfinite(response["value"].to_numpy(dtype=float)).all()
    assert not response.duplicated(["cell_line", "drug"]).any()
    assert (response["cell_line"] != "").all() and (response["drug"] != "").all()
    assert screen.layout in screens.LAYOUTS[1:] and screen.notes
    if screen.tissues is not None:
        assert set(screen.tissues.index) <= set(response["cell_line"])
    if screen.drugs is not None:
        assert list(screen.drugs.columns) == ["targets", "pathway"]
        assert set(screen.drugs.index) == set(response["drug"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_fuzz_any_text_gives_a_screen_or_an_input_error(tmp_path, text):
    path = tmp_path / "fuzz.tsv"
    path.write_text(text, encoding="utf-8")
    try:
        screen = screens.read_screen(path, layout="auto")
    except RxrankInputError:
        return
    _check_screen(screen)


COLUMNS = [
    "CELL_LINE_NAME", "DRUG_NAME", "LN_IC50", "AUC", "COSMIC_ID", "PUTATIVE_TARGET", "TCGA_DESC",
    "DRUG_ID", "depmap_id", "ccle_name", "name", "broad_id", "ic50", "auc", "target", "moa",
    "passed_str_profiling", "cell_line", "drug", "ln_ic50", "tissue", "targets", "Erl", "",
]  # fmt: skip
CELLS = ["", "NA", "1.5", "-2", "0", "1e3", "inf", "x", "TRUE", "FALSE", "A_LUNG", "EGFR, ERBB2"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6),
    st.lists(st.lists(st.sampled_from(CELLS), min_size=6, max_size=6), max_size=6),
    st.sampled_from([{}, {"metric": "auc"}, {"aggregate": "first"}]),
)
def test_fuzz_screen_shaped_tables(tmp_path, header, rows, options):
    lines = ["\t".join(header)] + ["\t".join(r[: len(header)]) for r in rows]
    path = _write(tmp_path / "shaped.tsv", "\n".join(lines) + "\n")
    try:
        screen = screens.read_screen(path, **options)
    except RxrankInputError:
        return
    _check_screen(screen)
