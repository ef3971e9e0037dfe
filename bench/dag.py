"""Scale of the Snakemake workflow, standalone: prints the tables of ``python -m bench --only dag``
and ``--only workflow`` without touching BENCHMARKS.md (the code is in bench/workflow.py).

Run from the repository root:

    python bench/dag.py                           # dry runs at 1,000 and 10,000 patients
    python bench/dag.py --patients 10000 --repeats 3
    python bench/dag.py memory --patients 1000    # a real run: peak RSS and wall time per rule
    python bench/dag.py memory --patients 10000 --targets results/ranking/rankings.tsv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the bench package importable
    sys.path.insert(0, str(ROOT))

from bench import workflow  # noqa: E402


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="dag", choices=["dag", "memory"])
    parser.add_argument(
        "--patients",
        type=lambda s: [int(x) for x in s.split(",")],
        default=None,
        help="comma-separated cohort sizes (dag: 1000,10000; memory: 1000)",
    )
    parser.add_argument("--genes", type=int, default=workflow.GENES)
    parser.add_argument("--lines", type=int, default=workflow.LINES)
    parser.add_argument("--seed", type=int, default=workflow.SEED)
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
    common = {"genes": args.genes, "lines": args.lines, "seed": args.seed, "log": _log}
    if args.command == "dag":
        res = workflow.bench_dag(args.patients, repeats=args.repeats, **common)
        print(workflow.dag_table(res))
    else:
        res = workflow.bench_workflow(
            args.patients, targets=args.targets, timeout=args.timeout, **common
        )
        print(workflow.rule_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
