"""The all-drugs ridge solver equals scikit-learn's per-drug Ridge / RidgeCV, missing values included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge, RidgeCV

from rxrank.ridge import MaskedRidge

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def _problem(n, p, n_drugs, missing, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    k = min(3, p)
    Y = X[:, :k] @ rng.normal(size=(k, n_drugs)) + rng.normal(size=(n, n_drugs)) + 2.5
    Y[rng.random(Y.shape) < missing] = np.nan
    return X, Y


@pytest.mark.parametrize(
    ("n", "p", "missing"),
    [
        (80, 40, 0.0),  # more lines than genes, nothing missing
        (80, 400, 0.2),  # the usual case: genes >> lines, Schur route per drug
        (60, 300, 0.75),  # most lines missing: the direct route per drug
    ],
)
def test_equals_sklearn_per_drug(n, p, missing):
    X, Y = _problem(n, p, 8, missing, seed=n + p)
    model = MaskedRidge(ALPHAS).fit(X, Y)
    for j in range(Y.shape[1]):
        o = ~np.isnan(Y[:, j])
        cv = RidgeCV(alphas=ALPHAS).fit(X[o], Y[o, j])  # exact leave-one-out, as ours
        assert model.alpha_[j] == cv.alpha_
        ref = Ridge(alpha=cv.alpha_).fit(X[o], Y[o, j])
        # tolerance: 1e-8 absolute (measured ~1e-15; float32 is used only for choosing alpha)
        np.testing.assert_allclose(model.coef_[:, j], ref.coef_, atol=1e-8)
        np.testing.assert_allclose(model.intercept_[j], ref.intercept_, atol=1e-8)
    np.testing.assert_allclose(model.predict(X[:5]), X[:5] @ model.coef_ + model.intercept_)


def test_loo_error_matches_brute_force():
    X, Y = _problem(30, 50, 2, 0.2, seed=3)
    model = MaskedRidge((5.0,)).fit(X, Y)
    for j in range(2):
        o = np.flatnonzero(~np.isnan(Y[:, j]))
        errs = []
        for i in o:
            rest = o[o != i]
            fit = Ridge(alpha=5.0).fit(X[rest], Y[rest, j])
            errs.append(fit.predict(X[[i]])[0] - Y[i, j])
        np.testing.assert_allclose(model.loo_rmse_[j], np.sqrt(np.mean(np.square(errs))), rtol=1e-5)


def test_screened_path_uses_only_screened_genes():
    X, Y = _problem(70, 200, 3, 0.1, seed=9)
    model = MaskedRidge(ALPHAS, screen=10).fit(X, Y)
    assert ((model.coef_ != 0).sum(0) <= 10).all()
    for j in range(3):
        cols = np.flatnonzero(model.coef_[:, j])
        o = ~np.isnan(Y[:, j])
        ref = Ridge(alpha=model.alpha_[j]).fit(X[np.ix_(o, cols)], Y[o, j])
        np.testing.assert_allclose(model.coef_[cols, j], ref.coef_, atol=1e-8)


def test_too_few_values_is_an_error():
    X, Y = _problem(20, 10, 2, 0.0, seed=1)
    Y[2:, 1] = np.nan
    with pytest.raises(ValueError, match="< 3 values"):
        MaskedRidge().fit(X, Y)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(8, 40),
    p=st.integers(2, 60),
    missing=st.floats(0.0, 0.6),
    seed=st.integers(0, 10_000),
)
def test_property_matches_ridge(n, p, missing, seed):
    X, Y = _problem(n, p, 3, missing, seed)
    counts = (~np.isnan(Y)).sum(0)
    if (counts < 3).any():
        return
    model = MaskedRidge((0.5, 50.0)).fit(X, Y)
    for j in range(3):
        o = ~np.isnan(Y[:, j])
        ref = Ridge(alpha=model.alpha_[j]).fit(X[o], Y[o, j])
        np.testing.assert_allclose(model.coef_[:, j], ref.coef_, atol=1e-7, rtol=1e-6)
