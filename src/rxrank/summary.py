"""The few lines a finished workflow run prints: what was ranked, where the reports and the logs
are, and the check's warnings, so nothing a user must read scrolls away with the job log."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def run_summary(results: str | Path = "results", logs: str | Path = "logs") -> str:
    """A short text summary of a finished run read from its outputs (missing parts are skipped)."""
    results = Path(results)
    lines = ["rxrank finished."]
    check = results / "check" / "summary.json"
    warnings: list[str] = []
    if check.exists():
        summary = json.loads(check.read_text())
        counts, warnings = summary.get("counts", {}), summary.get("warnings", [])
        lines.append(
            f"  cohort: {counts.get('patients_with_expression_and_clinical', '?')} patients, "
            f"{counts.get('genes_shared', '?')} genes shared with the reference"
        )
    metrics = results / "sensitivity" / "metrics.tsv"
    if metrics.exists():
        table = pd.read_csv(metrics, sep="\t", usecols=["drug", "beats_baseline"])
        lines.append(
            f"  drugs: {len(table)} modelled, {int(table['beats_baseline'].sum())} beat the naive "
            "baselines (only those can reach tier A or B)"
        )
    index = results / "reports" / "index.html"
    if index.exists():
        lines.append(f"  reports: open {index} (it links every patient's page)")
    lines.append(f"  logs of every stage: {Path(logs)}/; outputs: {results}/ (docs/outputs.md)")
    if warnings:
        lines.append(f"  the check warned {len(warnings)} time(s); first: {warnings[0][:300]}")
    return "\n".join(lines)
