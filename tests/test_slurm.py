"""The workflow on a real SLURM scheduler: a single-node cluster on localhost (ci/slurm-up.sh).

The demo workflow runs through ``--profile profiles/slurm`` (snakemake-executor-plugin-slurm) and its
rankings must equal those of a local run. The cluster is Debian's SLURM 22.05 with munge, installed
by ``ci/install-system-deps.sh`` (which ``.ci/run`` calls) and started and stopped by PID by
ci/slurm-up.sh / ci/slurm-down.sh; the tests skip, saying why, where it is not installed or where
they are not root. Two clusters, one after the other:

* without accounting (no slurmdbd, as on many small clusters): ``sacct`` fails, so the profile's
  status checks use ``squeue``; the demo runs here, and profiles/slurm/controller.sbatch (the
  controller as a SLURM job);
* with slurmdbd and MariaDB (only where installed): the plugin's ``sacct`` status checks and its
  account validation, on the workflow's first jobs.

Scheduler failures are hangs, not errors, so every scheduler command and every Snakemake run is
under ``timeout -k``. Time on 2 quiet cores: 6.5 minutes in all (local demo run 100 s, SLURM demo
run 195 s, controller job 30 s, accounting cluster 50 s); each step prints its time (``pytest -s``).
The two profile tests at the top need no scheduler and always run (5 s).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import demo_config, write_demo_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.slurm]
KEY = "5f2b9c4e8a1d7063" * 4  # a test key of 256 bits, not secret
SBIN = os.pathsep.join(["/usr/sbin", "/sbin"])

# seconds; generous, but each under the 10 minutes of the whole module
UP_TIMEOUT = 180
DOWN_TIMEOUT = 90
RUN_TIMEOUT = 540
COMMAND_TIMEOUT = 30


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SBIN)


def _skip_reason(*binaries: str) -> str | None:
    if os.environ.get("RXRANK_SLURM") == "0":
        return "RXRANK_SLURM=0: scheduler tests disabled"
    missing = [b for b in binaries if _which(b) is None]
    if missing:
        return (
            f"SLURM not installed ({', '.join(missing)} not found): "
            "run ci/install-system-deps.sh as root (Debian: munge slurmctld slurmd slurm-client)"
        )
    if shutil.which("timeout") is None:
        return "coreutils' timeout not found"
    if os.geteuid() != 0:
        return "the single-node test cluster runs its daemons as root: run the tests as root"
    return None


SLURM_SKIP = _skip_reason("sbatch", "squeue", "sinfo", "slurmctld", "slurmd", "munged")
ACCOUNTING_SKIP = SLURM_SKIP or _skip_reason("slurmdbd", "mariadbd", "mariadb", "sacct")

needs_slurm = pytest.mark.skipif(SLURM_SKIP is not None, reason=SLURM_SKIP or "")
needs_accounting = pytest.mark.skipif(ACCOUNTING_SKIP is not None, reason=ACCOUNTING_SKIP or "")


def _say(msg: str) -> None:
    print(f"[test_slurm] {msg}", flush=True)


def _timed(cmd: list[str], timeout: int, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` under ``timeout -k 10 TIMEOUT`` (SLURM failures hang rather than fail)."""
    return subprocess.run(
        ["timeout", "-k", "10", str(timeout), *cmd],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        **kwargs,
    )


class Cluster:
    """A cluster started by ci/slurm-up.sh; stopped (by PID) by ci/slurm-down.sh."""

    def __init__(self, state: Path, accounting: bool):
        self.state = state
        self.accounting = accounting
        self.env = dict(os.environ)
        self.pids: dict[str, int] = {}

    def start(self) -> None:
        args = ["bash", str(ROOT / "ci/slurm-up.sh"), str(self.state)]
        if self.accounting:
            args.append("--accounting")
        t0 = time.monotonic()
        proc = _timed(args, UP_TIMEOUT)
        for pid_file in (self.state / "pids").glob("*.pid"):
            self.pids[pid_file.stem] = int(pid_file.read_text())
        assert proc.returncode == 0, f"slurm-up failed ({proc.returncode}):\n{proc.stderr}"
        self.env["SLURM_CONF"] = str(self.state / "etc/slurm.conf")
        self.env["PATH"] = os.pathsep.join([self.env.get("PATH", ""), SBIN])
        _say(f"cluster up in {time.monotonic() - t0:.1f} s: {sorted(self.pids)}")

    def stop(self) -> None:
        t0 = time.monotonic()
        proc = _timed(["bash", str(ROOT / "ci/slurm-down.sh"), str(self.state)], DOWN_TIMEOUT)
        _say(f"cluster stopped in {time.monotonic() - t0:.1f} s:\n{proc.stderr.strip()}")
        alive = [name for name, pid in self.pids.items() if _alive(pid)]
        # nothing whose command line names this cluster's state directory (daemons, job steps)
        left = subprocess.run(
            ["pgrep", "-a", "-f", str(self.state)], capture_output=True, text=True
        ).stdout.strip()
        assert not alive, f"daemons still running after slurm-down: {alive}\n{proc.stderr}"
        assert not left, f"processes of the test cluster still running:\n{left}"
        assert proc.returncode == 0, proc.stderr

    def run(self, *cmd: str, timeout: int = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        return _timed(list(cmd), timeout, env=self.env)

    def jobs(self) -> pd.DataFrame:
        """Every job the controller still knows (finished ones for MinJobAge = 300 s)."""
        proc = self.run("squeue", "--states=all", "--noheader", "--format=%i|%T|%P|%C|%m|%k")
        assert proc.returncode == 0, proc.stderr
        rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
        return pd.DataFrame(rows, columns=["id", "state", "partition", "cpus", "mem", "comment"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cluster(tmp_path_factory, accounting: bool):
    state = tmp_path_factory.mktemp("slurm-acct" if accounting else "slurm")
    cluster = Cluster(state, accounting)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _snakemake(
    tmp: Path, *args: str, env: dict | None = None, shard_size: int | None = None
) -> subprocess.CompletedProcess:
    config = demo_config()
    if shard_size is not None:
        config["report"] = {"shard_size": shard_size}
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
        "--configfile", str(write_demo_config(tmp, config)), *args,
    ]  # fmt: skip
    env = {**(env or os.environ), "RXRANK_PSEUDONYM_KEY": KEY}
    return _timed(cmd, RUN_TIMEOUT, cwd=tmp, env=env)


def _failure(proc: subprocess.CompletedProcess, tmp: Path) -> str:
    logs = "\n".join(
        f"--- {p.relative_to(tmp)}\n{p.read_text()[-2000:]}"
        for pattern in ("logs/*.log", "logs/slurm/**/*.log")
        for p in sorted(tmp.glob(pattern))
        if p.is_file()
    )
    how = "timed out (hung)" if proc.returncode in (124, 137) else f"exit {proc.returncode}"
    return f"snakemake {how}\n{proc.stderr[-5000:]}\n{logs[-6000:]}"


# the SLURM profile plus what this one small node needs: the site's partition (here as a user
# would set it), a short first status check (the plugin needs MinJobAge >= 3 x this for squeue;
# the cluster has 300 s) and at most 2 CPUs for any job or group (the node has 2)
SLURM_ARGS = (
    "--profile", str(ROOT / "profiles/slurm"),
    "--default-resources", "slurm_partition=debug",
    "--slurm-init-seconds-before-status-checks", "5",
    "--resources", "cpus_per_task=2",
)  # fmt: skip


#: the demo's 200 patients in 2 report shards: two report jobs on the cluster
SLURM_SHARD_SIZE = 100


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    t0 = time.monotonic()
    proc = _snakemake(tmp, "--cores", "2")
    assert proc.returncode == 0, _failure(proc, tmp)
    _say(f"local demo run: {time.monotonic() - t0:.0f} s")
    return tmp


def test_profiles_do_not_shadow_each_other():
    # profiles/default is the workflow profile: loaded on every run, with --profile profiles/slurm
    # too, and it overrides that profile key by key. A key in both would silently lose the
    # SLURM value.
    default = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert not set(default) & set(slurm)
    assert slurm["executor"] == "slurm" and slurm["slurm-status-command"] == "squeue"
    # no site account or partition is set
    assert not {"slurm_account", "slurm_partition"} & set(slurm.get("default-resources", {}))


@pytest.mark.parametrize("shard_size, shards", [(500, 1), (100, 2), (50, 4)])
def test_slurm_submissions_grow_with_report_shards_not_patients(tmp_path, shard_size, shards):
    """A dry run through the SLURM profile (needs no scheduler): one submission per group, per
    job outside a group and per report shard. The 200 demo patients in shards of
    ``report.shard_size``: 7 submissions + one per shard, whatever the number of patients per
    shard (bench/dag.py finds 7 + 2 at 1,000 patients and 7 + 20 at 10,000)."""
    proc = _snakemake(
        tmp_path,
        "-n",
        "--profile",
        str(ROOT / "profiles/slurm"),
        "--quiet",
        "host",
        shard_size=shard_size,
    )  # fmt: skip  (the workflow profile's quiet list hides the jobs' listing)
    assert proc.returncode == 0, _failure(proc, tmp_path)
    out = proc.stdout + proc.stderr
    stats = _job_stats(out)
    assert stats.pop("report_pages") == shards
    assert all(n == 1 for n in stats.values()), stats
    single = re.findall(r"^(?:\[[^\]]*\]\s*)?rule (\w+):\s*$", out, re.M)
    single = [rule for rule in single if rule != "all"]
    group_jobs = re.findall(r"Group job (\S+)", out)
    group_of = _groups()
    assert sorted(group_jobs) == sorted({group_of[r] for r in stats if r in group_of})
    assert sorted(single) == sorted(
        [*(r for r in stats if r not in group_of), *["report_pages"] * shards]
    )
    assert len(single) + len(group_jobs) == 7 + shards


def _groups() -> dict[str, str]:
    """Rule -> group, from profiles/slurm."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    return dict(entry.split("=") for entry in profile["groups"])


@needs_slurm
class TestWithoutAccounting:
    """No slurmdbd: sacct cannot answer, the profile's squeue status checks must."""

    @pytest.fixture(scope="class")
    def cluster(self, tmp_path_factory):
        yield from _cluster(tmp_path_factory, accounting=False)

    @pytest.fixture(scope="class")
    def slurm_run(self, cluster, tmp_path_factory):
        tmp = tmp_path_factory.mktemp("slurm-run")
        t0 = time.monotonic()
        proc = _snakemake(tmp, *SLURM_ARGS, env=cluster.env, shard_size=SLURM_SHARD_SIZE)
        elapsed = time.monotonic() - t0
        assert proc.returncode == 0, _failure(proc, tmp)
        _say(f"demo through profiles/slurm: {elapsed:.0f} s")
        return tmp, cluster.jobs(), proc.stderr

    def test_sacct_fails_without_slurmdbd(self, cluster):
        # why the profile sets slurm-status-command: squeue (the plugin's default is sacct
        # whenever the binary exists, and then it waits forever: see docs/cluster.md)
        proc = cluster.run("sacct", "-X", "--noheader", "--format=JobIdRaw,State")
        assert proc.returncode != 0
        assert "accounting storage is disabled" in proc.stderr.lower()
        # ... while the plugin picks sacct whenever the binary is there (2.8: a private helper)
        import snakemake_executor_plugin_slurm as plugin

        default = getattr(plugin, "_get_status_command_default", None)
        if default is not None:
            assert default() == "sacct"

    def test_rankings_equal_the_local_run(self, slurm_run, local_run):
        tmp, _, _ = slurm_run
        got = pd.read_csv(tmp / "results/ranking/rankings.tsv", sep="\t")
        want = pd.read_csv(local_run / "results/ranking/rankings.tsv", sep="\t")
        keys = ["patient_id", "drug"]
        got = got.sort_values(keys).reset_index(drop=True)
        want = want.sort_values(keys).reset_index(drop=True)
        assert list(got.columns) == list(want.columns)
        for col in ("patient_id", "drug", "rank", "tier"):
            if col in want:
                pd.testing.assert_series_equal(got[col], want[col])
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-12)
        assert (tmp / "results/reports/index.html").stat().st_size > 0

    def test_jobs_ran_on_slurm_grouped_with_the_profiles_resources(self, slurm_run):
        _, jobs, stderr = slurm_run
        _say(f"SLURM jobs of the demo run:\n{jobs.to_string(index=False)}")
        assert "Falling back to 'sacct'" not in stderr
        assert len(jobs) > 0 and (jobs["state"] == "COMPLETED").all(), jobs
        # the partition given as a site would (--default-resources) reached sbatch
        assert (jobs["partition"] == "debug").all()
        # one submission per group and per job outside any group
        stats = _job_stats(stderr)
        group_of = _groups()
        grouped = {rule: n for rule, n in stats.items() if rule in group_of}
        groups = {group_of[rule] for rule in grouped}
        expected = sum(stats.values()) - sum(grouped.values()) + len(groups)
        assert len(jobs) == expected, (stats, jobs)

        # the plugin's comment is rule_<rule>[_wildcards_<values>], or rule_<group>_<its rules>
        # for a group job
        def name(comment: str) -> str:
            name = comment.removeprefix("rule_").split("_wildcards_")[0]
            return next((g for g in groups if name.startswith(f"{g}_")), name)

        names = sorted(name(c) for c in jobs["comment"])
        ungrouped = [r for r, n in stats.items() if r not in group_of for _ in range(n)]
        assert names == sorted([*groups, *ungrouped]), jobs
        # the report's pages ran as one job per shard, beside the index's own job
        assert stats["report_pages"] == 2 and names.count("report_pages") == 2, jobs
        # per-rule resources of profiles/default (the workflow profile) reached sbatch
        sens = jobs[jobs["comment"] == "rule_sensitivity"]
        assert len(sens) == 1 and sens["cpus"].iloc[0] == "2", jobs

    def test_controller_inside_an_allocation(self, cluster, tmp_path):
        # profiles/slurm/controller.sbatch: Snakemake's controller as a SLURM job, submitting the
        # workflow's jobs from inside its allocation (here up to the first group job only)
        write_demo_config(tmp_path)
        env = {**cluster.env, "RXRANK_ROOT": str(ROOT), "RXRANK_PSEUDONYM_KEY": KEY}
        t0 = time.monotonic()
        proc = _timed(
            ["sbatch", "--parsable", str(ROOT / "profiles/slurm/controller.sbatch"),
             "--configfile", "config.yaml", *SLURM_ARGS[2:], "--", "results/reference/response.tsv"],
            COMMAND_TIMEOUT, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        controller = proc.stdout.strip().split(";")[0]
        state = ""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = cluster.run("squeue", "-h", "-j", controller, "--states=all", "-o", "%T")
            state = state.stdout.strip()
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"):
                break
            time.sleep(3)
        log = tmp_path / f"rxrank-controller-{controller}.log"
        text = log.read_text() if log.exists() else "(no controller log)"
        if state != "COMPLETED":
            cluster.run("scancel", controller)
        assert state == "COMPLETED", f"controller job {state or 'vanished'}:\n{text[-4000:]}"
        _say(f"controller inside an allocation: {time.monotonic() - t0:.0f} s")
        assert (tmp_path / "results/reference/response.tsv").stat().st_size > 0
        assert "has been submitted with SLURM jobid" in text


def _job_stats(output: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's "Job stats" table, less ``all`` (only collects targets)."""
    lines = output[output.index("Job stats:") :].splitlines()[3:]
    stats = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        stats[parts[0]] = int(parts[1])
    stats.pop("all", None)
    return stats


@needs_accounting
class TestWithAccounting:
    """slurmdbd + MariaDB: the plugin's sacct status checks and account validation work."""

    @pytest.fixture(scope="class")
    def cluster(self, tmp_path_factory):
        yield from _cluster(tmp_path_factory, accounting=True)

    def test_sacct_status_checks_and_account(self, cluster, tmp_path):
        proc = cluster.run("sacctmgr", "--noheader", "--parsable2", "list", "user", "root",
                           "format=DefaultAccount")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        account = proc.stdout.strip().splitlines()[0]
        t0 = time.monotonic()
        proc = _snakemake(
            tmp_path,
            *SLURM_ARGS,
            "--slurm-status-command", "sacct",
            "--default-resources", "slurm_partition=debug", f"slurm_account={account}",
            "--", "results/reference/response.tsv",  # a target: only the first (group) job
            env=cluster.env,
        )  # fmt: skip
        assert proc.returncode == 0, _failure(proc, tmp_path)
        _say(f"first jobs through profiles/slurm with sacct status checks: "
             f"{time.monotonic() - t0:.0f} s")  # fmt: skip
        assert (tmp_path / "results/reference/response.tsv").stat().st_size > 0
        proc = cluster.run("sacct", "-X", "--noheader", "--parsable2",
                           "--format=JobIDRaw,State,Account,Partition")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
        assert rows and all(r[1] == "COMPLETED" and r[2] == account for r in rows), rows
