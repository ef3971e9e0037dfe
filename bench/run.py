"""Command line of the benchmark harness: ``python -m bench [options]``.

Full mode (the issue's acceptance sizes, every benchmark) takes about 37 minutes on a quiet 2-core
machine; ``--quick`` (small sizes of every benchmark) about 2.5 (3.5 with another process using a
core). Heavy benchmarks run one after another, never at the same time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import measure, report
from bench.measure import machine_info, memory_method

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = (
    "ridge",
    "correlation",
    "reports",
    "wgcna",
    "survival",
    "profiling",
    "dag",
    "workflow",
    "scale",
)

# sizes per mode; "slow" peers (the scikit-learn loop at full size, pandas) use --slow-repeats; a
# "repeats" entry caps --repeats for that benchmark
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "ridge": {
            "lines": 1000,
            "genes": 17000,
            "drugs": 250,
            "missing": 0.2,
            "sklearn_slow": True,
        },
        "ridge_scaling": {
            "genes": 17000,
            "base": (1000, 250, 0.2),
            "lines": (250, 500, 1000),
            "drugs": (50, 250),
            "missing": (0.0, 0.2, 0.5),
            "repeats": 2,
        },
        "correlation": {"samples": 500, "genes": (2000, 5000, 20000), "pandas_max_genes": 2000},
        # two timed repeats of each (a WGCNA repeat at 5,000 genes is about 45 s with R's start)
        "wgcna": {"samples": 500, "genes": 5000, "memory_genes": 20000, "repeats": 2},
        "survival": {"patients": [1000, 5000], "covariates": 12},
        "profiling": {"samples": 2000, "genes": 20000, "repeats": 2},
        "reports": {
            "patients": 1000,
            "drugs": 200,
            "lines": 500,
            "peer_patients": 20,
            "repeats": 2,
        },
        "dag": {"patients": (1000, 10000), "profiles": ("default", "slurm"), "repeats": 2},
        # 10,000 patients take about 15 minutes more: --workflow-patients 1000,10000
        "workflow": {"patients": (1000,)},
        # issue 22's shapes: the whole TCGA x GDSC2 run, then the PRISM shape up to its
        # sensitivity stage (about 25 minutes in all)
        "scale": {"runs": [("tcga-gdsc2", ()), ("tcga-prism", ("sensitivity/metrics.tsv",))]},
    },
    "quick": {
        "ridge": {"lines": 200, "genes": 2000, "drugs": 30, "missing": 0.2, "sklearn_slow": False},
        "ridge_scaling": {
            "genes": 2000,
            "base": (200, 30, 0.2),
            "lines": (50, 100, 200),
            "drugs": (10, 30),
            "missing": (0.0, 0.2, 0.5),
        },
        "correlation": {"samples": 500, "genes": (1000, 2000), "pandas_max_genes": 1000},
        # fixed costs dominate at this size (R loading WGCNA, about 12 s; WGCNA's own garbage
        # collections, about 15 s): the clear case only, one R run (WGCNA's time from the parity
        # run), collectGarbage off, no WGCNA memory run
        "wgcna": {
            "samples": 200,
            "genes": 1000,
            "memory_genes": 2000,
            "repeats": 1,
            "wgcna_at_memory_size": False,
            "weak_case": False,
            "separate_wgcna_timing": False,
            "wgcna_gc": False,
        },
        "survival": {"patients": [100], "covariates": 12, "repeats": 1},
        # most of profiling's time is numba compiling UMAP's kernels (about 25 s, once per process)
        "profiling": {"samples": 200, "genes": 1500, "repeats": 2},
        "reports": {"patients": 100, "drugs": 50, "lines": 200, "peer_patients": 5, "repeats": 1},
        "dag": {"patients": (100, 500), "profiles": ("slurm",), "repeats": 1},
        # fixed costs dominate the survival and outcome stages at this size: the outcome
        # classifiers' nested CV (SVM, random forest, gradient boosting) about 25 s, the Cox model's
        # nested CV over the penalty grid about 10 s, the 100 bootstrap refits about 10 s: quick
        # mode keeps the logistic regression, one penalty (plain CV) and no bootstrap intervals
        "workflow": {
            "patients": (60,),
            "overrides": {
                "survival": {
                    "penalizers": [0.1],
                    "n_bootstrap": 0,
                    "outcome": {"models": ["logistic_regression"]},
                }
            },
        },
        "scale": {"runs": [("small", ())]},
    },
}
DEFAULT_REPEATS = {"full": 3, "quick": 2}


def _wgcna_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.wgcna import wgcna_section

    return wgcna_section(res, run)


def _dag_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.workflow import dag_section

    return dag_section(res, run)


def _workflow_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.workflow import workflow_section

    return workflow_section(res, run)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"comma-separated integers expected: {text!r}") from err
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"positive integers expected: {text!r}")
    return values


def _repeats(entry: dict[str, Any], args: argparse.Namespace) -> int:
    """--repeats, capped by the benchmark's own ``repeats`` entry of SIZES."""
    return min(args.repeats, entry.get("repeats", args.repeats))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    p.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks to run (default: all of {','.join(BENCHMARKS)})",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats per peer (default 3, quick mode 2; some benchmarks use fewer)",
    )
    p.add_argument(
        "--slow-repeats",
        type=int,
        default=1,
        help="repeats of the slow peers: the scikit-learn loop at full size, pandas (default 1)",
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measured call wait up to SECONDS for other processes to use < 0.5 "
        "cores (default 0: never wait; the cores others used are recorded either way)",
    )
    p.add_argument(
        "--workflow-patients",
        type=_int_list,
        default=None,
        metavar="N[,N...]",
        help="cohort sizes of the workflow benchmark (default 1,000; quick mode 100); "
        "1000,10000 adds the 10,000-patient run (about 15 minutes more)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="markdown to update")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = p.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown or not args.only:
        p.error(f"--only takes names from {','.join(BENCHMARKS)}; got {args.only}")
    if args.repeats is None:
        args.repeats = DEFAULT_REPEATS["quick" if args.quick else "full"]
    if args.repeats < 1 or args.slow_repeats < 1:
        p.error("--repeats and --slow-repeats must be >= 1")
    return args


def run_ridge(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.ridge import bench_ridge, bench_ridge_scaling

    r = dict(sizes["ridge"])
    slow = r.pop("sklearn_slow")
    headline = bench_ridge(
        **r,
        repeats=args.repeats,
        sklearn_repeats=min(args.slow_repeats, args.repeats) if slow else args.repeats,
        seed=args.seed,
        log=log,
    )
    sc = dict(sizes["ridge_scaling"])
    sc.pop("repeats", None)
    scaling = bench_ridge_scaling(
        **sc, repeats=_repeats(sizes["ridge_scaling"], args), seed=args.seed, log=log
    )
    return {"headline": headline, "scaling": scaling}


def run_correlation(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.correlation import bench_correlation

    c = sizes["correlation"]
    return bench_correlation(
        c["samples"],
        c["genes"],
        repeats=_repeats(c, args),
        slow_repeats=min(args.slow_repeats, args.repeats),
        pandas_max_genes=c["pandas_max_genes"],
        seed=args.seed,
        log=log,
    )


def _params(entry: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    return {**entry, "repeats": _repeats(entry, args), "seed": args.seed, "log": log}


def run_reports(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.reports import bench_reports

    return bench_reports(**_params(sizes["reports"], args))


def run_wgcna(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.wgcna import bench_wgcna

    return bench_wgcna(**_params(sizes["wgcna"], args))


def run_survival(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.survival import bench_survival

    return bench_survival(**_params(sizes["survival"], args))


def run_profiling(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.profiling import bench_profiling

    return bench_profiling(**_params(sizes["profiling"], args))


def run_dag(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.workflow import bench_dag

    d = sizes["dag"]
    # the workflow's own seeded cohorts (rxrank.demo's default seed), whatever --seed says
    return bench_dag(d["patients"], profiles=d["profiles"], repeats=_repeats(d, args), log=log)


def run_workflow(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.workflow import bench_workflow

    w = sizes["workflow"]
    patients = args.workflow_patients or w["patients"]
    return bench_workflow(patients, overrides=w.get("overrides"), log=log)


def run_scale(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.scale import bench_scale

    return bench_scale(sizes["scale"]["runs"], seed=args.seed, log=log)


def _scale_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.scale import scale_section

    return scale_section(res, run)


def side_paths(out: Path) -> tuple[Path | None, Path, Path]:
    """(docs/cluster.md to update or None, the plot, its data) for a run writing ``out``.

    With the default ``--out`` (BENCHMARKS.md) the run also rewrites the per-rule table of
    docs/cluster.md and the plot docs/benchmarks.svg with its data docs/benchmarks.json; with another
    ``--out`` the plot and data go next to it and docs/ is left alone.
    """
    if out.resolve() == (ROOT / "BENCHMARKS.md").resolve():
        return (
            ROOT / "docs" / "cluster.md",
            ROOT / "docs" / "benchmarks.svg",
            ROOT / "docs" / ("benchmarks.json"),
        )
    return None, out.with_suffix(".svg"), out.with_suffix(".json")


def main(argv: Sequence[str] | None = None) -> int:
    t_all = time.perf_counter()
    args = parse_args(argv)
    raw = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "-m", "bench", *raw])
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    info = machine_info(command)
    info["memory_method"] = memory_method()
    info["elapsed"] = {"sections_s": {}, "total_s": 0.0, "finished": False}
    measure.WAIT_QUIET = args.wait_quiet
    cluster_doc, plot_path, data_path = side_paths(args.out)
    log(f"{command}: {mode} mode, {args.only}; results -> {args.out}")
    runners = {
        "ridge": run_ridge,
        "correlation": run_correlation,
        "reports": run_reports,
        "wgcna": run_wgcna,
        "survival": run_survival,
        "profiling": run_profiling,
        "dag": run_dag,
        "workflow": run_workflow,
        "scale": run_scale,
    }
    renderers = {
        "ridge": report.ridge_section,
        "correlation": report.correlation_section,
        "reports": report.reports_section,
        "wgcna": _wgcna_section,
        "survival": report.survival_section,
        "profiling": report.profiling_section,
        "dag": _dag_section,
        "workflow": _workflow_section,
        "scale": _scale_section,
    }
    sections = {"machine": report.machine_section(info)}
    results: dict[str, Any] = {"machine": info}
    for name in args.only:
        log(f"{name} ...")
        t0 = time.perf_counter()
        res = runners[name](sizes, args)
        run = {
            "date": info["date"],
            "command": command,
            "mode": mode,
            "elapsed_s": time.perf_counter() - t0,
            "cores": os.cpu_count(),
            "wait_quiet": args.wait_quiet,
            "commit": info["commit"],
        }
        results[name] = {**res, "run": run}
        info["elapsed"]["sections_s"][name] = run["elapsed_s"]
        info["elapsed"]["total_s"] = time.perf_counter() - t_all
        if args.json:  # the raw numbers first, so that a rendering bug cannot lose them
            args.json.write_text(json.dumps(results, indent=1, default=str))
        sections[name] = renderers[name](res, run)
        sections["machine"] = report.machine_section(info)
        log(f"{name} done in {run['elapsed_s'] / 60:.1f} min")
        # write after each benchmark, so a later failure keeps what was measured
        report.update_file(args.out, sections)
        if name == "workflow" and cluster_doc is not None and cluster_doc.exists():
            from bench.workflow import update_cluster_doc

            update_cluster_doc(cluster_doc, res, run)
    info["elapsed"]["total_s"] = time.perf_counter() - t_all
    info["elapsed"]["finished"] = True
    sections["machine"] = report.machine_section(info)
    report.update_file(args.out, sections)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    written = [str(args.out)]
    try:
        from bench.plot import write_plot

        if write_plot(results, data_path, plot_path):
            written.append(str(plot_path))
    except ImportError as err:  # matplotlib missing: the tables are the result
        log(f"no plot: {err}")
    total = info["elapsed"]["total_s"]
    log(
        f"all done in {total / 60:.1f} min ("
        + ", ".join(f"{k} {v / 60:.1f}" for k, v in info["elapsed"]["sections_s"].items())
        + f"); wrote {', '.join(written)}"
    )
    return 0
