"""The drug-response models: how each is built, and how its fit is stored and restored as arrays.

A model is registered once in :data:`MODELS` as a :class:`ModelKind`: ``build`` returns an estimator
with ``fit(X, Y)`` / ``predict(X)`` over all drugs (NaN in ``Y`` = not measured), ``to_arrays`` turns
the fitted estimator into named numpy arrays, and ``from_arrays`` rebuilds a predictor from them. The
stage predicts patients with the restored predictor, so a saved model cannot drift from the run that
wrote it; no pickles, so loading a model file never runs code.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.linear_model import ElasticNetCV
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from ..io import RxrankInputError
from ..ridge import DEFAULT_ALPHAS, MaskedRidge

log = logging.getLogger(__name__)


class PerDrugModel:
    """One clone of a scikit-learn pipeline per drug, each fitted on that drug's measured lines."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PerDrugModel:
        self.models_ = []
        unconverged = 0
        for j in range(Y.shape[1]):
            o = ~np.isnan(Y[:, j])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                self.models_.append(clone(self.pipeline).fit(X[o], Y[o, j]))
            unconverged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        if unconverged:
            # the inner CV path visits weak penalties that stop early; the chosen one is logged
            log.info("%d drug(s) had unconverged fits on the inner-CV path", unconverged)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([m.predict(X) for m in self.models_])


class LinearPredictor:
    """``X @ coef + intercept``: a restored ridge or elastic-net fit (genes x drugs coefficients)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_


class ForestPredictor:
    """A restored random forest per drug: every tree walked for every sample at once.

    Each drug's trees are stored as one node table (feature, threshold, left, right, value) with a
    root per tree; features index the model's genes. As in scikit-learn, samples are compared in
    float32 and a drug's prediction is the mean of its trees' leaf values.
    """

    def __init__(self, forests: list[dict[str, np.ndarray]]):
        self.forests = forests

    @staticmethod
    def _predict_one(X32: np.ndarray, f: Mapping[str, np.ndarray]) -> np.ndarray:
        left, right = f["left"], f["right"]
        node = np.broadcast_to(f["roots"], (len(X32), len(f["roots"]))).copy()
        rows = np.arange(len(X32))[:, None]
        inner = left[node] >= 0
        while inner.any():
            go_left = X32[rows, np.maximum(f["feature"][node], 0)] <= f["threshold"][node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
            inner = left[node] >= 0
        return f["value"][node].mean(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X32 = np.asarray(X, dtype=np.float32)
        return np.column_stack([self._predict_one(X32, f) for f in self.forests])


# ------------------------------------------------------------------------------------ the models
def _build_ridge(*, alphas, screen, seed, factors=0):
    return MaskedRidge(alphas, screen=screen, factors=factors)


def _ridge_arrays(model: MaskedRidge) -> dict[str, np.ndarray]:
    return {"coef": model.coef_, "intercept": model.intercept_, "alpha": model.alpha_}


def _linear_from_arrays(arrays: Mapping[str, np.ndarray]) -> LinearPredictor:
    return LinearPredictor(arrays["coef"], arrays["intercept"])


def _screened(screen, model_step) -> PerDrugModel:
    steps = [("screen", SelectKBest(f_regression, k=screen))] if screen else []
    return PerDrugModel(Pipeline([*steps, ("model", model_step)]))


def _columns(pipe: Pipeline, n_genes: int) -> np.ndarray:
    cols = np.arange(n_genes)
    if "screen" in pipe.named_steps:
        cols = cols[pipe.named_steps["screen"].get_support()]
    return cols


def _build_elastic_net(*, alphas, screen, seed, factors=0):
    net = ElasticNetCV(l1_ratio=[0.2, 0.5, 0.9], alphas=30, cv=3, max_iter=5000, random_state=seed)
    return _screened(screen, net)


def _elastic_net_arrays(model: PerDrugModel) -> dict[str, np.ndarray]:
    n_genes = model.models_[0].n_features_in_
    coef = np.zeros((n_genes, len(model.models_)))
    intercept = np.zeros(len(model.models_))
    for j, pipe in enumerate(model.models_):
        net = pipe.named_steps["model"]
        coef[_columns(pipe, n_genes), j] = net.coef_
        intercept[j] = net.intercept_
    return {"coef": coef, "intercept": intercept}


def _build_random_forest(*, alphas, screen, seed, factors=0):
    forest = RandomForestRegressor(n_estimators=150, min_samples_leaf=3, random_state=seed)
    return _screened(screen, GridSearchCV(forest, {"max_features": [0.1, 0.33]}, cv=3))


def _forest_arrays(model: PerDrugModel) -> dict[str, np.ndarray]:
    n_genes = model.models_[0].n_features_in_
    out = {}
    for j, pipe in enumerate(model.models_):
        cols = _columns(pipe, n_genes)
        parts = {k: [] for k in ("feature", "threshold", "left", "right", "value", "roots")}
        offset = 0
        for tree in pipe.named_steps["model"].best_estimator_.estimators_:
            t = tree.tree_
            leaf = t.children_left < 0
            parts["roots"].append(offset)
            parts["feature"].append(np.where(leaf, -1, cols[np.maximum(t.feature, 0)]))
            parts["threshold"].append(t.threshold)
            parts["left"].append(np.where(leaf, -1, t.children_left + offset))
            parts["right"].append(np.where(leaf, -1, t.children_right + offset))
            parts["value"].append(t.value[:, 0, 0])
            offset += t.node_count
        for key, values in parts.items():
            out[f"forest/{j}/{key}"] = np.concatenate(values) if key != "roots" else values
    return {k: np.asarray(v) for k, v in out.items()}


def _forest_from_arrays(arrays: Mapping[str, np.ndarray]) -> ForestPredictor:
    n = len({k.split("/")[1] for k in arrays if k.startswith("forest/")})
    keys = ("feature", "threshold", "left", "right", "value", "roots")
    return ForestPredictor([{k: arrays[f"forest/{j}/{k}"] for k in keys} for j in range(n)])


@dataclass(frozen=True)
class ModelKind:
    """One registered drug-response model (see the module docstring)."""

    name: str
    build: Callable[..., object]
    to_arrays: Callable[[object], dict[str, np.ndarray]]
    from_arrays: Callable[[Mapping[str, np.ndarray]], object]
    summary: str


#: every model ``sensitivity.model`` may name; add one here (and to the schema's enum)
MODELS: dict[str, ModelKind] = {
    "ridge": ModelKind(
        "ridge",
        _build_ridge,
        _ridge_arrays,
        _linear_from_arrays,
        "ridge per drug, penalty by exact leave-one-out (all drugs at once)",
    ),
    "elastic_net": ModelKind(
        "elastic_net",
        _build_elastic_net,
        _elastic_net_arrays,
        _linear_from_arrays,
        "elastic net per drug, penalty and l1 ratio by 3-fold inner CV",
    ),
    "random_forest": ModelKind(
        "random_forest",
        _build_random_forest,
        _forest_arrays,
        _forest_from_arrays,
        "random forest per drug (150 trees), max_features by 3-fold inner CV",
    ),
}


def model_kind(name: str) -> ModelKind:
    """The registered model called ``name``, or an error listing the registered ones."""
    if name not in MODELS:
        raise RxrankInputError(f"sensitivity.model {name!r} is not one of {list(MODELS)}.")
    return MODELS[name]


def make_model(
    name: str,
    *,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    screen: int | None = None,
    seed: int = 0,
    factors: int = 0,
):
    """The estimator for ``name``: fit(X, Y with NaN) / predict(X) over all drugs.

    Hyper-parameters are chosen by inner cross-validation on the training lines only: ridge by exact
    leave-one-out, elastic net by ``ElasticNetCV`` (3 folds), random forest by a 3-fold grid over
    ``max_features``. ``screen`` keeps the genes most correlated with each drug (inside the folds).
    ``factors`` (ridge only; the per-drug models ignore it) learns that many response factors
    shared by all drugs before each drug's own fit (:class:`rxrank.ridge.MaskedRidge`).
    """
    return model_kind(name).build(alphas=alphas, screen=screen, seed=seed, factors=factors)
