"""End to end: the Snakemake workflow on the demo cohort, run in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp: Path) -> Path:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for section in ("cohort", "reference"):
        for key, value in config[section].items():
            if isinstance(value, str) and value.startswith("resources/"):
                config[section][key] = str(ROOT / value)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _snakemake(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(_config(tmp)),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workflow")
    proc = _snakemake(tmp)
    logs = (
        "\n".join(p.read_text() for p in (tmp / "logs").glob("*.log"))
        if (tmp / "logs").exists()
        else ""
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + logs[-4000:]
    return tmp


def test_every_output_of_the_design_exists(run):
    results = run / "results"
    for rel in [
        "profiling/cohort.h5ad",
        "profiling/markers.tsv",
        "profiling/target_z.tsv",
        "correlation/modules.tsv",
        "correlation/eigengenes.tsv",
        "correlation/module_traits.tsv",
        "correlation/gene_drug.tsv",
        "sensitivity/metrics.tsv",
        "sensitivity/predictions.tsv",
        "sensitivity/model/model.npz",
        "sensitivity/model/metadata.json",
        "survival/cox_summary.tsv",
        "survival/metrics.json",
        "survival/patients.tsv",
        "survival/treatment_effects.tsv",
        "ranking/rankings.tsv",
        "reports/index.html",
    ]:
        assert (results / rel).stat().st_size > 0, rel
    clinical = pd.read_csv(ROOT / "resources/demo/clinical.tsv", sep="\t")
    for pid in clinical["patient_id"]:
        assert (results / "reports" / f"{pid}.html").exists()
    assert not list(results.rglob("*.tmp"))


def test_rankings_recover_planted_best_drug(run):
    table = pd.read_csv(run / "results/ranking/rankings.tsv", sep="\t")
    truth = pd.read_csv(ROOT / "resources/demo/truth/patients.tsv", sep="\t", index_col=0)
    top = table[table["rank"] == 1].set_index("patient_id")["drug"]
    assert (top == truth["best_drug"].reindex(top.index)).mean() >= 0.7
    # unreliable models are ranked below reliable ones for every patient
    worst_ok = table[table["beats_baseline"]].groupby("patient_id")["rank"].max()
    best_bad = table[~table["beats_baseline"]].groupby("patient_id")["rank"].min()
    assert (worst_ok < best_bad.reindex(worst_ok.index)).all()


def test_reports_are_self_contained(run):
    index = (run / "results/reports/index.html").read_text()
    page = (run / "results/reports/P001.html").read_text()
    for html in (index, page):
        assert "http://" not in html and "https://" not in html
        assert "Content-Security-Policy" in html
    assert "<svg" in page
    assert "Erlotinib" in page or "Lapatinib" in page


def test_rerun_is_a_no_op(run):
    proc = _snakemake(run, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_is_clean(tmp_path):
    proc = _snakemake(tmp_path, "--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
