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

__all__ = ["bench_scale", "run_shape"]


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


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="run one shape, keep its folder")
    p.add_argument("base", type=Path)
    p.add_argument("--shape", default="tcga-gdsc2", choices=sorted(SHAPES))
    p.add_argument("targets", nargs="*")
    a = p.parse_args()
    r = run_shape(a.base, a.shape, targets=a.targets)
    print(json.dumps(r, indent=1))
