"""The demo from a normal install: a wheel built from this tree, installed in a fresh virtual
environment, runs the workflow with none of the source tree on the import path.

`pip install .` once built a wheel without the gene map, so Ensembl IDs silently stopped mapping;
the conda environment in workflow/envs installs that way. The venv sees the machine's site-packages
for the heavy dependencies (scanpy, lifelines, Snakemake: nothing is downloaded), but rxrank itself
and its ``rxrank`` command come from the wheel, which the test asserts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import TEST_KEY, write_demo_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.workflow]


def test_the_demo_runs_from_a_wheel_in_a_fresh_venv(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    wheel = next((tmp_path / "dist").glob("rxrank-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True, timeout=300,
    )  # fmt: skip
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "RXRANK_PSEUDONYM_KEY": TEST_KEY,
    }
    where = subprocess.run(
        [str(python), "-c", "import rxrank, shutil; print(rxrank.__file__, shutil.which('rxrank'))"],
        cwd=run, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert where[0].startswith(str(venv)) and where[1].startswith(str(venv)), where

    proc = subprocess.run(
        [str(python), "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
         "--configfile", str(write_demo_config(run)), "--cores", "2"],
        cwd=run, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rxrank finished." in proc.stdout + proc.stderr
    results = run / "results"
    assert len(list((results / "reports/pages/001").glob("RX-*.html"))) == 200
    ids = pd.read_csv(results / "profiling/gene_ids.tsv", sep="\t")
    assert len(ids) == 2000 and (ids["gene"].notna()).all()
    # the gene map came with the wheel: the demo's drug-target genes are known HGNC symbols
    assert (ids["detail"] == "HGNC symbol").sum() >= 25  # 29 of the 2,000
    ranks = pd.read_csv(results / "ranking/rankings.tsv", sep="\t")
    assert ranks["patient_id"].nunique() == 200 and ranks["drug"].nunique() == 20
