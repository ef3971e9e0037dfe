"""End to end: the Snakemake workflow on the demo cohort, run in temporary directories.

The run happens with network sockets blocked (a ``sitecustomize`` that refuses any internet
connection in every Python process, Snakemake's and each rule's), with pseudonymisation on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from helpers import demo_config, stage_process, write_demo_config

from rxrank.privacy import pseudonym

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.workflow]
KEY = "5f2b9c4e8a1d7063" * 4  # a test key of 256 bits, not secret

BLOCK_NETWORK = """
import socket, pathlib
_marker = pathlib.Path(__file__).with_name("network-attempts.txt")
_connect = socket.socket.connect
def _refuse(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(_marker, "a") as fh:
            fh.write(repr(address) + "\\n")
        raise OSError("network access is blocked in rxrank's tests")
    return _connect(self, address, *args)
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
"""


def _env(tmp: Path) -> dict:
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCK_NETWORK)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "RXRANK_PSEUDONYM_KEY": KEY}


def _command(tmp: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
        "--configfile", str(write_demo_config(tmp)), "--cores", "2", *args,
    ]  # fmt: skip


def _snakemake(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(tmp, *args), cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=1200
    )


def _logs(tmp: Path) -> str:
    return "\n".join(p.read_text() for p in (tmp / "logs").glob("*.log"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workflow")
    proc = _snakemake(tmp)
    assert proc.returncode == 0, proc.stderr[-4000:] + _logs(tmp)[-4000:]
    (tmp / "console.txt").write_text(proc.stdout + proc.stderr)
    return tmp


def test_the_console_is_short_and_ends_with_the_summary(run):
    """The profile's quiet settings: every job a line, no file lists, rxrank's summary at the end
    (measured: 2.4 kB for the 11 jobs of the demo, from 38 kB before)."""
    console = (run / "console.txt").read_text()
    assert len(console.encode()) < 3000, console
    assert "results/reports/RX-" not in console  # no per-page file lists
    summary = console[console.index("rxrank finished.") :]
    assert "200 patients" in summary and "reports: open results/reports/index.html" in summary
    assert "Finished jobid" in console and "(Rule: report)" in console


def test_every_output_of_the_design_exists(run):
    results = run / "results"
    for rel in [
        "check/summary.json", "reference/response.tsv", "profiling/cohort.h5ad",
        "profiling/gene_ids.tsv", "correlation/feature_drug.tsv",
        "profiling/markers.tsv", "profiling/target_z.tsv", "correlation/modules.tsv",
        "correlation/eigengenes.tsv",
        "correlation/hub_genes.tsv", "correlation/soft_threshold.tsv",
        "correlation/module_traits.tsv", "correlation/gene_drug.tsv",
        "sensitivity/metrics.tsv", "sensitivity/predictions.parquet", "sensitivity/model/model.npz",
        "sensitivity/model/metadata.json", "survival/cox_summary.tsv", "survival/metrics.json",
        "survival/patients.tsv", "survival/treatment_effects.tsv", "outcome/metrics.tsv",
        "outcome/calibration.tsv", "outcome/patients.tsv", "outcome/summary.json",
        "ranking/rankings.tsv",
        "reports/index.html", "provenance.json",
    ]:  # fmt: skip
        assert (results / rel).stat().st_size > 0, rel
    clinical = pd.read_csv(ROOT / "resources/demo/clinical.tsv", sep="\t")
    for pid in clinical["patient_id"]:
        assert (results / "reports/pages/001" / f"{pseudonym(pid, KEY.encode())}.html").exists()
    assert not list(results.rglob("*.tmp")) and not list(results.rglob(".*.tmp"))


def test_no_network_access_was_attempted(run):
    assert not (run / "site" / "network-attempts.txt").exists()


def test_no_original_patient_id_nor_key_in_any_output(run):
    clinical = pd.read_csv(ROOT / "resources/demo/clinical.tsv", sep="\t")
    ids = [pid.encode() for pid in clinical["patient_id"]] + [KEY.encode()]
    for path in (run / "results").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".html":  # an embedded PNG's base64 may spell "P116" by chance
                data = re.sub(rb"base64,[A-Za-z0-9+/=]+", b"base64,", data)
            found = [pid for pid in ids if pid in data]
            assert not found, (path, found[:3])


def test_rankings_recover_planted_best_drug(run):
    table = pd.read_csv(run / "results/ranking/rankings.tsv", sep="\t")
    truth = pd.read_csv(ROOT / "resources/demo/truth/patients.tsv", sep="\t", index_col=0)
    truth.index = [pseudonym(pid, KEY.encode()) for pid in truth.index]
    top = table[table["rank"] == 1].set_index("patient_id")["drug"]
    assert (top == truth["best_drug"].reindex(top.index)).mean() >= 0.7
    # unreliable models are ranked below reliable ones for every patient
    worst_ok = table[table["beats_baseline"]].groupby("patient_id")["rank"].max()
    best_bad = table[~table["beats_baseline"]].groupby("patient_id")["rank"].min()
    assert (worst_ok < best_bad.reindex(worst_ok.index)).all()


def test_patient_mutations_lift_their_drivers_drug_and_leave_the_others_alone(run):
    """The demo's MAF plants hotspot mutations in 80% of the driver-positive patients: each
    planted driver-drug pair is found tissue-adjusted (q < 1e-20); carriers' ranks use the
    genomic component (measured: top-1 agreement with the planted best drug 0.90 with it, 0.88
    without; among the 131 carriers 0.985 vs 0.954); patients without calls rank exactly as
    without it."""
    results = run / "results"
    fd = pd.read_csv(results / "correlation/feature_drug.tsv", sep="\t")
    hits = fd[fd["q_tissue"] <= 0.05].set_index("feature")["drug"].to_dict()
    assert hits == {"EGFR_alt": "Erlotinib", "ERBB2_alt": "Lapatinib", "BRAF_alt": "Dabrafenib",
                    "ALK_alt": "Crizotinib", "CDK4_alt": "Palbociclib",
                    "PIK3CA_alt": "Alpelisib"}  # fmt: skip
    assert (fd.loc[fd["q_tissue"] <= 0.05, "q_tissue"] < 1e-20).all()
    table = pd.read_csv(results / "ranking/rankings.tsv", sep="\t")
    weights = yaml.safe_load((run / "config.yaml").read_text())["ranking"]["weights"]
    without = sum(
        weights[c.removeprefix("comp_")] * table[c].fillna(0)
        for c in table.columns
        if c.startswith("comp_") and c != "comp_genomic"
    )
    plain = table.assign(score=without).sort_values(
        ["patient_id", "beats_baseline", "score", "drug"], ascending=[True, False, False, True]
    )
    plain["rank"] = plain.groupby("patient_id").cumcount() + 1
    merged = table.merge(plain[["patient_id", "drug", "rank"]], on=["patient_id", "drug"])
    carriers = set(table.loc[table["genomic_feature"].notna(), "patient_id"])
    others = ~merged["patient_id"].isin(carriers)
    assert 100 < len(carriers) < 200 and others.any()
    assert (merged.loc[others, "rank_x"] == merged.loc[others, "rank_y"]).all()
    lifted = merged[merged["patient_id"].isin(carriers)].merge(
        table[["patient_id", "drug", "genomic_feature"]].dropna(), on=["patient_id", "drug"]
    )
    assert (lifted["rank_x"] <= lifted["rank_y"]).all() and (
        lifted["rank_x"] < lifted["rank_y"]
    ).any()
    truth = pd.read_csv(ROOT / "resources/demo/truth/patients.tsv", sep="\t", index_col=0)
    carrier = next(
        pid
        for pid in truth.index
        if pseudonym(pid, KEY.encode()) in carriers and truth.at[pid, "driver"] == "BRAF"
    )
    page = (results / "reports/pages/001" / f"{pseudonym(carrier, KEY.encode())}.html").read_text()
    assert "carries a BRAF alteration: cell lines with it are more sensitive to Dabrafenib" in page


def test_survival_recovers_planted_prognosis_and_treatment_benefit(run):
    """The planted prognostic module (truth M1) and both planted treatment x biomarker interactions
    (log HR -2.0 for patients given the drug matching their driver) come out of the demo run with the
    right signs and p < 0.05; the CV C-index is reported with its spread."""
    results = run / "results"
    metrics = json.loads((results / "survival/metrics.json").read_text())
    # measured: Harrell 0.609 +/- 0.035 over 5 outer folds of nested CV (Uno 0.602 +/- 0.044)
    assert metrics["cv_cindex_mean"] > 0.55 and metrics["cv_cindex_sd"] > 0
    assert len(metrics["cv_fold_cindex"]) == 5 and metrics["cv_method"].startswith("nested")
    found = pd.read_csv(results / "correlation/modules.tsv", sep="\t").set_index("gene")["module"]
    planted = pd.read_csv(ROOT / "resources/demo/truth/modules.tsv", sep="\t")
    module = found.reindex(planted.loc[planted["module"] == "M1", "gene"]).mode()[0]
    cox = pd.read_csv(results / "survival/cox_summary.tsv", sep="\t").set_index("covariate")
    # measured: the module holding 28 of the 40 planted genes, HR 1.68 per SD, p 9e-9
    assert cox.loc[module, "hr"] > 1.2 and cox.loc[module, "p"] < 0.05
    truth = pd.read_csv(ROOT / "resources/demo/truth/patients.tsv", sep="\t", index_col=0)
    truth.index = [pseudonym(pid, KEY.encode()) for pid in truth.index]
    effects = pd.read_csv(results / "survival/treatment_effects.tsv", sep="\t")
    # measured: p_interaction 1.3e-6 (Erlotinib) and 1.0e-4 (Lapatinib); median HR 0.15 / 0.20
    # for driver-positive patients vs 1.2 / 0.94 for the others
    for arm, gene in (("Erlotinib", "EGFR"), ("Lapatinib", "ERBB2")):
        e = effects[effects["treatment"] == arm].set_index("patient_id")
        driven = truth.loc[e.index, "driver"] == gene
        assert e["p_interaction"].iloc[0] < 0.05, arm
        assert e.loc[driven, "hr"].median() < 0.5 < e.loc[~driven, "hr"].median(), arm
        # the demo's arms are randomised within driver groups (config: survival.design)
        assert e["note"].str.startswith("Randomised comparison").all()
        assert not e["note"].str.contains("confounded").any()


def test_reports_are_self_contained(run):
    index = (run / "results/reports/index.html").read_text()
    page = next((run / "results/reports").glob("pages/*/RX-*.html")).read_text()
    for html in (index, page):
        assert "http://" not in html and "https://" not in html
        assert "Content-Security-Policy" in html
        assert str(run) not in html and os.path.expanduser("~") not in html
    assert "<svg" in page
    # clinical columns outside privacy.report_clinical_columns are not shown
    assert "os_months" not in page and "os_event" not in page


def test_rerun_is_a_no_op(run):
    proc = _snakemake(run, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _planned(run: Path, *args: str) -> set[str]:
    # --quiet host replaces the profile's quiet list, which hides the jobs' listing
    proc = _snakemake(run, "-n", "--quiet", "host", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        line.split()[1].rstrip(":")
        for line in proc.stdout.splitlines()
        if line.startswith("rule ") or line.startswith("localrule ")
    }


def test_modules_and_sensitivity_do_not_wait_for_each_other(run):
    """Co-expression modules need only the cohort; the association tests need modules and
    sensitivity; survival and outcome need both too; rank needs associations and survival."""
    after = {"associations", "survival", "outcome", "rank", "report_pages", "report", "all"}
    assert _planned(run, "--forcerun", "sensitivity") == {"sensitivity", *after}
    assert _planned(run, "--forcerun", "modules") == {"modules", *after}
    assert _planned(run, "--forcerun", "associations") == {
        "associations", "rank", "report_pages", "report", "all"
    }  # fmt: skip


def test_a_changed_ranking_weight_reruns_only_rank_and_report(run):
    """The check reads only the settings it checks, so a ranking weight does not rerun it (and
    with it every stage); rank and the report's shards and index do rerun."""
    config = demo_config()
    config["ranking"] = {"weights": {"survival": 0.9}}
    changed = run / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    proc = subprocess.run(
        [*snakemake, "--configfile", str(changed), "-n", "--quiet", "host"], cwd=run, env=_env(run),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    planned = {
        line.split()[1].rstrip(":")
        for line in proc.stdout.splitlines()
        if line.startswith(("rule ", "localrule "))
    }
    assert planned == {"rank", "report_pages", "report", "all"}


def test_every_output_goes_under_the_cohorts_outdir(tmp_path):
    """`outdir` (default results): one folder per cohort, every output of every job inside it."""
    config = demo_config()
    config["outdir"] = str(tmp_path / "cohorts" / "b")
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    proc = subprocess.run(
        [*snakemake, "--configfile", str(write_demo_config(tmp_path, config)), "-n",
         "--quiet", "host"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = [
        path.strip().rstrip(",")
        for line in proc.stdout.splitlines()
        if line.strip().startswith("output:")
        for path in line.split(":", 1)[1].split(", ")
    ]
    # every stage's outputs, the folder of each report shard and the index
    assert len(outputs) > 30 and config["outdir"] + "/reports/pages/001" in outputs
    assert all(p.startswith(config["outdir"] + "/") for p in outputs), outputs[:5]


def test_killed_job_resumes_and_is_deterministic(run, tmp_path):
    """SIGKILL a stage in the middle of its work, rerun without cleanup: same rankings, byte for byte."""
    proc = subprocess.Popen(
        _command(tmp_path), cwd=tmp_path, env=_env(tmp_path), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline, victim = time.time() + 600, None
        while victim is None and proc.poll() is None and time.time() < deadline:
            victim = stage_process(psutil.Process(proc.pid), "sensitivity")
            time.sleep(0.1)
        assert victim is not None, "the sensitivity stage was never seen running"
        time.sleep(1.0)  # well inside the stage's work
        victim.kill()
        assert proc.wait(timeout=300) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (tmp_path / "results/sensitivity/metrics.tsv").exists()
    assert not list((tmp_path / "results").rglob("*.tmp"))
    again = _snakemake(tmp_path)
    assert again.returncode == 0, again.stderr[-4000:] + _logs(tmp_path)[-4000:]
    first = (run / "results/ranking/rankings.tsv").read_bytes()
    assert (tmp_path / "results/ranking/rankings.tsv").read_bytes() == first


def test_a_fitted_model_is_applied_without_retraining(run, tmp_path):
    """sensitivity.fitted_model: the saved model of the first run predicts this run's cohort; the
    predictions, metrics and rankings equal the training run's; a damaged model stops the check."""
    import shutil

    model = tmp_path / "models" / "demo"
    shutil.copytree(run / "results/sensitivity/model", model)
    config = demo_config()
    config["sensitivity"]["fitted_model"] = str(model)
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    proc = subprocess.run(
        [*snakemake, "--configfile", str(write_demo_config(tmp_path, config))],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:] + _logs(tmp_path)[-4000:]
    log = (tmp_path / "logs/sensitivity.log").read_text()
    assert "beat the naive baselines" not in log  # no cross-validation, no training
    for rel in (
        "sensitivity/predictions.parquet",
        "sensitivity/metrics.tsv",
        "ranking/rankings.tsv",
    ):
        assert (tmp_path / "results" / rel).read_bytes() == (run / "results" / rel).read_bytes()
    assert (tmp_path / "results/sensitivity/model/model.npz").read_bytes() == (
        model / "model.npz"
    ).read_bytes()
    data = bytearray((model / "model.npz").read_bytes())
    data[100] ^= 1
    (model / "model.npz").write_bytes(bytes(data))
    check = subprocess.run(
        [sys.executable, "-m", "rxrank.cli", "check", str(tmp_path / "config.yaml")],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert check.returncode == 2
    assert "sensitivity.fitted_model" in check.stdout + check.stderr
    assert "SHA-256 mismatch" in check.stdout + check.stderr


def test_the_runs_reference_bundle_serves_the_next_run(run, tmp_path):
    """results/reference is a bundle: named as reference.bundle, nothing is rebuilt and the
    sensitivity stage predicts byte for byte what the first run did; an edited bundle is refused."""
    import shutil

    bundle = tmp_path / "references" / "demo"
    shutil.copytree(run / "results/reference", bundle)
    config = demo_config()
    config["reference"] = {"bundle": str(bundle)}
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    command = [*snakemake, "--configfile", str(write_demo_config(tmp_path, config))]
    target = "results/sensitivity/predictions.parquet"
    proc = subprocess.run(
        [*command, "--", target], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:] + _logs(tmp_path)[-4000:]
    assert not (tmp_path / "logs/reference.log").exists()
    assert (tmp_path / target).read_bytes() == (run / target).read_bytes()
    with open(bundle / "response.tsv", "a") as fh:
        fh.write("CL001\tCisplatin\t0.5\n")
    refused = subprocess.run(
        [*command, "-n"], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "response.tsv changed since the bundle was built" in refused.stdout + refused.stderr


def test_a_users_config_never_pulls_the_demos_files(tmp_path):
    """Without reference.drugs, cell_lines and binary_features in the user's config, the reference
    job reads none of the demo's (config/config.yaml is used only when no --configfile is given)."""
    config = demo_config()
    for key in ("drugs", "cell_lines", "binary_features"):
        config["reference"].pop(key)
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]
    proc = subprocess.run(
        [*snakemake, "--configfile", str(write_demo_config(tmp_path, config)), "-n", "-p",
         "results/reference/manifest.json", "--quiet", "host"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = [line for line in proc.stdout.splitlines() if "rxrank reference build" in line]
    assert build and "--drugs" not in build[0] and "cell_line_features" not in build[0]
    assert "--expression" in build[0] and "--response" in build[0]


def test_lint_is_clean(tmp_path):
    proc = _snakemake(tmp_path, "--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakemake_report_carries_outputs_with_captions(run):
    proc = _snakemake(run, "--report", "workflow-report.html")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    html = (run / "workflow-report.html").read_text()
    for name in ("rankings.tsv", "metrics.tsv", "cox_summary.tsv", "module_traits.tsv"):
        assert name in html, name
    caption = (ROOT / "workflow/report/rankings.rst").read_text().split()[:4]
    assert " ".join(caption) in html


@pytest.mark.browser
def test_demo_reports_in_a_browser(run):
    """The real demo pages in headless Chromium, offline: no request, no console error; and
    legible: no text under 11 px (figures included, at their on-screen scale), no label clipped
    at a figure's edge, no text wider than its box."""
    from browser import browser, chromium_path, layout_problems, visit

    if chromium_path() is None:
        pytest.skip("no Chromium installed: ci/install-system-deps.sh installs Debian's chromium")
    shots = Path(os.environ.get("RXRANK_SCREENSHOTS") or run / "screenshots")
    reports = run / "results/reports"
    page = sorted(reports.glob("pages/*/RX-*.html"))[0]
    with browser() as b:
        for name, path in (("demo-index", reports / "index.html"), ("demo-patient", page)):
            v = visit(b, path, screenshot=shots / f"{name}.png")
            assert v.requests == [] and v.console == [] and v.errors == [], (name, v)
            assert "Research use only" in v.text
            assert layout_problems(b, path) == [], name
        # the check sees what it is for: a figure label drawn at 8 px and one off the edge
        probe = run / "probe.html"
        probe.write_text(
            '<!DOCTYPE html><html><body><p>ok</p><svg class="figure" viewBox="0 0 100 40" '
            'width="100" height="40"><text x="2" y="20" font-size="8">tiny</text>'
            '<text x="90" y="30" font-size="12">off the edge</text></svg></body></html>'
        )
        problems = layout_problems(b, probe)
        assert any(p.startswith("8.0 px in a figure") for p in problems), problems
        assert any("clipped" in p and "off the edge" in p for p in problems), problems


def test_encrypted_demo_reports_round_trip_without_plaintext(run, tmp_path):
    """privacy.encrypt_reports on the demo: every page opens with its passphrase only, and no
    original or pseudonymised ID, drug name or clinical value is readable outside the ciphertext."""
    import json
    import re
    from html import unescape as html_unescape

    from rxrank.cli import main as cli
    from rxrank.report.encrypt import WrongPassphrase, decrypt_page, read_passphrases

    config = demo_config()
    keys = tmp_path / "keys" / "passphrases.tsv"
    config["privacy"].update(encrypt_reports=True, passphrase_file=str(keys))
    params = {k: config.get(k) for k in ("cohort_name", "cohort", "reference", "privacy")}
    r = run / "results"
    out = tmp_path / "results" / "reports"
    inputs = {
        "cohort": "profiling/cohort.h5ad", "rankings": "ranking/rankings.tsv",
        "metrics": "sensitivity/metrics.tsv", "response": "reference/response.tsv",
        "prognosis": "survival/patients.tsv", "km": "survival/km.tsv",
        "patient-curves": "survival/patient_curves.tsv",
        "survival-metrics": "survival/metrics.json", "target-z": "profiling/target_z.tsv",
        "module-traits": "correlation/module_traits.tsv",
        "outcome-metrics": "outcome/metrics.tsv", "outcome-calibration": "outcome/calibration.tsv",
        "outcome-patients": "outcome/patients.tsv", "outcome-summary": "outcome/summary.json",
    }  # fmt: skip
    args = [f"--{k}={r / v}" for k, v in inputs.items()]
    argv = ["report", f"--params={json.dumps(params)}", *args, f"--outdir={out}"]
    assert cli([*argv, f"--provenance={tmp_path / 'provenance.json'}"]) == 0
    phrases = read_passphrases(keys)
    clinical = pd.read_csv(ROOT / "resources/demo/clinical.tsv", sep="\t", dtype=str)
    ids = list(clinical["patient_id"])
    secrets = set(ids) | {pseudonym(pid, KEY.encode()) for pid in ids}
    secrets |= set(pd.read_csv(r / "ranking/rankings.tsv", sep="\t")["drug"])
    secrets |= set(clinical["treatment"]) | set(clinical["age"]) | set(clinical["os_months"])
    pages = sorted(out.glob("*.html"))
    assert len(pages) == len(ids) + 1 and set(phrases) == {p.stem for p in pages}
    payload = re.compile(r'("ciphertext": ")[A-Za-z0-9+/=]+(")')
    for page in pages:
        text = page.read_text()
        plain = html_unescape(payload.sub(r"\1\2", text))
        # whole words only: a two-digit age must not match inside a checksum, a date or a time
        near = r"[\w+/.:-]"
        leaks = [s for s in secrets if re.search(rf"(?<!{near}){re.escape(s)}(?!{near})", plain)]
        assert not leaks, (page.name, leaks[:3])
        html = decrypt_page(text, phrases[page.stem], source=page.name)
        assert page.stem in html or page.stem == "index"
        plain_twin = "index.html" if page.stem == "index" else f"pages/001/{page.name}"
        (run / "results/reports" / plain_twin).read_text()  # the plain twin exists
    with pytest.raises(WrongPassphrase):
        decrypt_page(pages[0].read_text(), phrases[pages[1].stem])
