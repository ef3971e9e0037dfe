"""The whole workflow at a real shape (``python -m bench --only scale``; issue 22).

Inputs come from :func:`bench.synth.write_workflow_inputs` (a TCGA-sized cohort against a GDSC2- or
PRISM-sized reference). The run goes through the same wrapper as the ``workflow`` benchmark, so each
``rxrank <stage>`` has its wall time and peak resident memory (the kernel's high-water mark of the
stage, what SLURM's MaxRSS reports), and the whole process tree is sampled for the workflow's peak.
``targets`` narrows a run to some outputs, e.g. the sensitivity stage alone for the PRISM shape.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.synth import SHAPES, write_workflow_inputs
from bench.workflow import ROOT, WRAPPER, run_child, snakemake_cmd, snakemake_version

__all__ = ["bench_scale", "run_shape", "scale_section"]

#: issue 22's acceptance: the whole TCGA x GDSC2 run, and the PRISM shape's sensitivity stage
LIMIT_WHOLE_S, LIMIT_WHOLE_MIB, LIMIT_SENSITIVITY_S = 30 * 60, 8 * 1024, 5 * 60


def _rxrank_script() -> str:
    own = Path(sys.executable).with_name("rxrank")
    real = str(own) if own.exists() else shutil.which("rxrank")
    if real is None:
        raise RuntimeError(
            "the rxrank console script is not on PATH: python3 -m pip install -e '.[workflow]'"
        )
    return real


def run_shape(
    base: Path,
    shape: str,
    *,
    targets: Sequence[str] = (),
    seed: int = 0,
    timeout: float = 3 * 3600,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write the inputs of ``shape`` under ``base`` and run the workflow on them, measured."""
    n_p, n_g, n_l, n_d = SHAPES[shape]
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = write_workflow_inputs(
        base / "inputs", patients=n_p, genes=n_g, lines=n_l, drugs=n_d, seed=seed
    )
    inputs_s = time.perf_counter() - t0
    bindir = base / "bin"
    bindir.mkdir(exist_ok=True)
    usage_log = base / "usage.jsonl"
    usage_log.unlink(missing_ok=True)
    wrapper = bindir / "rxrank"
    wrapper.write_text(
        WRAPPER.format(python=sys.executable, real=_rxrank_script(), log=str(usage_log))
    )
    wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    workdir = base / "work"
    workdir.mkdir(exist_ok=True)
    outdir = Path(base / "inputs" / "results")
    log(
        f"  scale {shape}: {n_p:,} patients x {n_g:,} genes, {n_l:,} lines x {n_d:,} drugs "
        f"(inputs written in {inputs_s:.0f} s)"
    )
    full = [str(outdir / t) for t in targets]
    cmd = snakemake_cmd(
        config, workdir, "--workflow-profile", str(ROOT / "profiles/default"), *full
    )
    res = run_child(cmd, env=env, timeout=timeout, tree=True)
    stages = (
        [json.loads(line) for line in usage_log.read_text().splitlines()]
        if usage_log.exists()
        else []
    )
    for s in stages:
        log(f"    {s['stage']}: {s['wall_s']:.1f} s, {s['maxrss_mib']:.0f} MiB (rc {s['rc']})")
    if res["returncode"] != 0:
        logs = "".join(p.read_text()[-3000:] for p in sorted(outdir.glob("logs/*.log")))
        raise RuntimeError(
            f"the workflow failed at shape {shape} ({res['returncode']}):\n"
            + res["output"][-4000:]
            + logs[-6000:]
        )
    log(
        f"    whole: {res['wall_s']:.0f} s, process tree peak {res['tree_peak_mib']:,.0f} MiB, "
        f"others using {res['others_cores']:.1f} cores"
    )
    pages = len(list((outdir / "reports").rglob("*.html")))
    sizes = {
        str(p.relative_to(outdir)): p.stat().st_size
        for p in outdir.rglob("*")
        if p.is_file() and p.stat().st_size > 50 * 2**20
    }
    return {
        "shape": shape,
        "patients": n_p,
        "genes": n_g,
        "lines": n_l,
        "drugs": n_d,
        "targets": list(targets),
        "inputs_s": inputs_s,
        "wall_s": res["wall_s"],
        "tree_peak_mib": res["tree_peak_mib"],
        "others_cores": res["others_cores"],
        "stages": stages,
        "report_pages": pages,
        "large_files": sizes,
    }


def bench_scale(
    runs: Sequence[tuple[str, Sequence[str]]],
    *,
    seed: int = 0,
    keep: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Each (shape, targets) run in turn, in a temporary folder (or under ``keep``)."""
    out = []
    with tempfile.TemporaryDirectory(prefix="rxrank-scale-", dir=keep) as tmp:
        for shape, targets in runs:
            out.append(run_shape(Path(tmp) / shape, shape, targets=targets, seed=seed, log=log))
    return {"runs": out, "snakemake": snakemake_version()}


def _stage_rows(run: dict[str, Any]) -> list[list[str]]:
    from bench.report import mib, secs
    from bench.workflow import STAGE_ORDER

    by: dict[str, list[dict[str, Any]]] = {}
    for st in run["stages"]:
        by.setdefault(st["stage"], []).append(st)
    names = [n for n in STAGE_ORDER if n in by] + [n for n in by if n not in STAGE_ORDER]
    rows = []
    for name in names:
        jobs = by[name]
        label = name
        if len(jobs) > 1:  # the report's shards and its index are all `rxrank report`
            label = f"{name} ({len(jobs) - 1} shards and the index; time summed)"
        rows.append(
            [
                label,
                secs(sum(j["wall_s"] for j in jobs)),
                mib(max(j["maxrss_mib"] for j in jobs)),
            ]
        )
    return rows


def scale_section(res: dict[str, Any], run: dict[str, Any]) -> str:
    """The BENCHMARKS.md section: per run, every stage's wall time and peak RSS, and the verdict."""
    from bench.report import _header, _table, mib, secs

    runs = res["runs"]
    out = _header("scale", "Real scale: the workflow at TCGA x GDSC2 / PRISM shapes", run, runs)
    out += [
        "Inputs from `bench.synth.write_workflow_inputs` (seeded; cohort and reference expression as "
        "float32 `.h5ad`, 18% of line-drug pairs missing, 20 tissues, one target per drug). The "
        f"workflow runs with `--cores 2` (Snakemake {res['snakemake']}, the local profile); each "
        "`rxrank <stage>` job's wall time and peak RSS (the kernel's high-water mark, SLURM's "
        "MaxRSS) are recorded by a wrapper; report shards are summed (time) and maxed (memory). "
        "Whole run: wall time of the Snakemake command and the peak of the summed RSS of every "
        "process running at once (sampled every 0.1 s).",
        "",
    ]
    for r in runs:
        what = f"{r['patients']:,} patients x {r['genes']:,} genes, {r['lines']:,} lines x " + (
            f"{r['drugs']:,} drugs"
        )
        target = f" up to `{', '.join(r['targets'])}`" if r["targets"] else ""
        out += [
            f"**{r['shape']}**: {what}{target} (inputs written in {r['inputs_s']:.0f} s).",
            "",
            _table(["stage", "wall time", "peak RSS"], _stage_rows(r))
            + f"\n| **whole run** | **{secs(r['wall_s'])}** | **{mib(r['tree_peak_mib'])}** "
            "(all processes at once) |",
            "",
        ]
    verdict = []
    whole = [r for r in runs if not r["targets"] and r["shape"] == "tcga-gdsc2"]
    for r in whole:
        ok = r["wall_s"] < LIMIT_WHOLE_S and r["tree_peak_mib"] < LIMIT_WHOLE_MIB
        verdict.append(
            f"TCGA x GDSC2 end to end: {secs(r['wall_s'])} and {mib(r['tree_peak_mib'])} at peak "
            f"(limits 30 min and 8 GiB): **{'met' if ok else 'NOT met'}**"
        )
    for r in runs:
        if r["shape"] != "tcga-prism":
            continue
        sens = [s for s in r["stages"] if s["stage"] == "sensitivity"]
        if sens:
            t = sens[0]["wall_s"]
            verdict.append(
                f"PRISM shape ({r['drugs']:,} drugs), sensitivity fit + predict: {secs(t)} "
                f"(limit 5 min): **{'met' if t < LIMIT_SENSITIVITY_S else 'NOT met'}**"
            )
    if verdict:
        out += ["; ".join(verdict) + ". Others' load during the runs: "
                + ", ".join(f"{r['others_cores']:.1f}" for r in runs) + " cores."]  # fmt: skip
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="run one shape, keep its folder")
    p.add_argument("base", type=Path)
    p.add_argument("--shape", default="tcga-gdsc2", choices=sorted(SHAPES))
    p.add_argument("targets", nargs="*")
    a = p.parse_args()
    r = run_shape(a.base, a.shape, targets=a.targets)
    print(json.dumps(r, indent=1))
