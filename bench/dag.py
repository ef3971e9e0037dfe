"""Scale of the Snakemake workflow: DAG build time and job count for big cohorts, memory per rule.

Standalone (not part of ``python -m bench``); run from the repository root:

    python bench/dag.py                           # dry runs at 1,000 and 10,000 patients
    python bench/dag.py --patients 10000 --repeats 3
    python bench/dag.py memory --patients 1000    # a real run: peak RSS and wall time per rule

Cohorts are seeded synthetic ones from ``rxrank.demo.generate`` (2,000 genes, 150 cell lines and 20
drugs by default; only the number of patients changes), written to a temporary directory with a
config that points at them. The config sets ``cohort.orientation: genes_by_samples``: with more
patients than genes the ``auto`` orientation (longer axis = genes) would take the genes for patients.

``dag`` times ``snakemake -n`` (a dry run: Python start, parsing the Snakefile, which reads the
patient IDs, and building the DAG), once with the local profile and once with ``--profile
profiles/slurm``, and reports the number of jobs and the number of SLURM submissions (jobs outside
groups plus group jobs; ``rule all`` only collects targets and is never submitted).

``memory`` runs the workflow for real (``--cores 2``) with a wrapper in front of the ``rxrank``
console script that records each stage's wall time and peak resident set size (``ru_maxrss`` of the
child, the kernel's high-water mark; the same figure SLURM's ``MaxRSS`` reports).

Each command prints a markdown table to paste into BENCHMARKS.md or docs/cluster.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# the files rxrank.demo.generate returns, and where each goes in the config
CONFIG_KEYS = {
    "demo/expression.tsv.gz": ("cohort", "expression"),
    "demo/clinical.tsv": ("cohort", "clinical"),
    "demo/reference_expression.tsv.gz": ("reference", "expression"),
    "demo/reference_response.tsv": ("reference", "response"),
    "demo/cell_lines.tsv": ("reference", "cell_lines"),
    "reference/drugs.tsv": ("reference", "drugs"),
}


def write_cohort(outdir: Path, n_patients: int, n_genes: int, n_lines: int, seed: int) -> Path:
    """Write a seeded synthetic cohort and reference under ``outdir``; returns its config file."""
    from rxrank.demo import DemoSpec, generate

    spec = DemoSpec(n_patients=n_patients, n_genes=n_genes, n_lines=n_lines, seed=seed)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for rel, frame in generate(spec).items():
        if rel not in CONFIG_KEYS:
            continue  # the planted truth: not an input
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_index = frame.index.name == "gene_id"
        # fast gzip: the cohort is written once per run and read once per dry run
        compression = (
            {"method": "gzip", "compresslevel": 1, "mtime": 0} if rel.endswith(".gz") else None
        )
        frame.to_csv(path, sep="\t", index=keep_index, compression=compression)
        section, key = CONFIG_KEYS[rel]
        config[section][key] = str(path)
    config["cohort"]["orientation"] = "genes_by_samples"
    config_path = outdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_path


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


def dry_run(config: Path, workdir: Path, profile: str | None) -> tuple[float, int, int]:
    args = ["-n"]
    env = dict(os.environ)
    if profile is not None:
        args += ["--profile", str(ROOT / "profiles" / profile)]
    t0 = time.perf_counter()
    proc = subprocess.run(
        snakemake_cmd(config, workdir, *args),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    elapsed = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"dry run failed ({proc.returncode}):\n{out[-4000:]}")
    jobs, submissions = count_jobs(out)
    return elapsed, jobs, submissions


def cmd_dag(args: argparse.Namespace) -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="rxrank-dag-") as tmp:
        for n in args.patients:
            base = Path(tmp) / f"n{n}"
            base.mkdir()
            t0 = time.perf_counter()
            config = write_cohort(base, n, args.genes, args.lines, args.seed)
            gen_s = time.perf_counter() - t0
            print(f"# {n} patients: cohort written in {gen_s:.1f} s", file=sys.stderr)
            for profile in ("default", "slurm"):
                times = []
                for r in range(args.repeats):
                    workdir = base / f"work-{profile}-{r}"
                    workdir.mkdir()
                    elapsed, jobs, subs = dry_run(
                        config, workdir, None if profile == "default" else profile
                    )
                    times.append(elapsed)
                    print(
                        f"#   {profile}: dry run {elapsed:.2f} s, {jobs} jobs, {subs} submissions",
                        file=sys.stderr,
                    )
                rows.append(
                    {
                        "patients": n,
                        "profile": profile,
                        "median_s": statistics.median(times),
                        "min_s": min(times),
                        "max_s": max(times),
                        "jobs": jobs,
                        "submissions": subs,
                    }
                )
    print_machine()
    print(
        f"Dry run (`snakemake -n`) of the workflow, {args.genes:,} genes, {args.lines} cell lines, "
        f"seed {args.seed}; median of {args.repeats} (range); wall time including Python start "
        "and reading the patient IDs.\n"
    )
    print("| patients | profile | dry run (s) | jobs | SLURM submissions |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for row in rows:
        subs = row["submissions"] if row["profile"] == "slurm" else "-"
        print(
            f"| {row['patients']:,} | {row['profile']} | {row['median_s']:.1f} "
            f"({row['min_s']:.1f}-{row['max_s']:.1f}) | {row['jobs']} | {subs} |"
        )
    return 0


WRAPPER = """#!{python}
# rxrank with its wall time and peak RSS appended to {log} (written by bench/dag.py)
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


def cmd_memory(args: argparse.Namespace) -> int:
    real = shutil.which("rxrank")
    if real is None:
        print("rxrank is not on PATH: python3 -m pip install -e .", file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="rxrank-mem-") as tmp:
        for n in args.patients:
            base = Path(tmp) / f"n{n}"
            base.mkdir()
            config = write_cohort(base, n, args.genes, args.lines, args.seed)
            bindir = base / "bin"
            bindir.mkdir()
            log = base / "usage.jsonl"
            wrapper = bindir / "rxrank"
            wrapper.write_text(WRAPPER.format(python=sys.executable, real=real, log=str(log)))
            wrapper.chmod(0o755)
            env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
            workdir = base / "work"
            workdir.mkdir()
            t0 = time.perf_counter()
            proc = subprocess.run(
                snakemake_cmd(
                    config,
                    workdir,
                    "--workflow-profile",
                    str(ROOT / "profiles/default"),
                    *args.targets,
                ),
                capture_output=True,
                text=True,
                env=env,
                timeout=args.timeout,
            )
            total = time.perf_counter() - t0
            if proc.returncode != 0:
                logs = "".join(p.read_text() for p in (workdir / "logs").glob("*.log"))
                print(proc.stderr[-4000:] + logs[-4000:], file=sys.stderr)
                return 1
            stages = [json.loads(line) for line in log.read_text().splitlines()]
            print(f"# {n} patients: workflow ran in {total:.0f} s", file=sys.stderr)
            results.append((n, total, stages))
    print_machine()
    print(
        f"Per rule: peak RSS (MiB) and wall time (s) of `rxrank <stage>`, measured in a real run "
        f"with `--cores 2` ({args.genes:,} genes, {args.lines} cell lines, seed {args.seed}).\n"
    )
    header = "| rule | " + " | ".join(f"{n:,} patients: MiB / s" for n, _, _ in results) + " |"
    print(header)
    print("| --- |" + " ---: |" * len(results))
    order = [s["stage"] for s in results[0][2]]
    for stage in order:
        cells = []
        for _, _, stages in results:
            match = [s for s in stages if s["stage"] == stage]
            cells.append(
                f"{match[0]['maxrss_mib']:.0f} / {match[0]['wall_s']:.1f}" if match else "-"
            )
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print(
        "| whole workflow (wall) | "
        + " | ".join(f"{total:.0f} s" for _, total, _ in results)
        + " |"
    )
    return 0


def print_machine() -> None:
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    snakemake_version = subprocess.run(
        [sys.executable, "-m", "snakemake", "--version"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"\nMachine: {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"Snakemake {snakemake_version}, load average {load}.\n"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="dag", choices=["dag", "memory"])
    parser.add_argument(
        "--patients",
        type=lambda s: [int(x) for x in s.split(",")],
        default=None,
        help="comma-separated cohort sizes (dag: 1000,10000; memory: 1000)",
    )
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=1, help="dry runs per size and profile")
    parser.add_argument("--timeout", type=int, default=7200, help="memory: seconds per run")
    parser.add_argument(
        "--targets",
        nargs="*",
        default=[],
        help="memory: run only up to these outputs, e.g. results/ranking/rankings.tsv "
        "(the report stage writes one page per patient and dominates the time at 10,000)",
    )
    args = parser.parse_args(argv)
    if args.patients is None:
        args.patients = [1000, 10000] if args.command == "dag" else [1000]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return cmd_dag(args) if args.command == "dag" else cmd_memory(args)


if __name__ == "__main__":
    sys.exit(main())
