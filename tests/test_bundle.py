"""Reference bundles: built once from the downloads, checked against their manifest, read as the
downloads are, refused when edited, mixed with file settings or written over foreign files."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, shipped_config

from rxrank import bundle, io
from rxrank.cli._common import _read_reference
from rxrank.config import ReferenceParams
from rxrank.io import RxrankInputError


def _demo_reference() -> ReferenceParams:
    section = shipped_config()["reference"]
    return ReferenceParams.from_config(
        {k: str(ROOT / v) if isinstance(v, str) and v.startswith("resources/") else v
         for k, v in section.items()}
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "demo-ref"
    manifest = bundle.build_bundle(_demo_reference(), out, release="demo 1")
    return out, manifest


def test_manifest_records_sources_files_and_counts(built):
    out, manifest = built
    assert manifest["format"] == bundle.FORMAT and manifest["release"] == "demo 1"
    source = manifest["sources"]["expression"]
    assert source["file"] == "reference_expression.tsv.gz"
    assert source["sha256"] == io.file_sha256(ROOT / "resources/demo/reference_expression.tsv.gz")
    assert manifest["sources"]["response"]["layout"] == "long"
    assert manifest["files"]["expression.h5ad"] == {
        "sha256": io.file_sha256(out / "expression.h5ad"),
        "rows": 150,
        "columns": 2000,
    }
    assert manifest["counts"]["drugs"] == 20 and manifest["counts"]["responses"] == 2537
    assert manifest["counts"]["cell_lines_with_tissue"] == 150
    assert manifest["counts"]["drugs_with_targets"] == 20
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert bundle.open_bundle(out) == manifest


def test_stages_read_the_bundle_exactly_as_the_downloads(built):
    out, _ = built
    ref = _demo_reference()
    direct = _read_reference(
        Namespace(reference_expression=ref.expression, response=str(out / "response.tsv")),
        ref.to_dict(),
    )
    # the config says nothing true of the bundle's file: the bundle's own reading wins
    wrong = {**ref.to_dict(), "expression_type": "counts", "orientation": "genes_by_samples"}
    via = _read_reference(
        Namespace(reference_expression=str(out / "expression.h5ad"), response=str(out / "response.tsv")),
        wrong,
    )  # fmt: skip
    pd.testing.assert_frame_equal(direct[0], via[0])
    assert via[0].dtypes.unique().tolist() == [np.float32]
    source = io.read_response(ROOT / "resources/demo/reference_response.tsv")
    merged = source.merge(via[1], on=["cell_line", "drug"], suffixes=("", "_bundle"))
    assert len(merged) == len(source) and np.allclose(merged["value"], merged["value_bundle"])


def test_bundle_params_point_at_its_files_and_refuse_file_settings_beside_it(built):
    out, _ = built
    ref = bundle.bundle_params(out)
    assert ref.expression == str(out / "expression.h5ad") and ref.expression_type == "log"
    assert ref.drugs == str(out / "drugs.tsv") and ref.response_layout == "long"
    assert ref.binary_features == str(out / "binary_features.tsv")
    with pytest.raises(
        RxrankInputError, match="reference.bundle is set and so is reference.expression"
    ):
        bundle.bundle_params(out, ReferenceParams(expression="x.tsv"))


def test_an_edited_or_incomplete_bundle_is_refused(built, tmp_path):
    out, manifest = built
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in [*manifest["files"], "manifest.json"]:
        (copy / name).write_bytes((out / name).read_bytes())
    response = copy / "response.tsv"
    response.write_text(response.read_text().replace("\t", "\t", 1) + "CL001\tCisplatin\t0.1\n")
    with pytest.raises(RxrankInputError, match="response.tsv changed since the bundle was built"):
        bundle.open_bundle(copy)
    response.unlink()
    with pytest.raises(RxrankInputError, match="response.tsv is missing"):
        bundle.open_bundle(copy)
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format": "other/9"}))
    with pytest.raises(RxrankInputError, match="has format 'other/9'"):
        bundle.open_bundle(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(RxrankInputError, match="no manifest.json; an interrupted build"):
        bundle.open_bundle(copy)


def test_build_refuses_a_folder_of_other_files_and_replaces_an_old_bundle(built, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(RxrankInputError, match=r"holds files that are not a reference bundle"):
        bundle.build_bundle(_demo_reference(), busy)
    assert (busy / "notes.txt").read_text() == "mine" and len(list(busy.iterdir())) == 1
    old = tmp_path / "old"
    bundle.build_bundle(_demo_reference(), old)
    assert (old / "binary_features.tsv").exists()
    manifest = bundle.build_bundle(_demo_reference().replace(binary_features=None), old)
    assert not (old / "binary_features.tsv").exists()
    assert "binary_features.tsv" not in manifest["files"]
    assert bundle.open_bundle(old) == manifest


def test_cli_builds_from_a_config_and_verifies(tmp_path):
    out = tmp_path / "ref"
    run = [sys.executable, "-m", "rxrank.cli"]
    built = subprocess.run(
        [*run, "reference", "build", "--config", "config/config.yaml", "--out", str(out),
         "--release", "demo"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "150 cell lines x 2000 genes, 20 drugs, 2537 responses (ln_ic50)" in built.stdout
    shown = subprocess.run(
        [*run, "reference", "verify", str(out)], capture_output=True, text=True, check=True
    )
    assert "OK (demo, built" in shown.stdout and "drugs with targets: 20" in shown.stdout
    (out / "drugs.tsv").write_text("drug\ttargets\n")
    failed = subprocess.run([*run, "reference", "verify", str(out)], capture_output=True, text=True)
    assert (
        failed.returncode != 0 and "drugs.tsv changed since the bundle was built" in failed.stderr
    )


def test_annotations_by_plain_name_reach_the_labelled_drugs(tmp_path):
    from test_screens import GDSC

    (tmp_path / "gdsc.csv").write_text(GDSC)
    (tmp_path / "drugs.tsv").write_text(
        "drug\ttargets\tpathway\nErlotinib\tEGFR\tEGFR signalling\n"
    )
    ref = ReferenceParams(
        response=str(tmp_path / "gdsc.csv"), dataset=None, drugs=str(tmp_path / "drugs.tsv")
    )
    screen_only = bundle.read_reference_files(
        ref.replace(expression=str(ROOT / "resources/demo/reference_expression.tsv.gz"))
    )
    drugs = screen_only["drugs"]
    labelled = [d for d in drugs.index if d.startswith("Erlotinib (")]
    assert len(labelled) == 2, drugs
    assert (drugs.loc[labelled, "targets"] == "EGFR").all()
    assert (drugs.loc[labelled, "pathway"] == "EGFR signalling").all()
