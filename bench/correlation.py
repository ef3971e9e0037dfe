"""Correlation benchmark: rxrank ``corr`` vs ``numpy.corrcoef``, pandas and a bare float32 GEMM.

Samples (patients) x genes; every peer gets the same float64 matrix. The bare GEMM
``Xs.T @ Xs.copy()`` of the already standardised float32 matrix is the machine's bound for any
standardise-then-multiply method (rxrank adds the standardisation and blocking to it).

numpy's bundled OpenBLAS crashes (SIGSEGV) in float64 ``X.T @ X`` / ``np.corrcoef`` with 2 threads
from about 19,000 genes on some machines (design.md, Pitfalls), so from ``isolate_from`` genes
``np.corrcoef`` runs in a subprocess (:mod:`bench.worker`): a crash is reported in the table as
"crashed (SIGSEGV)" instead of killing the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import Peer, SelfTimed, interleaved
from bench.synth import expression
from rxrank.coexpression import corr

__all__ = ["bench_correlation", "corrcoef_in_subprocess", "standardise"]

ROOT = Path(__file__).resolve().parents[1]
RXRANK = "rxrank corr (float32, blocked)"
NUMPY = "numpy.corrcoef (float64)"
PANDAS = "pandas DataFrame.corr"
GEMM = "bare float32 GEMM (bound)"


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm, as float32 (so that ``z.T @ z`` is the correlation)."""
    z = x - x.mean(0)
    z /= np.sqrt((z * z).sum(0))
    return z.astype(np.float32)


def _gemm(xs: np.ndarray) -> np.ndarray:
    return xs.T @ xs.copy()  # a separate second operand: GEMM, not SYRK


def corrcoef_in_subprocess(
    samples: int, genes: int, seed: int, *, timeout: float = 1800, what: str = "corrcoef"
) -> SelfTimed:
    """``np.corrcoef`` on the same synthetic matrix in a fresh interpreter; a crash is a result.

    ``what="crash"`` makes the worker kill itself with SIGSEGV (to test the reporting).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "bench.worker", what, str(samples), str(genes), str(seed)]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return SelfTimed(None, None, f"timed out after {timeout:.0f} s")
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return SelfTimed(None, None, f"crashed ({name})")
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return SelfTimed(None, None, f"failed (exit {proc.returncode}: {tail[0]})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return SelfTimed(out["seconds"], out["peak"], None)


def bench_correlation(
    samples: int,
    genes: Sequence[int],
    *,
    repeats: int = 3,
    slow_repeats: int = 1,
    pandas_max_genes: int = 2000,
    isolate_from: int = 19000,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time the peers (interleaved) at each gene count; agreement with numpy where both ran here.

    Returns ``{"rows", "agreement"}``: a row per gene count and peer (median time, range, repeats,
    failures, peak RSS increase, ``time_vs_rxrank``), and per gene count the max abs difference of
    each in-process peer from ``np.corrcoef``.
    """
    rows: list[dict[str, Any]] = []
    agreement: list[dict[str, Any]] = []
    for g in genes:
        x = expression(samples, g, seed=seed).astype(np.float64)
        xs = standardise(x)
        isolated = g >= isolate_from
        log(
            f"  correlation {samples} samples x {g} genes"
            + (" (numpy isolated)" if isolated else "")
        )
        peers = [
            Peer(RXRANK, lambda x=x: corr(x), repeats),
            Peer(GEMM, lambda xs=xs: _gemm(xs), repeats),
        ]
        if isolated:
            peers.append(Peer(NUMPY, lambda g=g: corrcoef_in_subprocess(samples, g, seed), repeats))
        else:
            peers.append(Peer(NUMPY, lambda x=x: np.corrcoef(x, rowvar=False), repeats))
        if g <= pandas_max_genes:
            peers.append(Peer(PANDAS, lambda x=x: pd.DataFrame(x).corr(), slow_repeats))
        t = interleaved(peers, log=log)
        del x, xs
        ref = t[NUMPY].result
        if ref is not None:
            diffs = {"genes": g}
            for name in (RXRANK, GEMM, PANDAS):
                if name in t:
                    diffs[name] = float(np.abs(np.asarray(t[name].result) - ref).max())
            agreement.append(diffs)
        base = t[RXRANK].median
        for p in peers:
            tm = t[p.name]
            rows.append(
                {
                    "samples": samples,
                    "genes": g,
                    "impl": p.name,
                    **tm.stats(base),
                    "isolated": isolated and p.name == NUMPY,
                }
            )
        del t, ref
    return {"rows": rows, "agreement": agreement}
