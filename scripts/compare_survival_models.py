"""rxrank's penalised Cox model beside scikit-survival's Coxnet and random survival forest.

Same design as the workflow's survival stage (cohort covariates plus module eigengenes, from a
finished run's ``results/``), same outer folds; each model tunes itself inside the training part of
each outer fold (nested CV), and every fold's Harrell C-index is on patients the model never saw.

    snakemake --cores 2 && python scripts/compare_survival_models.py
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import yaml
from lifelines.utils import concordance_index
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from rxrank.config import section_params
from rxrank.survival import DEFAULT_PENALIZERS, CoxModel, design_matrix


def load(results: Path, config: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    cohort = section_params(config, "cohort")  # the defaults where the config is silent
    obs = ad.read_h5ad(results / "profiling/cohort.h5ad", backed="r").obs.copy()
    eigengenes = pd.read_csv(results / "correlation/eigengenes.tsv", sep="\t", index_col=0)
    X = design_matrix(obs, eigengenes, covariates=list(cohort.covariates))
    time = obs.loc[X.index, cohort.time_column].to_numpy(float)
    event = obs.loc[X.index, cohort.event_column].to_numpy(int)
    return X, time, event


def fold_scores(X: pd.DataFrame, time: np.ndarray, event: np.ndarray, seed: int) -> pd.DataFrame:
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.linear_model import CoxnetSurvivalAnalysis
    from sksurv.util import Surv

    y = Surv.from_arrays(event.astype(bool), time)
    outer = StratifiedKFold(5, shuffle=True, random_state=seed)
    rows = []
    for k, (tr, te) in enumerate(outer.split(X, event)):
        Xtr, Xte = X.iloc[tr], X.iloc[te]
        cox = CoxModel(penalizers=DEFAULT_PENALIZERS, seed=seed).fit(Xtr, time[tr], event[tr])
        risk = {"rxrank CoxModel, ridge (the default)": cox.predict_risk(Xte).to_numpy()}
        enet = CoxModel(penalizers=DEFAULT_PENALIZERS, l1_ratios=(0.0, 0.5, 1.0), seed=seed)
        enet.fit(Xtr, time[tr], event[tr])
        risk["rxrank CoxModel, l1_ratios 0 / 0.5 / 1"] = enet.predict_risk(Xte).to_numpy()
        path = CoxnetSurvivalAnalysis(l1_ratio=0.5, alpha_min_ratio=0.01, n_alphas=30).fit(
            Xtr, y[tr]
        )
        grid = GridSearchCV(
            CoxnetSurvivalAnalysis(l1_ratio=0.5, fit_baseline_model=False),
            {"alphas": [[a] for a in path.alphas_]},
            cv=KFold(5, shuffle=True, random_state=seed),
        ).fit(Xtr, y[tr])
        risk["scikit-survival Coxnet (l1_ratio 0.5)"] = grid.predict(Xte)
        forest = GridSearchCV(
            RandomSurvivalForest(n_estimators=200, max_features="sqrt", random_state=seed),
            {"min_samples_leaf": [5, 15, 30]},
            cv=KFold(5, shuffle=True, random_state=seed),
        ).fit(Xtr, y[tr])
        risk["scikit-survival random survival forest"] = forest.predict(Xte)
        for model, r in risk.items():
            c = concordance_index(time[te], -np.asarray(r), event[te])
            rows.append({"model": model, "fold": k + 1, "cindex": c})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.getLogger("rxrank").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    X, time, event = load(args.results, yaml.safe_load(args.config.read_text()))
    scores = fold_scores(X, time, event, args.seed)
    table = scores.groupby("model", sort=False)["cindex"].agg(["mean", "std"])
    print(
        f"{len(X)} patients, {int(event.sum())} events, {X.shape[1]} covariates; nested 5-fold CV"
    )
    print("| model | Harrell C-index (mean +/- sd over 5 outer folds) |")
    print("| --- | --- |")
    for model, row in table.iterrows():
        print(f"| {model} | {row['mean']:.3f} +/- {row['std']:.3f} |")


if __name__ == "__main__":
    main()
