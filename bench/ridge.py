"""Ridge benchmark: rxrank's all-drugs ``MaskedRidge`` vs a per-drug scikit-learn ``RidgeCV`` loop.

The loop is what a user would otherwise run: for each drug, ``RidgeCV(alphas)`` (exact leave-one-out,
efficient "gram" mode since genes outnumber lines) fitted on the lines where that drug was measured.
Both peers get the same float64 matrices; the equality of their answers (chosen alpha per drug,
coefficients, intercepts) is checked in the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV

from bench.measure import Peer, interleaved
from bench.synth import screen
from rxrank.ridge import MaskedRidge

__all__ = [
    "ALPHAS",
    "Fit",
    "bench_ridge",
    "bench_ridge_scaling",
    "compare",
    "rxrank_fit",
    "sklearn_loop",
]

ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 10))
RXRANK = "rxrank MaskedRidge"
SKLEARN = "scikit-learn RidgeCV loop"


@dataclass
class Fit:
    coef: np.ndarray  # genes x drugs
    intercept: np.ndarray
    alpha: np.ndarray


def sklearn_loop(X: np.ndarray, Y: np.ndarray, alphas: Sequence[float]) -> Fit:
    """One ``RidgeCV`` per drug on its measured lines (the baseline a user would write)."""
    n_genes, n_drugs = X.shape[1], Y.shape[1]
    coef = np.empty((n_genes, n_drugs))
    intercept = np.empty(n_drugs)
    alpha = np.empty(n_drugs)
    for j in range(n_drugs):
        o = ~np.isnan(Y[:, j])
        model = RidgeCV(alphas=alphas).fit(X[o], Y[o, j])
        coef[:, j] = model.coef_
        intercept[j] = model.intercept_
        alpha[j] = model.alpha_
    return Fit(coef, intercept, alpha)


def rxrank_fit(X: np.ndarray, Y: np.ndarray, alphas: Sequence[float]) -> Fit:
    model = MaskedRidge(tuple(alphas)).fit(X, Y)
    return Fit(model.coef_, model.intercept_, model.alpha_)


def compare(a: Fit, b: Fit) -> dict[str, Any]:
    """Equality of two fits: chosen alphas, max abs coefficient and intercept differences."""
    mismatch = int((a.alpha != b.alpha).sum())
    return {
        "alpha_identical": mismatch == 0,
        "alpha_mismatches": mismatch,
        "distinct_alphas": int(np.unique(b.alpha).size),
        "max_abs_coef_diff": float(np.abs(a.coef - b.coef).max()),
        "max_abs_coef": float(np.abs(b.coef).max()),
        "max_abs_intercept_diff": float(np.abs(a.intercept - b.intercept).max()),
    }


def _config(lines: int, genes: int, drugs: int, missing: float, alphas: Sequence[float]) -> dict:
    return {
        "lines": lines,
        "genes": genes,
        "drugs": drugs,
        "missing": missing,
        "alphas": len(alphas),
    }


def bench_ridge(
    lines: int,
    genes: int,
    drugs: int,
    *,
    missing: float = 0.2,
    alphas: Sequence[float] = ALPHAS,
    repeats: int = 3,
    sklearn_repeats: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time both peers (interleaved) on one synthetic screen and check that they agree.

    Returns ``{"config", "rows", "checks"}``: one row per peer with its median time, range, repeats,
    peak RSS increase and the speed-up of rxrank over it; ``checks`` from :func:`compare`.
    """
    data = screen(lines, genes, drugs, missing=missing, seed=seed)
    X = data.X.astype(np.float64)
    Y = data.Y
    del data
    log(f"  ridge {lines} lines x {genes} genes x {drugs} drugs, {missing:.0%} missing")
    peers = [
        Peer(RXRANK, lambda: rxrank_fit(X, Y, alphas), repeats),
        Peer(SKLEARN, lambda: sklearn_loop(X, Y, alphas), sklearn_repeats or repeats),
    ]
    t = interleaved(peers, log=log)
    checks = compare(t[RXRANK].result, t[SKLEARN].result)
    log(f"  checks: {checks}")
    config = _config(lines, genes, drugs, missing, alphas)
    rows = []
    for name in (SKLEARN, RXRANK):
        tm = t[name]
        rows.append(
            {
                **config,
                "impl": name,
                "repeats": len(tm.seconds),
                "time_s": tm.median,
                "time_min_s": min(tm.seconds),
                "time_max_s": max(tm.seconds),
                "peak_mib": tm.peak_mib,
                "others_cores": tm.others_cores,
                "speedup": t[SKLEARN].median / tm.median,
            }
        )
    return {"config": config, "rows": rows, "checks": checks}


def bench_ridge_scaling(
    genes: int,
    *,
    base: tuple[int, int, float] = (1000, 250, 0.2),
    lines: Sequence[int] = (250, 500, 1000),
    drugs: Sequence[int] = (50, 250),
    missing: Sequence[float] = (0.0, 0.2, 0.5),
    alphas: Sequence[float] = ALPHAS,
    repeats: int = 3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """rxrank alone: vary lines, drugs and missing fraction one at a time around ``base``.

    Each row carries ``varied`` (which knob), the median time and peak RSS increase, and
    ``time_vs_base``, its time over the base configuration's (measured in this same call).
    """
    configs: dict[tuple[int, int, float], set[str]] = {}
    for n in lines:
        configs.setdefault((n, base[1], base[2]), set()).add("lines")
    for d in drugs:
        configs.setdefault((base[0], d, base[2]), set()).add("drugs")
    for m in missing:
        configs.setdefault((base[0], base[1], m), set()).add("missing")
    configs.setdefault(base, set())
    peers = []
    for n, d, m in configs:
        data = screen(n, genes, d, missing=m, seed=seed)
        X, Y = data.X.astype(np.float64), data.Y
        del data
        name = f"rxrank {n} lines x {d} drugs x {m:.0%} missing"
        peers.append(Peer(name, lambda X=X, Y=Y: rxrank_fit(X, Y, alphas), repeats))
    log(f"  ridge scaling at {genes} genes: {len(peers)} configurations, interleaved")
    # all configurations interleaved repeat by repeat, so that load from elsewhere hits them alike
    t = interleaved(peers, log=log)
    measured = {key: t[p.name] for key, p in zip(configs, peers, strict=True)}
    del peers, t
    base_time = measured[base].median
    rows = []
    for key, knobs in configs.items():
        tm = measured[key]
        for knob in sorted(knobs) or ["base"]:
            rows.append(
                {
                    **_config(key[0], genes, key[1], key[2], alphas),
                    "varied": knob,
                    "repeats": len(tm.seconds),
                    "time_s": tm.median,
                    "time_min_s": min(tm.seconds),
                    "time_max_s": max(tm.seconds),
                    "peak_mib": tm.peak_mib,
                    "others_cores": tm.others_cores,
                    "time_vs_base": tm.median / base_time,
                }
            )
    order = {"lines": 0, "drugs": 1, "missing": 2, "base": 3}
    rows.sort(key=lambda r: (order[r["varied"]], r["lines"], r["drugs"], r["missing"]))
    return rows
