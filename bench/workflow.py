"""The Snakemake workflow as a whole: DAG build time vs patients (``dag``) and a real run (``workflow``).

Both run on seeded synthetic cohorts from ``rxrank.demo.generate`` (2,000 genes, 150 cell lines and
20 drugs by default; only the number of patients changes), written to a temporary directory with a
config that points at them. The config sets ``cohort.orientation: genes_by_samples``: with more
patients than genes the ``auto`` orientation (longer axis = genes) would take the genes for patients.

- :func:`bench_dag` times ``snakemake -n`` (a dry run: Python start, parsing the Snakefile, which
  reads the patient IDs, and building the DAG), with the local profile and with ``--profile
  profiles/slurm``, repeats interleaved, and counts the jobs and the SLURM submissions (jobs outside
  groups plus group jobs; ``rule all`` only collects targets and is never submitted).
- :func:`bench_workflow` runs the workflow for real (``--cores 2``) with a wrapper in front of the
  ``rxrank`` console script that records each stage's wall time and peak resident set size
  (``ru_maxrss`` of the child, the kernel's high-water mark; the figure SLURM's ``MaxRSS`` reports),
  and samples the resident size of the whole process tree (Snakemake and the stages running at the
  same time, every 0.1 s) for the workflow's peak.

``python -m bench --only dag,workflow`` writes their sections of BENCHMARKS.md (and the per-rule
table of docs/cluster.md); ``python bench/dag.py`` prints the same tables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.measure import Contention

__all__ = [
    "bench_dag",
    "bench_workflow",
    "count_jobs",
    "dag_section",
    "rule_table",
    "workflow_section",
    "write_cohort",
]

ROOT = Path(__file__).resolve().parents[1]
GENES, LINES, SEED = 2000, 150, 7
PROFILES = ("default", "slurm")


def _point_at(value: Any, generated: dict[str, Path]) -> Any:
    """A config value with every ``resources/...`` path sent to the generated file, or made absolute
    (the workflow runs with ``--directory`` elsewhere)."""
    if isinstance(value, dict):
        return {k: _point_at(v, generated) for k, v in value.items()}
    if isinstance(value, list):
        return [_point_at(v, generated) for v in value]
    if isinstance(value, str) and value.startswith("resources/"):
        rel = value.removeprefix("resources/")
        return str(generated[rel]) if rel in generated else str(ROOT / value)
    return value


def write_cohort(
    outdir: Path,
    n_patients: int,
    n_genes: int = GENES,
    n_lines: int = LINES,
    seed: int = SEED,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Write a seeded synthetic cohort and reference under ``outdir``; returns its config file.

    Every input the default config takes from ``resources/`` comes from ``rxrank.demo.generate``
    when it generates that file (the planted truth is not an input and is not written).
    ``overrides`` (nested sections) replace settings of config/config.yaml.
    """
    from rxrank.demo import DemoSpec, generate

    spec = DemoSpec(n_patients=n_patients, n_genes=n_genes, n_lines=n_lines, seed=seed)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    wanted = set()
    _collect_resources(config, wanted)
    generated: dict[str, Path] = {}
    for rel, frame in generate(spec).items():
        if rel not in wanted:
            continue
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # fast gzip: the cohort is written once per run and read once per dry run
        compression = (
            {"method": "gzip", "compresslevel": 1, "mtime": 0} if rel.endswith(".gz") else None
        )
        # a named index (gene_id, cell_line) is data; a default RangeIndex is not
        frame.to_csv(path, sep="\t", index=frame.index.name is not None, compression=compression)
        generated[rel] = path
    config = _merge(_point_at(config, generated), overrides or {})
    config["cohort"]["orientation"] = "genes_by_samples"
    # the pseudonym key and report passphrases of a benchmark stay in its temporary directory
    privacy = config.setdefault("privacy", {})
    for key, name in (("key_file", "pseudonym.key"), ("passphrase_file", "passphrases.tsv")):
        privacy[key] = str(outdir / name)  # set or not, the default would be under ~/.config
    config_path = outdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_path


def _merge(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _flat(overrides: dict[str, Any], prefix: str = "") -> list[str]:
    """``a.b: value`` strings of nested overrides (for the report)."""
    out = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append(f"`{prefix}{key}: {json.dumps(value)}`")
    return out


def _collect_resources(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _collect_resources(v, into)
    elif isinstance(value, list):
        for v in value:
            _collect_resources(v, into)
    elif isinstance(value, str) and value.startswith("resources/"):
        into.add(value.removeprefix("resources/"))


def snakemake_cmd(config: Path, workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(config),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]


def snakemake_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("snakemake")
    except PackageNotFoundError:
        return "?"


def count_jobs(dry_run_output: str) -> tuple[int, int]:
    """(jobs, SLURM submissions) from a dry run's output.

    Jobs: the ``total`` of the job stats table less ``all``. Submissions: top-level ``rule X:``
    entries other than ``all`` (jobs outside any group) plus ``Group job`` entries (one submission
    each, whatever the number of jobs inside).
    """
    total = re.search(r"^total\s+(\d+)\s*$", dry_run_output, re.M)
    if total is None:
        raise RuntimeError("no job stats in the dry run's output:\n" + dry_run_output[-3000:])
    n_all = len(re.findall(r"^(?:\[[^\]]*\]\s*)?rule all:\s*$", dry_run_output, re.M))
    jobs = int(total.group(1)) - n_all
    ungrouped = [
        name
        for name in re.findall(r"^(?:\[[^\]]*\]\s*)?rule (\w+):\s*$", dry_run_output, re.M)
        if name != "all"
    ]
    groups = re.findall(r"Group job \S+", dry_run_output)
    return jobs, len(ungrouped) + len(groups)


def run_child(
    cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600, tree: bool = False
) -> dict[str, Any]:
    """Run ``cmd`` to its end: wall seconds, others' load (cores), output, return code; with
    ``tree`` also the peak of the summed RSS of the whole process tree, sampled every 0.1 s.

    (The kernel's high-water mark of the child, ``ru_maxrss``, is no use here: it includes the
    benchmark process's own resident size, which the child has between fork and exec.)"""
    with tempfile.TemporaryFile() as out, Contention() as busy:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        peak_tree = [0]
        stop = threading.Event()
        sampler = None
        if tree:
            sampler = threading.Thread(target=_sample_tree, args=(proc.pid, peak_tree, stop))
            sampler.start()
        try:
            _, status = os.waitpid(proc.pid, 0)
        finally:
            timer.cancel()
            stop.set()
            if sampler is not None:
                sampler.join()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {
        "wall_s": wall,
        "tree_peak_mib": peak_tree[0] / 2**20 if tree else float("nan"),
        "others_cores": busy.others,
        "returncode": proc.returncode,
        "output": text,
    }


def _sample_tree(pid: int, peak: list[int], stop: threading.Event) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)
        stop.wait(0.1)


def dry_run(config: Path, workdir: Path, profile: str) -> dict[str, Any]:
    args = ["-n", "--quiet", "host"]  # the profile hides the listing count_jobs reads
    if profile != "default":
        args += ["--profile", str(ROOT / "profiles" / profile)]
    res = run_child(snakemake_cmd(config, workdir, *args), tree=True)
    if res["returncode"] != 0:
        raise RuntimeError(f"dry run failed ({res['returncode']}):\n{res['output'][-4000:]}")
    res["jobs"], res["submissions"] = count_jobs(res["output"])
    return res


def bench_dag(
    patients: Sequence[int],
    *,
    genes: int = GENES,
    lines: int = LINES,
    seed: int = SEED,
    repeats: int = 1,
    profiles: Sequence[str] = PROFILES,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Dry runs per cohort size and profile (repeats interleaved over the profiles)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="rxrank-dag-") as tmp:
        for n in patients:
            base = Path(tmp) / f"n{n}"
            base.mkdir()
            t0 = time.perf_counter()
            config = write_cohort(base, n, genes, lines, seed)
            cohort_s = time.perf_counter() - t0
            log(f"  dag: {n:,} patients x {genes:,} genes (cohort written in {cohort_s:.1f} s)")
            runs: dict[str, list[dict[str, Any]]] = {p: [] for p in profiles}
            for r in range(repeats):
                for profile in profiles:
                    workdir = base / f"work-{profile}-{r}"
                    workdir.mkdir()
                    res = dry_run(config, workdir, profile)
                    runs[profile].append(res)
                    log(
                        f"    {profile}: repeat {r + 1}/{repeats}: {res['wall_s']:.2f} s, "
                        f"{res['tree_peak_mib']:.0f} MiB, {res['jobs']} jobs, {res['submissions']} "
                        f"submissions, others using {res['others_cores']:.1f} cores"
                    )
            for profile, rs in runs.items():
                walls = [x["wall_s"] for x in rs]
                rows.append(
                    {
                        "patients": n,
                        "profile": profile,
                        "repeats": len(rs),
                        "time_s": statistics.median(walls),
                        "time_min_s": min(walls),
                        "time_max_s": max(walls),
                        "peak_mib": statistics.median(x["tree_peak_mib"] for x in rs),
                        "others_cores": statistics.median(x["others_cores"] for x in rs),
                        "jobs": rs[-1]["jobs"],
                        "submissions": rs[-1]["submissions"],
                        "cohort_s": cohort_s,
                    }
                )
    return {
        "rows": rows,
        "config": {"genes": genes, "lines": lines, "seed": seed},
        "snakemake": snakemake_version(),
    }


WRAPPER = """#!{python}
# rxrank with its wall time and peak RSS appended to {log} (written by bench/workflow.py)
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call([{real!r}] + sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"stage": sys.argv[1] if len(sys.argv) > 1 else "", "rc": rc,
        "wall_s": time.perf_counter() - t0, "maxrss_mib": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime}}) + "\\n")
sys.exit(rc)
"""


def bench_workflow(
    patients: Sequence[int],
    *,
    genes: int = GENES,
    lines: int = LINES,
    seed: int = SEED,
    targets: Sequence[str] = (),
    overrides: dict[str, Any] | None = None,
    timeout: float = 7200,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """One real run of the workflow per cohort size: per stage and whole (see the module doc).

    ``overrides``: settings that replace config/config.yaml's (none by default: the demo config).
    """
    # the console script of this interpreter (not a version manager's shim, which adds its start)
    own = Path(sys.executable).with_name("rxrank")
    real = str(own) if own.exists() else shutil.which("rxrank")
    if real is None:
        raise RuntimeError(
            "the rxrank console script is not on PATH: python3 -m pip install -e '.[workflow]'"
        )
    runs = []
    with tempfile.TemporaryDirectory(prefix="rxrank-workflow-") as tmp:
        for n in patients:
            base = Path(tmp) / f"n{n}"
            base.mkdir()
            t0 = time.perf_counter()
            config = write_cohort(base, n, genes, lines, seed, overrides)
            cohort_s = time.perf_counter() - t0
            bindir = base / "bin"
            bindir.mkdir()
            usage_log = base / "usage.jsonl"
            wrapper = bindir / "rxrank"
            wrapper.write_text(WRAPPER.format(python=sys.executable, real=real, log=str(usage_log)))
            wrapper.chmod(0o755)
            env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
            workdir = base / "work"
            workdir.mkdir()
            log(
                f"  workflow: {n:,} patients x {genes:,} genes, {lines} cell lines, --cores 2 "
                f"(cohort written in {cohort_s:.1f} s)"
            )
            cmd = snakemake_cmd(
                config, workdir, "--workflow-profile", str(ROOT / "profiles/default"), *targets
            )
            res = run_child(cmd, env=env, timeout=timeout, tree=True)
            if res["returncode"] != 0:
                logs = "".join(p.read_text() for p in sorted((workdir / "logs").glob("*.log")))
                raise RuntimeError(
                    f"the workflow failed at {n} patients ({res['returncode']}):\n"
                    + res["output"][-4000:]
                    + logs[-4000:]
                )
            stages = [json.loads(line) for line in usage_log.read_text().splitlines()]
            pages = len(list((workdir / "results" / "reports").rglob("*.html"))) - 1  # the index
            for s in stages:
                log(f"    {s['stage']}: {s['wall_s']:.1f} s, {s['maxrss_mib']:.0f} MiB")
            log(
                f"    whole workflow: {res['wall_s']:.0f} s, peak of the process tree "
                f"{res['tree_peak_mib']:.0f} MiB, others using {res['others_cores']:.1f} cores"
            )
            runs.append(
                {
                    "patients": n,
                    "wall_s": res["wall_s"],
                    "tree_peak_mib": res["tree_peak_mib"],
                    "others_cores": res["others_cores"],
                    "cohort_s": cohort_s,
                    "stages": stages,
                    "report_pages": pages,
                    "targets": list(targets),
                }
            )
    return {
        "runs": runs,
        "config": {
            "genes": genes,
            "lines": lines,
            "seed": seed,
            "drugs": _n_drugs(),
            "overrides": overrides or {},
        },
        "snakemake": snakemake_version(),
        "asked": asked_resources(),
    }


def _n_drugs() -> int | None:
    try:
        from rxrank.demo import DRUGS
    except ImportError:
        return None
    return len(DRUGS)


def asked_resources(profile: Path = ROOT / "profiles" / "default" / "config.yaml") -> dict:
    """Per rule, what ``profiles/default`` asks for on the first attempt (mem_mb, runtime, CPUs)."""
    try:
        res = yaml.safe_load(profile.read_text()).get("set-resources") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    out = {}
    for rule, spec in res.items():
        vals = {}
        for key, v in (spec or {}).items():
            text = str(v).replace("* attempt", "").strip()
            try:
                vals[key] = int(float(text))
            except ValueError:
                vals[key] = text
        out[rule] = vals
    return out


# --------------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------------


def _secs(s: float) -> str:
    from bench.report import secs

    return secs(s)


def dag_table(res: dict[str, Any]) -> str:
    from bench.report import OTHERS, _range, _table, cores, mib

    rows = [
        [
            f"{r['patients']:,}",
            r["profile"],
            str(r["repeats"]),
            _secs(r["time_s"]),
            _range(r),
            mib(r["peak_mib"]),
            str(r["jobs"]),
            str(r["submissions"]) if r["profile"] == "slurm" else "-",
            cores(r["others_cores"]),
        ]
        for r in res["rows"]
    ]
    header = ["patients", "profile", "repeats", "median dry run", "range", "peak RSS (Snakemake)"]
    return _table([*header, "jobs", "SLURM submissions", OTHERS], rows)


def dag_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.report import _header, times

    cfg, rows = res["config"], res["rows"]
    out = _header("dag", "Workflow DAG: dry run vs patients", run, rows)
    out += [
        f"`snakemake -n` (Snakemake {res['snakemake']}) on seeded synthetic cohorts "
        f"(`rxrank.demo.generate`, {cfg['genes']:,} genes, {cfg['lines']} cell lines, seed "
        f"{cfg['seed']}): wall time of the whole command, including Python's start, parsing the "
        "Snakefile, reading the patient IDs and building the DAG; once with the local profile "
        "and once with `--profile profiles/slurm` (repeats interleaved). Peak RSS: of the Snakemake "
        "process (sampled every 0.1 s).",
        "",
        dag_table(res),
        "",
    ]
    sizes = sorted({r["patients"] for r in rows})
    jobs = sorted({r["jobs"] for r in rows})
    subs = sorted({r["submissions"] for r in rows if r["profile"] == "slurm"})
    parts = [
        f"The job count is {', '.join(map(str, jobs))} at every size"
        if len(jobs) == 1
        else f"The job count varies ({', '.join(map(str, jobs))})"
    ]
    if subs:
        parts[0] += f" ({', '.join(map(str, subs))} SLURM submissions)"
    parts[0] += ": the report pages are one job per shard of report.shard_size patients"
    if len(sizes) >= 2:
        small = [r for r in rows if r["patients"] == sizes[0] and r["profile"] == "default"]
        big = [r for r in rows if r["patients"] == sizes[-1] and r["profile"] == "default"]
        if small and big:
            parts.append(
                f"{sizes[0]:,} -> {sizes[-1]:,} patients ({sizes[-1] / sizes[0]:.0f}x) costs "
                f"{times(big[0]['time_s'] / small[0]['time_s'])} the dry run's time: most of it "
                "is a fixed cost (Python and Snakemake start-up, parsing); what grows is reading "
                "the patient IDs and declaring one report page per patient"
            )
    out += ["; ".join(parts) + ". Memory and time per rule: the next section and docs/cluster.md."]
    return "\n".join(out) + "\n"


STAGE_ORDER = (
    "check",
    "reference",
    "profile",
    "modules",
    "sensitivity",
    "associations",
    "survival",
    "outcome",
    "rank",
    "report",
)


def _asked(a: dict[str, Any]) -> str:
    if not a:
        return "-"
    parts = []
    if "mem_mb" in a:
        parts.append(f"{a['mem_mb']:,} MB" if isinstance(a["mem_mb"], int) else str(a["mem_mb"]))
    if "runtime" in a:
        parts.append(f"{a['runtime']} min")
    if a.get("cpus_per_task", 1) != 1:
        parts.append(f"{a['cpus_per_task']} CPUs")
    return ", ".join(parts)


def rule_table(res: dict[str, Any]) -> str:
    """Per rule: peak RSS and wall time at each cohort size, and what profiles/default asks."""
    from bench.report import _table

    runs = res["runs"]
    names = [s["stage"] for s in runs[0]["stages"]]
    names = [n for n in STAGE_ORDER if n in names] + [n for n in names if n not in STAGE_ORDER]
    rows = []
    for name in names:
        cells = []
        for run in runs:
            match = [s for s in run["stages"] if s["stage"] == name]
            cells.append(
                f"{match[0]['maxrss_mib']:,.0f} MiB, {match[0]['wall_s']:.1f} s" if match else "-"
            )
        rows.append([name, *cells, _asked(res.get("asked", {}).get(name, {}))])
    rows.append(
        [
            "whole workflow (wall, `--cores 2`; peak: all processes at once)",
            *[f"**{r['wall_s']:.0f} s**, peak {r['tree_peak_mib']:,.0f} MiB" for r in runs],
            "",
        ]
    )
    header = ["rule", *[f"{r['patients']:,} patients" for r in runs], "asked (`profiles/default`)"]
    return _table(header, rows)


def workflow_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.report import _header

    cfg, runs = res["config"], res["runs"]
    rows = [{"others_cores": r["others_cores"]} for r in runs]
    out = _header("workflow", "The whole workflow: wall time and peak memory", run, rows)
    drugs = f", {cfg['drugs']} drugs" if cfg.get("drugs") else ""
    out += [
        f"A real run of the demo workflow (`snakemake --cores 2`, Snakemake {res['snakemake']}, "
        f"the local profile) on seeded synthetic cohorts (`rxrank.demo.generate`, "
        f"{cfg['genes']:,} genes, {cfg['lines']} cell lines{drugs}, seed {cfg['seed']}). Per "
        "rule: the peak resident memory of `rxrank <stage>` (the kernel's high-water mark, what "
        "SLURM's MaxRSS reports) and its wall time. Whole workflow: wall time of the Snakemake "
        "command, and the peak of the summed resident memory of Snakemake and every stage "
        "running at the same time (sampled every 0.1 s)."
        + (
            " Settings changed from config/config.yaml for this run: "
            + ", ".join(_flat(cfg["overrides"]))
            + "."
            if cfg.get("overrides")
            else " Settings: config/config.yaml as it is."
        ),
        "",
        rule_table(res),
        "",
    ]
    parts = []
    for r in runs:
        stages = r["stages"]
        biggest = max(stages, key=lambda s: s["maxrss_mib"])
        slowest = sorted(stages, key=lambda s: -s["wall_s"])[:3]
        parts.append(
            f"at {r['patients']:,} patients the workflow took **{r['wall_s']:.0f} s** "
            f"({r['wall_s'] / 60:.1f} min), its processes together peaked at "
            f"**{r['tree_peak_mib']:,.0f} MiB**, the largest stage ({biggest['stage']}) at "
            f"{biggest['maxrss_mib']:,.0f} MiB; the longest stages: "
            + ", ".join(f"{s['stage']} {s['wall_s']:.0f} s" for s in slowest)
            + f" ({r['report_pages']:,} report pages)"
        )
    out.append("In this run " + "; ".join(parts) + ".")
    return "\n".join(out) + "\n"


CLUSTER_START = (
    "<!-- bench:workflow-table: written by `python -m bench` (workflow); edit outside -->"
)
CLUSTER_END = "<!-- /bench:workflow-table -->"


def update_cluster_doc(path: Path, res: dict[str, Any], run: dict[str, Any]) -> bool:
    """Rewrite the per-rule table between the markers of docs/cluster.md; False if none there."""
    text = path.read_text()
    if CLUSTER_START not in text or CLUSTER_END not in text:
        return False
    head, rest = text.split(CLUSTER_START, 1)
    _, tail = rest.split(CLUSTER_END, 1)
    cfg = res["config"]
    block = "\n".join(
        [
            CLUSTER_START,
            "",
            rule_table(res),
            "",
            f"Run {run['date']} with `{run['command']}`"
            + (f" (commit {run['commit']})" if run.get("commit") else "")
            + f"; {cfg['genes']:,} genes, {cfg['lines']} cell lines; details in BENCHMARKS.md, "
            'section "The whole workflow".',
            "",
            CLUSTER_END,
        ]
    )
    path.write_text(head + block + tail)
    return True
