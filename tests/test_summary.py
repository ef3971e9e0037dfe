"""The end-of-run summary: counts, where the reports and logs are, the check's first warning."""

from __future__ import annotations

import json

import pandas as pd

from rxrank.summary import run_summary


def test_summary_reads_the_runs_outputs(tmp_path):
    results = tmp_path / "results"
    (results / "check").mkdir(parents=True)
    (results / "check/summary.json").write_text(
        json.dumps(
            {
                "counts": {"patients_with_expression_and_clinical": 198, "genes_shared": 76},
                "warnings": ["3 patient(s) in x.tsv have no row in clinical.tsv"],
            }
        )
    )
    (results / "sensitivity").mkdir()
    pd.DataFrame({"drug": ["a", "b", "c"], "beats_baseline": [True, False, True]}).to_csv(
        results / "sensitivity/metrics.tsv", sep="\t", index=False
    )
    (results / "reports").mkdir()
    (results / "reports/index.html").write_text("<html></html>")
    text = run_summary(results, tmp_path / "logs")
    assert "198 patients, 76 genes shared" in text
    assert "3 modelled, 2 beat the naive baselines" in text
    assert f"open {results / 'reports/index.html'}" in text
    assert "warned 1 time(s); first: 3 patient(s) in x.tsv" in text


def test_summary_of_a_run_that_wrote_nothing_yet(tmp_path):
    text = run_summary(tmp_path / "results", tmp_path / "logs")
    assert text.startswith("rxrank finished.") and "reports:" not in text
