"""The files users download, read by their real column layouts: GDSC (CSV, .xlsx, website export),
CTRPv2, CCLE 2012, DepMap's Model.csv, and Sanger's and DepMap's expression tables."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxrank import io, screens
from rxrank.io import RxrankInputError

# Made-up values under the exact headers of the published files.
GDSC_FITTED = """\
DATASET,NLME_RESULT_ID,NLME_CURVE_ID,COSMIC_ID,CELL_LINE_NAME,SANGER_MODEL_ID,TCGA_DESC,DRUG_ID,DRUG_NAME,PUTATIVE_TARGET,PATHWAY_NAME,COMPANY_ID,WEBRELEASE,MIN_CONC,MAX_CONC,LN_IC50,AUC,RMSE,Z_SCORE
GDSC2,343,15946310,683667,PFSK-1,SIDM01132,MB,1003,Camptothecin,TOP1,DNA replication,1046,Y,0.0001,0.1,-1.463887,0.93022,0.089052,0.433123
GDSC2,343,15946548,684052,A673,SIDM00848,UNCLASSIFIED,1003,Camptothecin,TOP1,DNA replication,1046,Y,0.0001,0.1,-4.869455,0.61497,0.111351,-1.4211
GDSC2,343,15946830,684057,ES5,SIDM00263,UNCLASSIFIED,1032,Afatinib,"ERBB2, EGFR",EGFR signaling,1046,Y,0.001,1,2.25,0.98,0.09,NA
GDSC2,343,15947232,684057,ES5,SIDM00263,UNCLASSIFIED,1377,Afatinib,"ERBB2, EGFR",EGFR signaling,1046,Y,0.001,1,-0.25,0.72,0.09,0.1
GDSC1,17,14955213,684057,ES5,SIDM00263,UNCLASSIFIED,1032,Afatinib,"ERBB2, EGFR",EGFR signaling,1046,Y,0.001,1,1.5,0.95,0.07,0.2
"""
GDSC_WEB = """\
Drug Name,Drug ID,Cell Line Name,Cosmic ID,TCGA Classification,Tissue,Tissue Sub-type,IC50,AUC,Max Conc,RMSE,Z score,Dataset Version
Camptothecin,1003,PFSK-1,683667,MB,nervous_system,medulloblastoma,-1.463887,0.93022,0.1,0.089052,0.433123,GDSC2
Camptothecin,1003,A673,684052,UNCLASSIFIED,soft_tissue,rhabdomyosarcoma,-4.869455,0.61497,0.1,0.111351,-1.4211,GDSC2
"Afatinib",1032,"ES5",684057,UNCLASSIFIED,bone,ewings_sarcoma,2.25,0.98,1,0.09,NA,GDSC2
"""
CTRP = (
    "experiment_id\tconc_pts_fit\tfit_num_param\tp1_center\tp2_slope\tp3_total_decline\t"
    "p4_baseline\tapparent_ec50_umol\tpred_pv_high_conc\tarea_under_curve\tmaster_cpd_id\t"
    "master_ccl_id\tccl_name\tccle_primary_site\tcpd_name\tgene_symbol_of_protein_target\t"
    "target_or_activity_of_compound\n"
    "1\t16\t3\t1.1\t2.0\t0.9\t1\t1.2\t0.1\t10.5\t1788\t1\tCAS1\tcentral_nervous_system\t"
    "navitoclax\tBCL2;BCL2L1\tinhibitor of BCL2\n"
    "1\t16\t3\t1.1\t2.0\t0.9\t1\tNA\t0.9\t14.25\t3588\t1\tCAS1\tcentral_nervous_system\t"
    "vorinostat\tHDAC1;HDAC2\tinhibitor of HDAC\n"
    "2\t16\t3\t1.1\t2.0\t0.9\t1\t0.5\t0.1\t8.5\t1788\t2\t22RV1\tprostate\tnavitoclax\t"
    "BCL2;BCL2L1\tinhibitor of BCL2\n"
    "3\t16\t3\t1.1\t2.0\t0.9\t1\t0.7\t0.1\t9.5\t1788\t2\t22RV1\tprostate\tnavitoclax\t"
    "BCL2;BCL2L1\tinhibitor of BCL2\n"
)
CTRP_CURVES = (  # v20.data.curves_post_qc.txt alone: no compound or cell-line names
    "experiment_id\tconc_pts_fit\tfit_num_param\tp1_conf_int_high\tp1_conf_int_low\t"
    "p2_conf_int_high\tp2_conf_int_low\tp4_conf_int_high\tp4_conf_int_low\tp1_center\tp2_slope\t"
    "p3_total_decline\tp4_baseline\tapparent_ec50_umol\tpred_pv_high_conc\tarea_under_curve\t"
    "master_cpd_id\n"
    "1\t16\t3\tNA\tNA\tNA\tNA\tNA\tNA\t1.1\t2\t0.9\t1\t1.2\t0.1\t10.5\t1788\n"
)
CCLE = """\
CCLE Cell Line Name,Primary Cell Line Name,Compound,Target,Doses (uM),Activity Data (median),Activity SD,Num Data,FitType,EC50 (uM),IC50 (uM),Amax,ActArea
1321N1_CENTRAL_NERVOUS_SYSTEM,1321N1,AEW541,IGF1R,".0025,.0080,.025,.080,.25,.80,2.53,8","-0.29,1.05,-1.10,-4.15,-13.6,-15.3,-36.3,-45.3","3.25,2.97,2.62,2.21,1.50,1.06,3.89,5.36",8,Sigmoid,8.0,8,-46.4,1.03
22RV1_PROSTATE,22Rv1,AEW541,IGF1R,".0025,.0080,.025,.080,.25,.80,2.53,8","1.1,-0.5,-3.2,-5.1,-12.3,-26.1,-61.4,-75.8","1.2,2.2,3.3,4.1,2.5,1.4,3.3,2.1",8,Sigmoid,1.42,2.0,-77.7,1.52
22RV1_PROSTATE,22Rv1,Nilotinib,ABL,".0025,.0080,.025,.080,.25,.80,2.53,8","0,0,0,0,0,0,-5,-10","1,1,1,1,1,1,1,1",8,Constant,NA,8,-10,0.25
"""
MODEL = """\
ModelID,PatientID,CellLineName,StrippedCellLineName,DepmapModelType,OncotreeLineage,OncotreePrimaryDisease
ACH-000001,PT-gj46wT,NIH:OVCAR-3,NIHOVCAR3,HGSOC,Ovary/Fallopian Tube,Ovarian Epithelial Tumor
ACH-000002,PT-5qa3uk,HL-60,HL60,AML,Myeloid,Acute Myeloid Leukemia
ACH-000003,PT-puKIyc,CACO2,CACO2,COAD,Bowel,Colorectal Adenocarcinoma
"""
SANGER_RMA = (
    "GENE_SYMBOLS\tGENE_title\tDATA.906826\tDATA.687983\tDATA.910927\n"
    "TSPAN6\ttetraspanin 6\t7.63\t7.55\t3.25\n"
    "TNMD\ttenomodulin\t2.96\t2.82\t2.5\n"
    "\t\t3.1\t3.2\t3.3\n"  # probe sets without a symbol
    "DPM1\tdolichyl-phosphate mannosyltransferase subunit 1, catalytic\t10.38\t11.81\t9.5\n"
)
DEPMAP = (
    ",TSPAN6 (7105),TNMD (64102),DPM1 (8813),SCYL3 (57147)\n"
    "ACH-001113,4.33,0.0,7.36,2.23\n"
    "ACH-001289,4.57,0.0,7.48,2.8\n"
    "ACH-001339,3.15,0.0,7.17,2.5\n"
)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _pairs(response):
    return {(c, d): v for c, d, v in response.itertuples(index=False)}


def test_gdsc_fitted_export_two_drug_ids_of_one_name_are_two_drugs(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "GDSC2_fitted_dose_response.csv", GDSC_FITTED))
    assert screen.layout == "gdsc" and screen.metric == "ln_ic50"
    assert _pairs(screen.response) == {
        ("PFSK-1", "Camptothecin"): -1.463887,
        ("A673", "Camptothecin"): -4.869455,
        ("ES5", "Afatinib (GDSC2:1032)"): 2.25,  # GDSC1's Afatinib left out (dataset: auto)
        ("ES5", "Afatinib (GDSC2:1377)"): -0.25,
    }
    assert screen.drugs.loc["Afatinib (GDSC2:1032)", "targets"] == "ERBB2;EGFR"
    assert screen.tissues["PFSK-1"] == "MB"
    everything = screens.read_screen(tmp_path / "GDSC2_fitted_dose_response.csv", dataset=None)
    assert _pairs(everything.response)[("ES5", "Afatinib (GDSC1:1032)")] == 1.5
    assert everything.response["drug"].nunique() == 4
    z = screens.read_screen(tmp_path / "GDSC2_fitted_dose_response.csv", metric="z_score")
    assert ("ES5", "Afatinib (GDSC2:1032)") not in _pairs(z.response)  # Z_SCORE NA


def test_gdsc_fitted_export_as_xlsx(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    rows = [line.split(",") for line in GDSC_FITTED.splitlines()[:3]]
    sheet.append(rows[0])
    for row in rows[1:]:
        typed = [float(v) if v.replace(".", "").lstrip("-").isdigit() else v for v in row]
        typed[3] = float(row[3])  # Excel stores the COSMIC ID as 683667.0
        typed[7] = int(row[7])
        sheet.append(typed)
    sheet.append(["GDSC2", 1, 2, 905940, "SW620", "SIDM", "COAD/READ", 1003, "Camptothecin"])
    path = tmp_path / "GDSC2_fitted_dose_response.xlsx"
    book.save(path)
    screen = screens.read_screen(path, cell_line_id="cosmic")
    assert screen.layout == "gdsc"
    assert _pairs(screen.response) == {
        ("683667", "Camptothecin"): -1.463887,
        ("684052", "Camptothecin"): -4.869455,
    }
    assert any("dropped 1 row(s) with an empty value" in n for n in screen.notes)
    assert screen.drug_ids.loc["Camptothecin"].to_dict() == {
        "name": "Camptothecin",
        "dataset": "GDSC2",
        "drug_id": "1003",
    }


def test_gdsc_website_export(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "PANCANCER_IC.csv", GDSC_WEB))
    assert screen.layout == "gdsc_web" and screen.metric == "ln_ic50"
    assert _pairs(screen.response) == {
        ("PFSK-1", "Camptothecin"): -1.463887,
        ("A673", "Camptothecin"): -4.869455,
        ("ES5", "Afatinib"): 2.25,
    }
    assert screen.tissues.to_dict() == {
        "PFSK-1": "nervous_system",
        "A673": "soft_tissue",
        "ES5": "bone",
    }
    auc = screens.read_screen(tmp_path / "PANCANCER_IC.csv", metric="auc", cell_line_id="cosmic")
    assert _pairs(auc.response)[("684057", "Afatinib")] == 0.98


def test_ctrp_merged_export(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "ctrp.txt", CTRP))
    assert screen.layout == "ctrp" and screen.metric == "auc"
    assert _pairs(screen.response) == {
        ("CAS1", "navitoclax"): 10.5,
        ("CAS1", "vorinostat"): 14.25,
        ("22RV1", "navitoclax"): 9.0,  # two experiments of one compound: replicates, merged
    }
    assert screen.tissues.to_dict() == {"CAS1": "central_nervous_system", "22RV1": "prostate"}
    assert screen.drugs.loc["navitoclax"].to_dict() == {
        "targets": "BCL2;BCL2L1",
        "pathway": "inhibitor of BCL2",
    }
    ec50 = screens.read_screen(tmp_path / "ctrp.txt", metric="ln_ec50", cell_line_id="ctrp")
    assert _pairs(ec50.response)[("1", "navitoclax")] == pytest.approx(math.log(1.2))
    assert any("1 row(s) with a missing" in w for w in ec50.warnings)


def test_ctrp_curves_without_names_are_refused_with_the_join_to_make(tmp_path):
    with pytest.raises(RxrankInputError) as err:
        screens.read_screen(_write(tmp_path / "v20.data.curves_post_qc.txt", CTRP_CURVES))
    msg = str(err.value)
    assert "ctrp layout" in msg and "['ccl_name', 'cpd_name']" in msg
    assert "v20.meta.per_compound.txt" in msg


def test_ccle_2012_pharmacology(tmp_path):
    screen = screens.read_screen(_write(tmp_path / "CCLE_NP24.2009_Drug_data.csv", CCLE))
    assert screen.layout == "ccle" and screen.metric == "ln_ic50"
    assert _pairs(screen.response) == pytest.approx(
        {
            ("1321N1_CENTRAL_NERVOUS_SYSTEM", "AEW541"): math.log(8.0),
            ("22RV1_PROSTATE", "AEW541"): math.log(2.0),
            ("22RV1_PROSTATE", "Nilotinib"): math.log(8.0),
        }
    )
    assert screen.tissues["22RV1_PROSTATE"] == "prostate"
    assert screen.drugs.loc["Nilotinib", "targets"] == "ABL"
    assert any("2 measurement(s) at CCLE's top concentration" in n for n in screen.notes)
    area = screens.read_screen(
        tmp_path / "CCLE_NP24.2009_Drug_data.csv", metric="neg_act_area", cell_line_id="name"
    )
    assert _pairs(area.response) == {
        ("1321N1", "AEW541"): -1.03,
        ("22Rv1", "AEW541"): -1.52,
        ("22Rv1", "Nilotinib"): -0.25,
    }


def test_model_csv_as_the_cell_line_annotation(tmp_path):
    path = _write(tmp_path / "Model.csv", MODEL)
    tissues = screens.read_cell_lines(path)
    assert tissues.to_dict() == {
        "ACH-000001": "Ovary/Fallopian Tube",
        "ACH-000002": "Myeloid",
        "ACH-000003": "Bowel",
    }
    assert screens.read_cell_lines(path, cell_line_id="stripped")["HL60"] == "Myeloid"
    plain = _write(tmp_path / "lines.tsv", "cell_line\ttissue\nA549\tlung\n")
    assert screens.read_cell_lines(plain).to_dict() == {"A549": "lung"}


def test_sanger_rma_expression(tmp_path):
    path = _write(tmp_path / "Cell_line_RMA_proc_basalExp.txt", SANGER_RMA)
    adata = io.read_expression(path, expression_type="log", what="reference expression")
    assert list(adata.obs_names) == ["906826", "687983", "910927"]
    assert list(adata.var_names) == ["TSPAN6", "TNMD", "DPM1"]
    assert adata.X[1, 2] == pytest.approx(11.81)
    assert io.expression_sample_ids(path) == ["906826", "687983", "910927"]


def test_depmap_expression(tmp_path):
    path = _write(tmp_path / "OmicsExpressionProteinCodingGenesTPMLogp1.csv", DEPMAP)
    adata = io.read_expression(path, expression_type="log", what="reference expression")
    assert list(adata.obs_names) == ["ACH-001113", "ACH-001289", "ACH-001339"]
    assert list(adata.var_names) == ["TSPAN6", "TNMD", "DPM1", "SCYL3"]
    assert adata.X[2, 0] == pytest.approx(3.15)
    assert io.expression_sample_ids(path) == ["ACH-001113", "ACH-001289", "ACH-001339"]


HEADERS = {
    "gdsc": GDSC_FITTED.splitlines()[0].split(","),
    "gdsc_web": GDSC_WEB.splitlines()[0].split(","),
    "prism": "broad_id,depmap_id,ccle_name,screen_id,auc,ec50,ic50,name,moa,target".split(","),
    "ctrp": CTRP.splitlines()[0].split("\t"),
    "ccle": CCLE.splitlines()[0].split(",")[:4] + ["IC50 (uM)", "ActArea"],
    "long": ["cell_line", "drug", "ln_ic50", "tissue"],
}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(HEADERS)),
    st.randoms(use_true_random=False),
    st.lists(st.from_regex(r"[a-z]{3,8}_x", fullmatch=True), max_size=4),
    st.booleans(),
)
def test_detection_is_by_header_alone_in_any_order_and_case(layout, rnd, extra, upper):
    header = [h.upper() if upper else h.lower() for h in HEADERS[layout]] + extra
    rnd.shuffle(header)
    assert screens.detect_layout(header)[0] == layout


KNOWN = ["experiment_id", "area_under_curve", "auc", "ic50", "ln_ic50", "drug_id", "cosmic_id"]
KNOWN += ["dataset", "value", "compound", "target", "ccl_name", "cell_line", "name", "drug"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(KNOWN), min_size=2, max_size=5))
def test_a_header_is_read_only_as_a_layout_whose_signature_it_has(header):
    """Known screen column names never make a wide matrix, and fit a layout only by signature."""
    fits = [name for name, (_, test) in screens.SIGNATURES.items() if test(set(header))]
    try:
        found, _ = screens.detect_layout(header)
    except RxrankInputError as err:
        assert not fits and "fits none of the screen layouts" in str(err)
        return
    assert found == fits[0]


def test_every_layout_has_a_signature_and_a_default_metric():
    assert set(screens.LAYOUTS) == {"auto", "wide", *screens.SIGNATURES}
    assert set(screens.DEFAULT_METRIC) == set(screens.LAYOUTS[1:])
