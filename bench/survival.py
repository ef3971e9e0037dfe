"""Survival benchmark: rxrank's Cox model vs lifelines' CoxPHFitter used directly.

rxrank's :class:`~rxrank.survival.CoxModel` chooses the penalty by K-fold CV C-index, estimates the
C-index by nested CV (the penalty chosen again by 3-fold inner CV inside each outer training part),
refits on all patients and tests proportional hazards, all through lifelines. The peer is what a user
would write with lifelines alone for the same answer: for each penalty on the same grid, lifelines'
``k_fold_cross_validation`` (concordance), the same nested CV with it, then a final ``CoxPHFitter``
at the best penalty and ``proportional_hazard_test``. The same run checks that both final models give the same
coefficients at rxrank's chosen penalty. rxrank additionally computes Uno's C in every fold.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import Peer, interleaved

__all__ = ["bench_survival", "synthetic_survival"]

RXRANK = "rxrank CoxModel.fit (CV + nested CV + final + PH test)"
LIFELINES = "lifelines CoxPHFitter directly (same CV, nested CV, final, PH test)"
PENALIZERS = (0.01, 0.1, 0.5, 1.0)


def synthetic_survival(patients: int, covariates: int, *, seed: int = 0) -> pd.DataFrame:
    """Covariates with planted log-hazard ratios, exponential times, about 40% censored."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(patients, covariates))
    beta = np.zeros(covariates)
    beta[: min(4, covariates)] = [0.8, -0.5, 0.3, 0.2][: min(4, covariates)]
    t = rng.exponential(12.0 / np.exp(X @ beta))
    c = rng.uniform(0, 30, patients)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(covariates)])
    df["time"] = np.minimum(t, c)
    df["event"] = (t <= c).astype(int)
    return df


def _lifelines_direct(df: pd.DataFrame, folds: int, seed: int) -> tuple[float, pd.Series]:
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test
    from lifelines.utils import k_fold_cross_validation

    def choose(data: pd.DataFrame, k: int) -> float:
        scores = {}
        for pen in PENALIZERS:
            np.random.seed(seed)  # noqa: NPY002 (lifelines shuffles with numpy's global generator)
            scores[pen] = np.mean(
                k_fold_cross_validation(
                    CoxPHFitter(penalizer=pen),
                    data,
                    duration_col="time",
                    event_col="event",
                    k=k,
                    scoring_method="concordance_index",
                )
            )
        return max(scores, key=scores.get)

    best = choose(df, folds)
    outer = np.array_split(np.random.default_rng(seed).permutation(len(df)), folds)
    for test in outer:
        train = df.drop(index=df.index[test])
        cph = CoxPHFitter(penalizer=choose(train, 3)).fit(train, "time", "event")
        cph.score(df.iloc[test], scoring_method="concordance_index")
    cph = CoxPHFitter(penalizer=best).fit(df, duration_col="time", event_col="event")
    proportional_hazard_test(cph, df, time_transform="rank")
    return best, cph.params_


def _rxrank(df: pd.DataFrame, folds: int, seed: int) -> tuple[float, pd.Series]:
    from rxrank.survival import CoxModel

    X = df.drop(columns=["time", "event"])
    model = CoxModel(penalizers=PENALIZERS, cv_folds=folds, seed=seed).fit(
        X, df["time"], df["event"]
    )
    return model.penalizer_, model.model_.params_


def bench_survival(
    patients: list[int],
    covariates: int = 12,
    *,
    folds: int = 5,
    repeats: int = 3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Both peers at each cohort size; rows with medians, ratio and the coefficient agreement."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test  # noqa: F401 (imported before timing)

    import rxrank.survival  # noqa: F401 (imported before timing, as lifelines is)

    logging.getLogger("rxrank").setLevel(logging.WARNING)
    rows = []
    for n in patients:
        log(f"  survival: {n:,} patients x {covariates} covariates, {len(PENALIZERS)} penalties")
        df = synthetic_survival(n, covariates, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifelines' convergence chatter at small penalties
            t = interleaved(
                [
                    Peer(RXRANK, lambda df=df: _rxrank(df, folds, seed), repeats),
                    Peer(LIFELINES, lambda df=df: _lifelines_direct(df, folds, seed), repeats),
                ],
                log=log,
            )
            pen, ours = t[RXRANK].result
            same = CoxPHFitter(penalizer=pen).fit(df, duration_col="time", event_col="event")
        diff = float(np.max(np.abs(ours.to_numpy() - same.params_.reindex(ours.index).to_numpy())))
        for name, timing in t.items():
            rows.append(
                {
                    "patients": n,
                    "covariates": covariates,
                    "impl": name,
                    **timing.stats(t[RXRANK].median),
                    "penalizer": timing.result[0],
                    "coef_max_abs_diff": diff,
                    "events": int(df["event"].sum()),
                }
            )
    return {"rows": rows}
