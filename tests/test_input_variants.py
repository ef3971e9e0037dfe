"""Legitimate variants of every input give the clean run's rankings (issue 18's catalogue, the
other half of tests/test_check.py's refusals).

The workflow runs to the rankings twice on a small seeded demo: once on the files as written, once
on the same data saved the ways other tools save it (UTF-8 byte-order mark, CRLF line ends, quoted
fields, scientific notation and explicit signs for negative ln IC50s, TRUE/FALSE calls, empty
optional cells and extra columns, rows of missing measurements). The rankings must be equal.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import TEST_KEY, small_demo_config

from rxrank.demo import DemoSpec, write_demo

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.workflow]
KEY = TEST_KEY
INPUTS = [
    "demo/expression.tsv.gz", "demo/clinical.tsv", "demo/reference_expression.tsv.gz",
    "demo/reference_response.tsv", "reference/drugs.tsv", "demo/cell_lines.tsv",
    "demo/cell_line_features.tsv",
]  # fmt: skip


def _config() -> dict:
    return small_demo_config(fast=True)


def _read(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


def _write(path: Path, text: str, *, bom: bool = False, crlf: bool = False) -> None:
    text = text.replace("\n", "\r\n") if crlf else text
    data = ("\ufeff" if bom else "").encode() + text.encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _sci(value: str) -> str:
    """A number as scientific notation with an explicit sign: -1.25 -> -1.25E+00."""
    return f"{float(value):+.10E}" if value else value


def _variants(work: Path) -> None:
    """Save every input the way another tool would, without changing one value."""
    for rel in ("demo/expression.tsv.gz", "demo/reference_expression.tsv.gz"):
        _write(work / rel, _read(work / rel), bom=True, crlf=True)
    clin = _frame(work / "demo/clinical.tsv").assign(notes="")  # an empty optional column
    clin.loc[::3, "notes"] = "seen in clinic"
    text = clin.to_csv(sep="\t", index=False, quoting=1)  # every field quoted
    _write(work / "demo/clinical.tsv", text, crlf=True)
    resp = _frame(work / "demo/reference_response.tsv")
    assert (resp["ln_ic50"].astype(float) < 0).any()  # negative ln IC50s are in the screen
    resp["ln_ic50"] = resp["ln_ic50"].map(_sci)
    gap = pd.DataFrame({"cell_line": [resp["cell_line"].iloc[0]], "drug": ["Unmeasured"]})
    resp = pd.concat([resp, gap.assign(ln_ic50="")])  # a row of a missing measurement
    _write(work / "demo/reference_response.tsv", resp.to_csv(sep="\t", index=False, quoting=1))
    drugs = _frame(work / "reference/drugs.tsv").assign(comment="")
    _write(work / "reference/drugs.tsv", drugs.to_csv(sep="\t", index=False), bom=True)
    lines = _read(work / "demo/cell_lines.tsv")
    _write(work / "demo/cell_lines.tsv", lines, crlf=True)
    feats = _frame(work / "demo/cell_line_features.tsv")
    for col in feats.columns[1:]:
        feats[col] = feats[col].map({"0": "FALSE", "1": "TRUE"})
    _write(work / "demo/cell_line_features.tsv", feats.to_csv(sep="\t", index=False), crlf=True)


def _rankings(work: Path) -> pd.DataFrame:
    (work / "config.yaml").write_text(yaml.safe_dump(_config()))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
         "config.yaml", "--cores", "2", "results/ranking/rankings.tsv"],
        cwd=work, env={**os.environ, "RXRANK_PSEUDONYM_KEY": KEY}, capture_output=True,
        text=True, timeout=1200,
    )  # fmt: skip
    logs = "".join(p.read_text() for p in (work / "logs").glob("*.log"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + logs[-3000:]
    return pd.read_csv(work / "results/ranking/rankings.tsv", sep="\t")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    clean = tmp_path_factory.mktemp("clean")
    write_demo(clean, DemoSpec(n_patients=40, n_genes=300, n_lines=40, seed=3))
    varied = tmp_path_factory.mktemp("varied")
    write_demo(varied, DemoSpec(n_patients=40, n_genes=300, n_lines=40, seed=3))
    before = {rel: (varied / rel).read_bytes() for rel in INPUTS}
    _variants(varied)
    assert all((varied / rel).read_bytes() != before[rel] for rel in INPUTS)
    return _rankings(clean), _rankings(varied)


def test_legitimate_variants_give_the_clean_rankings(runs):
    clean, varied = runs
    assert len(clean) > 0 and set(clean.columns) == set(varied.columns)
    assert "Unmeasured" not in set(varied["drug"])
    pd.testing.assert_frame_equal(clean, varied[clean.columns])
