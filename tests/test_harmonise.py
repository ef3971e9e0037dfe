"""Harmonisation of cell lines and patients: planted batch shifts, no leakage, ComBat vs scanpy.

Golden reference for ComBat: ``scanpy.pp.combat`` (scanpy 1.11, a port of combat.py by Pedersen,
itself a port of sva's ComBat; Johnson, Li & Rabinovic 2007) run on an AnnData of the same fitting
samples with ``obs["batch"]`` = reference / target, no covariates. It is computed inside the test,
not stored, so the comparison follows the installed scanpy.
"""

from __future__ import annotations

import json
import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError

from rxrank.harmonise import METHODS, Harmoniser
from rxrank.io import RxrankInputError

N_REF, N_TGT, N_GENES = 60, 80, 300


def _biology(rng, n, mu, load, noise_sd):
    """Samples x genes log-expression driven by one latent factor; returns (data, factor)."""
    f = rng.normal(size=n)
    return mu + np.outer(f, load) + rng.normal(size=(n, len(mu))) * noise_sd, f


@pytest.fixture(scope="module")
def planted():
    """Reference-like biology in both datasets; the target has a per-gene offset and scale.

    Gene 0 carries the planted biological signal (loading 2 on the latent factor).
    """
    rng = np.random.default_rng(42)
    mu = rng.normal(6, 2, N_GENES)
    load = rng.normal(0, 0.3, N_GENES)
    load[0] = 2.0
    noise_sd = rng.uniform(0.5, 1.5, N_GENES)
    X, f_ref = _biology(rng, N_REF, mu, load, noise_sd)
    bio_t, f_tgt = _biology(rng, N_TGT, mu, load, noise_sd)
    offset = rng.normal(0, 1.5, N_GENES)
    scale = rng.lognormal(0, 0.3, N_GENES)
    Z = offset + scale * bio_t
    return {"X": X, "Z": Z, "f_ref": f_ref, "f_tgt": f_tgt, "offset": offset, "scale": scale}


def _corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def _scanpy_combat(X, Z):
    """Golden reference: scanpy.pp.combat on the stacked fitting samples (reference first)."""
    obs = pd.DataFrame(
        {"batch": pd.Categorical(["reference"] * len(X) + ["target"] * len(Z))},
        index=[f"s{i}" for i in range(len(X) + len(Z))],
    )
    adata = ad.AnnData(np.vstack([X, Z]), obs=obs)
    return sc.pp.combat(adata, key="batch", inplace=False)


# --------------------------------------------------------------------------- planted batch shift
@pytest.mark.parametrize("method", ["standardise", "combat"])
def test_planted_gene_shift_is_removed_and_signal_kept(planted, method):
    X, Z = planted["X"], planted["Z"]
    h = Harmoniser(method, min_sd=0.1).fit(X, Z)
    R, T = h.transform_reference(X), h.transform_target(Z)
    assert R.dtype == T.dtype == np.float32
    assert R.shape == (N_REF, N_GENES) and T.shape == (N_TGT, N_GENES)
    # before: the per-gene means differ by the planted offset/scale
    assert np.abs(X.mean(0) - Z.mean(0)).mean() > 1.0
    dmean, dsd = np.abs(R.mean(0) - T.mean(0)), np.abs(R.std(0) - T.std(0))
    if method == "standardise":  # exact by construction
        assert dmean.max() < 1e-5 and dsd.max() < 1e-5
    else:  # ComBat shrinks each gene's gamma/delta towards the across-gene prior (EB)
        assert dmean.mean() < 0.03 and dmean.max() < 0.15  # measured 0.017, 0.091
        assert dsd.mean() < 0.1 and dsd.max() < 0.5  # measured 0.073, 0.40
    # both methods are per-gene affine within a dataset, so the signal's correlation is unchanged
    for data, out, f in ((X, R, planted["f_ref"]), (Z, T, planted["f_tgt"])):
        assert _corr(data[:, 0], f) > 0.8
        assert _corr(out[:, 0], f) == pytest.approx(_corr(data[:, 0], f), abs=1e-5)


def test_quantile_removes_a_sample_wise_distortion_and_keeps_signal(planted):
    """Quantile normalisation targets distortions shared by all genes of a sample (e.g. platform
    non-linearity, depth); here every target sample is a different monotone function of biology."""
    rng = np.random.default_rng(3)
    X = planted["X"]
    load = np.r_[2.0, rng.normal(0, 0.3, N_GENES - 1)]
    bio_t, f_tgt = _biology(rng, N_TGT, np.full(N_GENES, 6.0), load, rng.uniform(0.5, 1.5, N_GENES))
    a, b = rng.normal(2, 1, (N_TGT, 1)), rng.uniform(0.5, 2, (N_TGT, 1))
    Z = a + b * np.sign(bio_t) * np.abs(bio_t) ** 1.3  # per-sample monotone, nonlinear
    h = Harmoniser("quantile", min_sd=0.1).fit(X, Z)
    R, T = h.transform_reference(X), h.transform_target(Z)
    np.testing.assert_allclose(R.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(R.std(0), 1, atol=1e-4)
    # the target's sample-wise distortion is gone: every sample sits on the reference profile
    for row in h._align(Z[:, h.keep_], 1):
        np.testing.assert_allclose(np.sort(row), h.profile_, atol=1e-12)
    assert abs(_corr(T[:, 0], f_tgt)) > 0.9 * abs(_corr(Z[:, 0], f_tgt))
    assert abs(_corr(R[:, 0], planted["f_ref"])) > 0.9 * abs(_corr(X[:, 0], planted["f_ref"]))


def test_quantile_leaves_gene_specific_offsets(planted):
    """Documented limitation: quantile aligns distributions, not per-gene batch offsets."""
    X, Z = planted["X"], planted["Z"]
    T = Harmoniser("quantile").fit(X, Z).transform_target(Z)
    S = Harmoniser("standardise").fit(X, Z).transform_target(Z)
    assert np.abs(T.mean(0)).mean() > 10 * np.abs(S.mean(0)).mean()


# --------------------------------------------------------------------------- fit/apply, no leakage
def _split(planted):
    X = planted["X"]
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(X))
    return X, idx[:45], idx[45:]


def test_standardise_held_out_uses_training_parameters(planted):
    X, train, test = _split(planted)
    Z = planted["Z"]
    h = Harmoniser("standardise", min_sd=0).fit(X[train], Z)
    expect = (X[test] - X[train].mean(0)) / X[train].std(0)
    np.testing.assert_allclose(h.transform_reference(X[test]), expect, rtol=1e-5, atol=1e-5)
    expect_t = (Z - Z.mean(0)) / Z.std(0)
    np.testing.assert_allclose(h.transform_target(Z), expect_t, rtol=1e-5, atol=1e-5)
    # a different target batch later uses the fitted target statistics (single patients work)
    np.testing.assert_allclose(
        h.transform_target(Z[:1] + 1), (Z[:1] + 1 - Z.mean(0)) / Z.std(0), rtol=1e-5, atol=1e-5
    )


def test_quantile_held_out_uses_training_parameters(planted):
    X, train, test = _split(planted)
    h = Harmoniser("quantile", min_sd=0).fit(X[train], planted["Z"])
    profile = np.sort(X[train], axis=1).mean(0)  # training lines' mean sorted profile
    np.testing.assert_allclose(h.profile_, profile)

    def qn(A):  # continuous data: no ties, so rank r maps to profile[r - 1]
        return profile[np.argsort(np.argsort(A, axis=1), axis=1)]

    tr = qn(X[train])
    expect = (qn(X[test]) - tr.mean(0)) / tr.std(0)
    np.testing.assert_allclose(h.transform_reference(X[test]), expect, rtol=1e-5, atol=1e-5)


def test_combat_held_out_uses_training_parameters(planted):
    X, train, test = _split(planted)
    Z = planted["Z"]
    h = Harmoniser("combat", min_sd=0).fit(X[train], Z)
    # the fitted reference batch equals scanpy on (training lines + patients) ...
    golden = _scanpy_combat(X[train], Z)
    adjusted_train = golden[: len(train)]
    # ... and held-out lines get the same per-gene affine map, learned without them
    sq = np.sqrt(h.var_pooled_)
    s = (X[test] - h.grand_mean_) / sq
    adj = (s - h.gamma_star_[0]) / np.sqrt(h.delta_star_[0]) * sq + h.grand_mean_
    expect = (adj - adjusted_train.mean(0)) / adjusted_train.std(0)
    np.testing.assert_allclose(h.transform_reference(X[test]), expect, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(h.mean_, adjusted_train.mean(0), atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_held_out_data_cannot_leak(planted, method):
    X, train, test = _split(planted)
    Z = planted["Z"]
    X2 = X.copy()
    X2[test] = np.random.default_rng(0).normal(0, 5, size=(len(test), N_GENES))
    h1 = Harmoniser(method, n_top_genes=100).fit(X[train], Z)
    h2 = Harmoniser(method, n_top_genes=100).fit(X2[train], Z)
    p1, p2 = h1.parameters(), h2.parameters()
    assert p1.keys() == p2.keys()
    for key in p1:
        np.testing.assert_array_equal(p1[key], p2[key])
    # each sample is transformed on its own: other samples in the same call do not matter
    both1 = h1.transform_reference(np.vstack([X[train], X[test]]))
    both2 = h1.transform_reference(np.vstack([X[train], X2[test]]))
    np.testing.assert_array_equal(both1[: len(train)], both2[: len(train)])
    np.testing.assert_array_equal(both1[: len(train)], h1.transform_reference(X[train]))
    np.testing.assert_array_equal(h1.transform_target(Z)[:5], h1.transform_target(Z[:5]))


# --------------------------------------------------------------------------- golden ComBat
@pytest.mark.parametrize("n_top", [None, 50])
def test_combat_fit_equals_scanpy_combat(planted, n_top):
    X, Z = planted["X"], planted["Z"]
    h = Harmoniser("combat", min_sd=0.1, n_top_genes=n_top).fit(X, Z)
    k = h.keep_
    golden = _scanpy_combat(X[:, k], Z[:, k])
    ours = np.vstack([h._align(X[:, k], 0), h._align(Z[:, k], 1)])
    assert np.abs(ours - golden).max() < 1e-4
    # the final z-score is the adjusted reference's own
    R = h.transform_reference(X)
    np.testing.assert_allclose(R.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(R.std(0), 1, atol=1e-4)
    assert len(h.report_["combat_iterations"]) == 2


def test_combat_on_a_small_unbalanced_case_equals_scanpy():
    rng = np.random.default_rng(11)
    X = rng.normal(3, 1, size=(5, 40))
    Z = rng.gamma(2, 1, size=(12, 40)) * rng.uniform(0.5, 3, 40) + rng.normal(0, 2, 40)
    h = Harmoniser("combat", min_sd=0).fit(X, Z)
    golden = _scanpy_combat(X, Z)
    ours = np.vstack([h._align(X, 0), h._align(Z, 1)])
    assert np.abs(ours - golden).max() < 1e-4


# --------------------------------------------------------------------------- quantile details
def test_quantile_sorted_values_equal_reference_mean_profile(planted):
    X, Z = planted["X"], planted["Z"]
    h = Harmoniser("quantile", min_sd=0.1, n_top_genes=120).fit(X, Z)
    k = h.keep_
    np.testing.assert_allclose(h.profile_, np.sort(X[:, k], axis=1).mean(0))
    for data, batch in ((X, 0), (Z, 1)):
        aligned = h._align(data[:, k], batch)
        np.testing.assert_allclose(np.sort(aligned, axis=1), np.tile(h.profile_, (len(data), 1)))


def test_quantile_ties_take_the_average_rank():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 6))
    h = Harmoniser("quantile", min_sd=0).fit(X)
    row = np.array([[0.0, 1.0, 1.0, 2.0, 3.0, 4.0]])  # genes 1 and 2 tie at ranks 2 and 3
    out = h._align(row, 0)[0]
    prof = h.profile_
    np.testing.assert_allclose(out[[0, 3, 4, 5]], prof[[0, 3, 4, 5]])
    np.testing.assert_allclose(out[1:3], (prof[1] + prof[2]) / 2)


# --------------------------------------------------------------------------- filters and report
def test_low_variance_and_top_gene_filters_are_counted():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 50)) * np.linspace(1, 3, 50)  # SD grows with gene index
    Z = rng.normal(size=(25, 50))
    X[:, :5] = rng.normal(size=(30, 5)) * 0.01  # low SD in the reference
    X[:, 5] = 4.0  # constant in the reference
    Z[:, 6:10] = 1.0 + rng.normal(size=(25, 4)) * 0.01  # low SD in the target only
    h = Harmoniser("standardise", min_sd=0.1, n_top_genes=20).fit(X, Z)
    assert h.report_["dropped_low_sd_reference"] == 6
    assert h.report_["dropped_low_sd_target"] == 4
    assert h.report_["dropped_not_top"] == 50 - 10 - 20
    assert h.report_["n_genes_kept"] == h.keep_.sum() == 20
    eligible = np.arange(10, 50)
    top = eligible[np.argsort(-X[:, eligible].std(0))[:20]]
    assert set(np.flatnonzero(h.keep_)) == set(top)
    assert h.n_genes_in_ == 50
    d = h.to_dict()
    assert d["n_genes_kept"] == 20 and d["method"] == "standardise" and d["n_top_genes"] == 20
    json.dumps(d)  # provenance is JSON-ready
    # without a target only the reference filter applies; constant genes go even at min_sd=0
    h0 = Harmoniser(min_sd=0).fit(X)
    assert h0.report_["dropped_low_sd_reference"] == 1 and h0.report_["dropped_low_sd_target"] == 0


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda X, Z: Harmoniser().fit(X[:2], Z), "at least 3"),
        (lambda X, Z: Harmoniser().fit(np.where(np.eye(*X.shape) > 0, np.nan, X), Z), "NaN"),
        (lambda X, Z: Harmoniser().fit(X, np.where(np.eye(*Z.shape) > 0, np.inf, Z)), "infinite"),
        (lambda X, Z: Harmoniser().fit(X, Z[:, :-1]), "genes but the harmoniser expects"),
        (lambda X, Z: Harmoniser().fit(X).transform_reference(X[:, :-1]), "same shared genes"),
        (lambda X, Z: Harmoniser().fit(X).transform_target(Z[:, 1:]), "same shared genes"),
        (lambda X, Z: Harmoniser(min_sd=100).fit(X, Z), "all 300 genes were filtered"),
        (lambda X, Z: Harmoniser("combat").fit(X), "needs the target"),
        (lambda X, Z: Harmoniser("zscore").fit(X, Z), "unknown"),
        (lambda X, Z: Harmoniser(n_top_genes=0).fit(X, Z), "n_top_genes"),
        (lambda X, Z: Harmoniser(min_sd=-1).fit(X, Z), "min_sd"),
        (lambda X, Z: Harmoniser().fit(X[0], Z), "2-D"),
        (lambda X, Z: Harmoniser().fit(X).transform_target(Z[:2]), "at least 3"),
        (lambda X, Z: Harmoniser("quantile", n_top_genes=1).fit(X, Z), "at least 2 kept"),
    ],
)
def test_input_errors_say_what_to_change(planted, make, match):
    with pytest.raises(RxrankInputError, match=match):
        make(planted["X"], planted["Z"])


def test_transform_before_fit_is_an_error(planted):
    with pytest.raises(NotFittedError):
        Harmoniser().transform_reference(planted["X"])


def test_standardise_without_fitted_target_uses_the_targets_own_statistics(planted, caplog):
    X, Z = planted["X"], planted["Z"]
    h = Harmoniser("standardise", min_sd=0).fit(X)
    with caplog.at_level(logging.INFO, logger="rxrank.harmonise"):
        T = h.transform_target(Z)
    assert "own statistics" in caplog.text
    np.testing.assert_allclose(T, (Z - Z.mean(0)) / Z.std(0), rtol=1e-5, atol=1e-5)
    assert not h.to_dict()["target_fitted"]


# --------------------------------------------------------------------------- storage
@pytest.mark.parametrize("method", METHODS)
def test_parameters_round_trip_through_npz_and_json(planted, method, tmp_path):
    X, Z = planted["X"], planted["Z"]
    h = Harmoniser(method, n_top_genes=80).fit(X[:40], Z)
    np.savez(tmp_path / "h.npz", **h.parameters())
    (tmp_path / "h.json").write_text(json.dumps(h.to_dict()))
    with np.load(tmp_path / "h.npz", allow_pickle=False) as arrays:
        back = Harmoniser.from_saved(json.loads((tmp_path / "h.json").read_text()), arrays)
    np.testing.assert_array_equal(back.transform_reference(X[40:]), h.transform_reference(X[40:]))
    np.testing.assert_array_equal(back.transform_target(Z), h.transform_target(Z))
    assert back.to_dict() == h.to_dict()


def test_from_saved_reports_missing_arrays(planted):
    h = Harmoniser("combat").fit(planted["X"], planted["Z"])
    arrays = h.parameters()
    del arrays["gamma_star"]
    with pytest.raises(RxrankInputError, match="gamma_star"):
        Harmoniser.from_saved(h.to_dict(), arrays)


def test_follows_sklearn_parameter_conventions():
    h = Harmoniser("combat", min_sd=0.2, n_top_genes=10)
    assert h.get_params() == {"method": "combat", "min_sd": 0.2, "n_top_genes": 10}
    assert not [a for a in vars(h) if a.endswith("_")]  # nothing fitted in __init__


# --------------------------------------------------------------------------- properties
_SEEDS = st.integers(0, 2**32 - 1)
_SCALES = hnp.arrays(np.float64, 12, elements=st.floats(0.1, 10))
_OFFSETS = hnp.arrays(np.float64, 12, elements=st.floats(-100, 100))


@settings(max_examples=30, deadline=None)
@given(seed=_SEEDS, scale=_SCALES, offset=_OFFSETS)
def test_standardise_is_invariant_to_per_gene_affine_maps_of_the_reference(seed, scale, offset):
    rng = np.random.default_rng(seed)
    X, Z = rng.normal(size=(15, 12)), rng.normal(2, 3, size=(10, 12))
    base = Harmoniser(min_sd=0).fit(X, Z)
    moved = Harmoniser(min_sd=0).fit(offset + scale * X, Z)
    np.testing.assert_allclose(
        moved.transform_reference(offset + scale * X), base.transform_reference(X), atol=2e-4
    )
    np.testing.assert_array_equal(moved.transform_target(Z), base.transform_target(Z))


@settings(max_examples=30, deadline=None)
@given(seed=_SEEDS, scale=_SCALES, offset=_OFFSETS)
def test_combat_is_invariant_to_per_gene_affine_maps_of_both_datasets(seed, scale, offset):
    rng = np.random.default_rng(seed)
    X, Z = rng.normal(size=(15, 12)), rng.normal(2, 3, size=(10, 12))
    base = Harmoniser("combat", min_sd=0).fit(X, Z)
    moved = Harmoniser("combat", min_sd=0).fit(offset + scale * X, offset + scale * Z)
    np.testing.assert_allclose(
        moved.transform_reference(offset + scale * X), base.transform_reference(X), atol=2e-3
    )
    np.testing.assert_allclose(
        moved.transform_target(offset + scale * Z), base.transform_target(Z), atol=2e-3
    )


@settings(max_examples=30, deadline=None)
@given(seed=_SEEDS, power=st.floats(0.3, 3), shift=st.floats(-50, 50), stretch=st.floats(0.1, 10))
def test_quantile_is_invariant_to_monotone_maps_of_a_sample(seed, power, shift, stretch):
    rng = np.random.default_rng(seed)
    X, Z = rng.normal(size=(15, 12)), rng.normal(2, 3, size=(10, 12))
    h = Harmoniser("quantile", min_sd=0).fit(X, Z)
    bent = shift + stretch * np.sign(Z) * np.abs(Z) ** power  # strictly increasing per value
    np.testing.assert_array_equal(h.transform_target(bent), h.transform_target(Z))
