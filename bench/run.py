"""Command line of the benchmark harness: ``python -m bench [options]``.

Full mode (the issue's acceptance sizes) takes about 10 minutes on a quiet 2-core machine; ``--quick``
about 1-2 minutes. Heavy benchmarks run one after another, never at the same time.
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
BENCHMARKS = ("ridge", "correlation", "reports", "wgcna", "survival", "profiling")

# sizes per mode; "slow" peers (the scikit-learn loop at full size, pandas) use --slow-repeats
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
        },
        "correlation": {"samples": 500, "genes": (2000, 5000, 20000)},
        "wgcna": {"samples": 500, "genes": 5000, "memory_genes": 20000},
        "survival": {"patients": [1000, 5000], "covariates": 12},
        "profiling": {"samples": 2000, "genes": 20000},
        "reports": {"patients": 1000, "drugs": 200, "lines": 500, "peer_patients": 20},
    },
    "quick": {
        "ridge": {"lines": 300, "genes": 3000, "drugs": 40, "missing": 0.2, "sklearn_slow": False},
        "ridge_scaling": {
            "genes": 3000,
            "base": (300, 40, 0.2),
            "lines": (75, 150, 300),
            "drugs": (10, 40),
            "missing": (0.0, 0.2, 0.5),
        },
        "correlation": {"samples": 500, "genes": (2000,)},
        # R's start-up dominates WGCNA at this size: one timed repeat, no WGCNA memory run
        "wgcna": {
            "samples": 200,
            "genes": 1500,
            "memory_genes": 3000,
            "repeats": 1,
            "wgcna_at_memory_size": False,
        },
        "survival": {"patients": [300], "covariates": 12},
        "profiling": {"samples": 300, "genes": 2000},
        "reports": {"patients": 200, "drugs": 50, "lines": 300, "peer_patients": 10},
    },
}


def _wgcna_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    from bench.wgcna import wgcna_section

    return wgcna_section(res, run)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    p.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks to run (default: all of {','.join(BENCHMARKS)})",
    )
    p.add_argument("--repeats", type=int, default=3, help="repeats per peer (default 3)")
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
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="markdown to update")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = p.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown or not args.only:
        p.error(f"--only takes names from {','.join(BENCHMARKS)}; got {args.only}")
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
    scaling = bench_ridge_scaling(
        **sizes["ridge_scaling"], repeats=args.repeats, seed=args.seed, log=log
    )
    return {"headline": headline, "scaling": scaling}


def run_correlation(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.correlation import bench_correlation

    c = sizes["correlation"]
    return bench_correlation(
        c["samples"],
        c["genes"],
        repeats=args.repeats,
        slow_repeats=min(args.slow_repeats, args.repeats),
        seed=args.seed,
        log=log,
    )


def run_reports(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.reports import bench_reports

    return bench_reports(**sizes["reports"], repeats=min(args.repeats, 2), seed=args.seed, log=log)


def run_wgcna(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.wgcna import bench_wgcna

    params = {"repeats": args.repeats, **sizes["wgcna"]}
    return bench_wgcna(**params, seed=args.seed, log=log)


def run_survival(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.survival import bench_survival

    return bench_survival(**sizes["survival"], repeats=args.repeats, seed=args.seed, log=log)


def run_profiling(sizes: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from bench.profiling import bench_profiling

    return bench_profiling(
        **sizes["profiling"], repeats=min(args.repeats, 2), seed=args.seed, log=log
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raw = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "-m", "bench", *raw])
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    info = machine_info(command)
    info["memory_method"] = memory_method()
    measure.WAIT_QUIET = args.wait_quiet
    log(f"{command}: {mode} mode, {args.only}; results -> {args.out}")
    runners = {
        "ridge": run_ridge,
        "correlation": run_correlation,
        "reports": run_reports,
        "wgcna": run_wgcna,
        "survival": run_survival,
        "profiling": run_profiling,
    }
    renderers = {
        "ridge": report.ridge_section,
        "correlation": report.correlation_section,
        "reports": report.reports_section,
        "wgcna": _wgcna_section,
        "survival": report.survival_section,
        "profiling": report.profiling_section,
    }
    sections = {"machine": report.machine_section(info)}
    results: dict[str, Any] = {"machine": info}
    t_all = time.perf_counter()
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
        if args.json:  # the raw numbers first, so that a rendering bug cannot lose them
            args.json.write_text(json.dumps(results, indent=1, default=str))
        sections[name] = renderers[name](res, run)
        log(f"{name} done in {run['elapsed_s'] / 60:.1f} min")
        # write after each benchmark, so a later failure keeps what was measured
        report.update_file(args.out, sections)
    log(f"all done in {(time.perf_counter() - t_all) / 60:.1f} min; wrote {args.out}")
    return 0
