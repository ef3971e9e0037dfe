"""Sensitivity settings judged on real GDSC2 (leave-cell-line-out 5-fold, all drugs).

``python -m bench.gdsc2 [DATA_DIR] [--settings JSON ...]`` runs rxrank's cross-validation with each
settings mapping (the ``sensitivity`` section; default: rxrank's defaults and the demo's
1,000-gene + 20-gene-screen settings) on ``../shared/data/gdsc2`` (expression.tsv.gz, response.csv.gz,
cell_lines.tsv; see its README) and prints, per setting: pooled RMSE over held-out pairs, median
per-drug Pearson and DrEval normalised Pearson, the share of drugs beating the drug mean, the
tissue-drug mean and both, and the time. The naive baselines' pooled RMSE come from the same folds.
With ``--peers N`` it also runs, on N drugs drawn at random (seed 0; N >= 286: all) and the same
folds, what a user would otherwise call per drug: scikit-learn ``StandardScaler`` + ``RidgeCV``
and a ``RandomForestRegressor``, beside rxrank's defaults and the naive baselines;
``--slow-peers N`` adds ``ElasticNetCV`` and ``HistGradientBoostingRegressor`` on N drugs (9-16 s
per fit on this machine, so on a subset). ``--coverage`` checks the split-conformal intervals on
lines no part of the interval saw: an outer 5-fold split (seed 1); in each, the stage's own
cross-validation on the training lines gives the half-widths (marginal, and calibrated on the
held-out line's tissue as ``sensitivity.reference_tissue`` does) and the final model predicts the
held-out lines; it prints coverage overall and per tissue with at least 200 held-out pairs.
The data are not in the repository; without them the command says so and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gdsc2"
DEMO = {"n_top_genes": 1000, "screen_genes": 20}


def load(data: Path) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Lines x genes expression, the long response table, each line's tissue ("" unknown)."""
    expr = pd.read_csv(data / "expression.tsv.gz", sep="\t", index_col=0)
    resp = pd.read_csv(data / "response.csv.gz").rename(
        columns={"CELL_LINE_NAME": "cell_line", "DRUG_NAME": "drug", "LN_IC50": "value"}
    )
    # this copy holds names only, so two DRUG_IDs of one name cannot be told apart: averaged
    resp = resp.groupby(["cell_line", "drug"], as_index=False)["value"].mean()
    resp = resp[resp["cell_line"].isin(expr.index)]
    tissues = pd.read_csv(data / "cell_lines.tsv", sep="\t").set_index("cell_line")["tissue"]
    return expr, resp, tissues.reindex(expr.index).fillna("").astype(str).to_numpy()


def evaluate(expr, resp, tissues, settings: dict) -> dict:
    """rxrank's cross-validation with ``settings`` and its summary figures."""
    from rxrank.config import SensitivityParams
    from rxrank.sensitivity import cross_validate, response_matrix

    p = SensitivityParams.from_config(settings)
    Y = response_matrix(resp, expr.index, min_lines=p.min_lines)
    start = time.perf_counter()
    metrics, held = cross_validate(
        expr.to_numpy(np.float64),
        Y,
        model=p.model,
        harmonisation={"method": p.harmonisation, "min_sd": p.min_sd, "n_top_genes": p.n_top_genes},
        tissues=tissues,
        n_folds=p.cv_folds,
        alphas=tuple(p.alphas),
        screen=p.screen_genes,
        factors=p.shared_factors,
        seed=p.seed,
    )
    seconds = time.perf_counter() - start
    Yv, H = Y.to_numpy(), held.to_numpy()
    ok = ~np.isnan(Yv)
    return {
        "settings": settings,
        "drugs": len(metrics),
        "pooled_rmse": float(np.sqrt(np.mean((H[ok] - Yv[ok]) ** 2))),
        "median_pearson": float(metrics["cv_pearson"].median()),
        "median_normalised_pearson": float(metrics["cv_normalised_pearson"].median()),
        "beats_drug_mean": float(metrics["beats_drug_mean"].mean()),
        "beats_tissue_mean": float(metrics["beats_tissue_mean"].mean()),
        "beats_baseline": float(metrics["beats_baseline"].mean()),
        "seconds": seconds,
    }


def peers(expr, resp, tissues, n_drugs: int, *, slow: bool = False) -> str:
    """rxrank's defaults against scikit-learn per drug on ``n_drugs`` drugs, the same folds."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import ElasticNetCV, RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rxrank.config import SensitivityParams
    from rxrank.sensitivity import cross_validate, fold_baselines, response_matrix

    p = SensitivityParams()
    Y = response_matrix(resp, expr.index, min_lines=p.min_lines)
    n_drugs = min(n_drugs, Y.shape[1])
    drugs = sorted(np.random.default_rng(0).choice(Y.columns, n_drugs, replace=False))
    Y, X = Y[drugs], expr.to_numpy(np.float64)
    Yv, ok = Y.to_numpy(), ~np.isnan(Y.to_numpy())
    folds = list(KFold(p.cv_folds, shuffle=True, random_state=p.seed).split(X))  # rxrank's folds
    start = time.perf_counter()
    _, held = cross_validate(
        X, Y, tissues=tissues, seed=p.seed, alphas=tuple(p.alphas), factors=p.shared_factors
    )
    rows = {"rxrank defaults": (held.to_numpy(), time.perf_counter() - start)}
    makers = {
        "scikit-learn StandardScaler + RidgeCV": lambda: make_pipeline(
            StandardScaler(), RidgeCV(alphas=np.asarray(p.alphas))
        ),
        "scikit-learn RandomForestRegressor (100 trees, sqrt)": lambda: RandomForestRegressor(
            n_estimators=100, max_features="sqrt", min_samples_leaf=3, n_jobs=2, random_state=0
        ),
    }
    if slow:
        makers = {
            "scikit-learn StandardScaler + ElasticNetCV (l1 0.5, 3-fold)": lambda: make_pipeline(
                StandardScaler(),
                ElasticNetCV(l1_ratio=0.5, alphas=30, cv=3, max_iter=5000, n_jobs=2),
            ),
            "scikit-learn HistGradientBoostingRegressor (lr 0.05, early stopping)": lambda: (
                HistGradientBoostingRegressor(
                    max_iter=200, learning_rate=0.05, early_stopping=True, random_state=0
                )
            ),
        }
    for name, make in makers.items():
        pred, start = np.full_like(Yv, np.nan), time.perf_counter()
        for j in range(Yv.shape[1]):
            for train, test in folds:
                measured = train[ok[train, j]]
                pred[test, j] = make().fit(X[measured], Yv[measured, j]).predict(X[test])
        rows[name] = (pred, time.perf_counter() - start)
    drug_mean, tissue_mean, effects = (np.full_like(Yv, np.nan) for _ in range(3))
    for train, test in folds:
        drug_mean[test], tissue_mean[test], effects[test] = fold_baselines(
            Yv[train], tissues[train], tissues[test]
        )
    rows["tissue-drug mean"] = (tissue_mean, None)
    rows["drug mean"] = (drug_mean, None)

    def per_drug(P) -> dict:
        """Median r, median normalised r (DrEval) and the shares beating each baseline."""
        r, nr, beat_d, beat_t = [], [], [], []
        for j in range(Yv.shape[1]):
            m = ok[:, j]
            y, p, e = Yv[m, j], P[m, j], effects[m, j]
            r.append(np.corrcoef(p, y)[0, 1] if np.std(p) > 0 else 0.0)
            nr.append(np.corrcoef(p - e, y - e)[0, 1] if np.std(p - e) > 0 else 0.0)
            rmse = np.sqrt(np.mean((p - y) ** 2))
            beat_d.append(rmse < np.sqrt(np.mean((drug_mean[m, j] - y) ** 2)))
            beat_t.append(rmse < np.sqrt(np.mean((tissue_mean[m, j] - y) ** 2)))
        return {
            "r": float(np.nanmedian(r)),
            "nr": float(np.nanmedian(nr)),
            "drug": float(np.mean(beat_d)),
            "tissue": float(np.mean(beat_t)),
        }

    out = (
        f"\n{n_drugs} drugs, the same folds:\n\n| method | pooled RMSE | median r | median "
        "normalised r | beats drug mean | beats tissue mean | seconds |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    for name, (P, secs) in rows.items():
        rmse = float(np.sqrt(np.mean((P[ok] - Yv[ok]) ** 2)))
        f = per_drug(P)
        shown = "" if secs is None else f"{secs:.1f}"
        out += (
            f"| {name} | {rmse:.3f} | {f['r']:.3f} | {f['nr']:.3f} | {f['drug']:.1%} | "
            f"{f['tissue']:.1%} | {shown} |\n"
        )
    return out


def coverage(expr, resp, tissues, level: float = 0.9) -> str:
    """Nested check of the intervals: marginal and per-tissue coverage on never-seen lines."""
    from sklearn.model_selection import KFold

    from rxrank.config import SensitivityParams
    from rxrank.harmonise import Harmoniser
    from rxrank.sensitivity import conformal_halfwidth, cross_validate, response_matrix
    from rxrank.sensitivity._models import make_model

    p = SensitivityParams()
    Y = response_matrix(resp, expr.index, min_lines=p.min_lines)
    X, Yv = expr.to_numpy(np.float64), Y.to_numpy()
    options = {"alphas": tuple(p.alphas), "seed": p.seed, "factors": p.shared_factors}
    rows = []
    for train, test in KFold(5, shuffle=True, random_state=1).split(X):
        _, held = cross_validate(X[train], Y.iloc[train], tissues=tissues[train], **options)
        h = Harmoniser(method=p.harmonisation, min_sd=p.min_sd, n_top_genes=p.n_top_genes)
        h.fit(X[train])
        model = make_model(p.model, screen=p.screen_genes, **options)
        model.fit(h.transform_reference(X[train]), Yv[train])
        error = np.abs(model.predict(h.transform_reference(X[test])) - Yv[test])
        marginal = conformal_halfwidth(held, Y.iloc[train], level=level).to_numpy()
        for tissue in np.unique(tissues[test]):
            own = conformal_halfwidth(
                held, Y.iloc[train], level=level, tissues=tissues[train], tissue=tissue or None
            ).to_numpy()
            e = error[tissues[test] == tissue]
            ok = ~np.isnan(e)
            rows.append(
                {
                    "tissue": tissue or "(unknown)",
                    "pairs": int(ok.sum()),
                    "marginal": float((e <= marginal)[ok].sum()),
                    "per_tissue": float((e <= own)[ok].sum()),
                    "width_marginal": float(np.broadcast_to(2 * marginal, e.shape)[ok].sum()),
                    "width_per_tissue": float(np.broadcast_to(2 * own, e.shape)[ok].sum()),
                }
            )
    by = pd.DataFrame(rows).groupby("tissue").sum()
    total = by.sum()
    big = by[by["pairs"] >= 200]
    out = (
        f"\nsplit-conformal intervals at {level:.0%}, {int(total['pairs'])} held-out pairs:\n\n"
        "| calibration | coverage | mean width | lowest tissue (>= 200 pairs) | tissues below 0.85 |\n"
        "| --- | ---: | ---: | --- | ---: |\n"
    )
    for col, label in (("marginal", "all lines"), ("per_tissue", "the line's tissue")):
        rate = big[col] / big["pairs"]
        out += (
            f"| {label} | {total[col] / total['pairs']:.3f} | "
            f"{total['width_' + col] / total['pairs']:.2f} | {rate.idxmin()} {rate.min():.3f} | "
            f"{int((rate < 0.85).sum())} of {len(big)} |\n"
        )
    return out


def table(rows: list[dict]) -> str:
    head = (
        "| settings | drugs | pooled RMSE | median r | median normalised r | beats drug mean "
        "| beats tissue mean | beats both (+ r > 0, p < 0.05) | seconds |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    return head + "".join(
        f"| `{json.dumps(r['settings'])}` | {r['drugs']} | {r['pooled_rmse']:.3f} | "
        f"{r['median_pearson']:.3f} | {r['median_normalised_pearson']:.3f} | "
        f"{r['beats_drug_mean']:.1%} | {r['beats_tissue_mean']:.1%} | {r['beats_baseline']:.1%} | "
        f"{r['seconds']:.0f} |\n"
        for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gdsc2", description=__doc__)
    parser.add_argument("data", nargs="?", type=Path, default=DATA)
    parser.add_argument("--settings", action="append", type=json.loads, default=None)
    parser.add_argument("--peers", type=int, default=0, help="drugs for the scikit-learn peers")
    parser.add_argument("--coverage", action="store_true", help="check the intervals (nested)")
    parser.add_argument("--slow-peers", type=int, default=0, help="drugs for elastic net and HGB")
    args = parser.parse_args(argv)
    if not (args.data / "expression.tsv.gz").exists():
        print(f"skipped: no GDSC2 data in {args.data} (see docs/sensitivity-defaults.md)")
        return 0
    expr, resp, tissues = load(args.data)
    if args.settings or not args.coverage:
        rows = [evaluate(expr, resp, tissues, s) for s in (args.settings or [{}, DEMO])]
        sys.stdout.write(table(rows))
    if args.peers:
        sys.stdout.write(peers(expr, resp, tissues, args.peers))
    if args.coverage:
        sys.stdout.write(coverage(expr, resp, tissues))
    if args.slow_peers:
        sys.stdout.write(peers(expr, resp, tissues, args.slow_peers, slow=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
