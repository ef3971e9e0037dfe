"""Crash recovery: real workflow runs killed with SIGKILL, then resumed (the crash-recovery audit).

Two findings, each with its test:

* after a SIGKILL, Snakemake's lock stays behind and the next run refuses to start until
  ``snakemake --unlock`` (the lock names no process, so nothing can tell it from a live run's);
  the README's "After a crash" says so;
* a kill during ``--forcerun survival`` left ``results/survival/`` empty and the next run said
  "Nothing to be done": Snakemake deletes a job's outputs when the job starts and remakes a missing
  intermediate file only when a final output needs it, and the ranking and reports made from the
  old survival outputs still looked current. Every stage now removes those two final outputs before
  it runs, so the next plain run redoes the stage and everything after it.

One clean run of a small seeded demo (40 patients, one Cox penalty, no bootstrap, one outcome
model) is shared by the module; each test works on a copy of it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from helpers import TEST_KEY, small_demo_config, stage_process

from rxrank.demo import DemoSpec, write_demo

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.workflow]
KEY = TEST_KEY
FINAL = ("results/ranking/rankings.tsv", "results/reports/index.html")  # the final outputs
SURVIVAL = [
    "cox_summary.tsv", "metrics.json", "patients.tsv", "km.tsv", "patient_curves.tsv",
    "treatment_effects.tsv", "longitudinal.tsv",
]  # fmt: skip
OUTCOME = ["metrics.tsv", "calibration.tsv", "patients.tsv", "summary.json"]  # its own stage


def _config() -> dict:
    return small_demo_config(fast=True)


def _command(*args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
        "--configfile", "config.yaml", "--cores", "2", *args,
    ]  # fmt: skip


def _env() -> dict:
    return {**os.environ, "RXRANK_PSEUDONYM_KEY": KEY}


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(*args), cwd=work, env=_env(), capture_output=True, text=True, timeout=1200
    )


def _output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def _failure(proc: subprocess.CompletedProcess, work: Path) -> str:
    logs = "".join(p.read_text() for p in (work / "logs").glob("*.log"))
    return _output(proc)[-4000:] + logs[-3000:]


def _rules_run(proc: subprocess.CompletedProcess) -> set[str]:
    """The rules whose jobs a run finished (the profile's quiet console prints one line each), or
    a dry run plans."""
    out = _output(proc)
    planned = re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M)
    return set(planned) | set(re.findall(r"\(Rule: (\w+)\)", out))


def _locks(work: Path) -> list[Path]:
    """Snakemake's lock files (it removes the folder with the last one)."""
    locks = work / ".snakemake/locks"
    return list(locks.iterdir()) if locks.exists() else []


def _kill_during(work: Path, stage: str, *args: str, whole_run: bool) -> int:
    """Start ``snakemake *args``; once the ``stage`` job's process runs, SIGKILL either the whole
    run (Snakemake's process group: no clean-up at all) or only that job's process."""
    log = work / "killed-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            _command(*args), cwd=work, env=_env(), start_new_session=True,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline, victim = time.monotonic() + 600, None
        while victim is None and proc.poll() is None and time.monotonic() < deadline:
            victim = stage_process(psutil.Process(proc.pid), stage)
            time.sleep(0.05)
        assert victim is not None, f"the {stage} job was never seen running\n{log.read_text()}"
        if whole_run:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            victim.kill()
        return proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _copy(run: Path, tmp: Path) -> Path:
    work = tmp / "work"
    shutil.copytree(run, work, symlinks=True)  # with mtimes and Snakemake's .snakemake/ records
    return work


def _assert_same_results(work: Path, run: Path) -> None:
    """Complete, and the same as the clean run: rankings, survival and outcome tables byte for
    byte, every report page present."""
    survival = [f"results/survival/{name}" for name in SURVIVAL]
    for rel in [FINAL[0], *survival, *(f"results/outcome/{name}" for name in OUTCOME)]:
        assert (work / rel).read_bytes() == (run / rel).read_bytes(), rel
    reports = run / "results/reports"
    pages = sorted(str(p.relative_to(reports)) for p in reports.rglob("*.html"))
    assert len(pages) == 41 and pages[0] == "index.html"  # 40 patients' pages in shard 001
    assert all(p.startswith("pages/001/") for p in pages[1:])
    again = work / "results/reports"
    assert sorted(str(p.relative_to(again)) for p in again.rglob("*.html")) == pages
    assert all((again / name).stat().st_size > 0 for name in pages)
    again = _snakemake(work, "-n")
    assert again.returncode == 0 and "Nothing to be done" in _output(again), _output(again)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One clean run of the small demo, to the end (rankings and reports)."""
    work = tmp_path_factory.mktemp("clean")
    write_demo(work, DemoSpec(n_patients=40, n_genes=300, n_lines=40, seed=3))
    (work / "config.yaml").write_text(yaml.safe_dump(_config()))
    proc = _snakemake(work)
    assert proc.returncode == 0, _failure(proc, work)
    assert all((work / rel).exists() for rel in FINAL)
    return work


@pytest.fixture(scope="module")
def killed(run, tmp_path_factory) -> Path:
    """A copy of the clean run whose ``snakemake --forcerun survival`` was SIGKILLed, Snakemake
    and all, while the survival job ran: the audit's scenario."""
    work = _copy(run, tmp_path_factory.mktemp("killed"))
    code = _kill_during(work, "survival", "--forcerun", "survival", whole_run=True)
    assert code == -signal.SIGKILL
    return work


def test_after_a_sigkill_the_lock_stays_and_snakemake_unlock_clears_it(killed, tmp_path):
    work = _copy(killed, tmp_path)
    assert _locks(work), "the killed run left no lock"
    # the next run refuses, names the way out, and runs nothing
    refused = _snakemake(work)
    assert refused.returncode != 0
    assert "LockException" in _output(refused) and "--unlock" in _output(refused)
    assert _rules_run(refused) == set()
    assert not any((work / "results/survival" / name).exists() for name in SURVIVAL)
    # `snakemake --unlock` (with the run's --configfile) removes it, and the next run may start
    unlocked = _snakemake(work, "--unlock")
    assert unlocked.returncode == 0, _output(unlocked)
    assert not _locks(work)
    plan = _snakemake(work, "-n")
    assert plan.returncode == 0 and "cannot be locked" not in _output(plan), _output(plan)


def test_a_sigkill_during_forcerun_survival_is_redone_by_the_next_plain_run(killed, run, tmp_path):
    work = _copy(killed, tmp_path)
    # what the kill left: Snakemake had deleted the survival outputs when the job started
    assert not any((work / "results/survival" / name).exists() for name in SURVIVAL)
    assert _snakemake(work, "--unlock").returncode == 0
    proc = _snakemake(work)
    assert proc.returncode == 0, _failure(proc, work)
    assert "Nothing to be done" not in _output(proc)
    # only what the crash interrupted and what depends on it
    assert _rules_run(proc) == {"survival", "rank", "report_pages", "report", "all"}
    _assert_same_results(work, run)


def test_a_killed_survival_job_in_forcerun_is_redone_by_the_next_plain_run(run, tmp_path):
    """The same with Snakemake alive (the job alone killed, e.g. out of memory): Snakemake removes
    the failed job's outputs and its lock; the next plain run must not say 'Nothing to be done'."""
    work = _copy(run, tmp_path)
    code = _kill_during(work, "survival", "--forcerun", "survival", whole_run=False)
    assert code != 0
    assert not _locks(work)
    assert not any((work / "results/survival" / name).exists() for name in SURVIVAL)
    proc = _snakemake(work)
    assert "Nothing to be done" not in _output(proc)
    assert proc.returncode == 0, _failure(proc, work)
    assert _rules_run(proc) == {"survival", "rank", "report_pages", "report", "all"}
    _assert_same_results(work, run)


def test_every_stage_output_is_a_target(run, tmp_path):
    """A missing output of any stage (a crash inside it, or a file deleted by hand) is remade by
    the next plain run, with everything after it; not only missing rankings or reports."""
    work = _copy(run, tmp_path)
    for rel in ("results/check/summary.json", "results/correlation/modules.tsv"):
        (work / rel).unlink()
        plan = _snakemake(work, "-n", "--quiet", "host")  # with the jobs' listing
        assert plan.returncode == 0, _output(plan)
        stage = "check" if "check" in rel else "modules"
        jobs = set(re.findall(r"^rule (\w+):", _output(plan), flags=re.M))
        assert stage in jobs and {"rank", "report"} <= jobs, (rel, jobs)
        assert _snakemake(work).returncode == 0


def test_readme_says_what_to_do_after_a_crash():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^### After a crash\n(.*?)(?=^#)", readme, flags=re.M | re.S)
    assert match, "README has no 'After a crash' section"
    section = match.group(1)
    for needed in ("snakemake --unlock", "rerun-incomplete", "Nothing to be done"):
        assert needed in section, needed
