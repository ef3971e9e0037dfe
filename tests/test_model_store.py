"""Fit once, apply to any cohort: a saved reference model predicts a new cohort exactly as a fit in
the same run would, every registered model survives the round trip, and a changed file is refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import demo_sensitivity

from rxrank import sensitivity as sens
from rxrank.harmonise import Harmoniser
from rxrank.io import RxrankInputError

PARAMS = {**demo_sensitivity(), "cv_folds": 5, "seed": 0}


@pytest.fixture(scope="module")
def two_cohorts(cohort_log):
    """The demo's 200 patients as two cohorts of 100."""
    return cohort_log.iloc[:100], cohort_log.iloc[100:]


@pytest.fixture(scope="module")
def saved(two_cohorts, reference, tmp_path_factory):
    """A model fitted with cohort A, saved; and the same stage run on cohort B in one go."""
    lines, response = reference
    first, second = two_cohorts
    folder = tmp_path_factory.mktemp("model")
    sens.save_model(folder, sens.run_sensitivity(first, lines, response, params=PARAMS))
    same_run = sens.run_sensitivity(second, lines, response, params=PARAMS)
    return folder, same_run


def test_a_loaded_model_predicts_a_new_cohort_as_a_fit_in_the_same_run(saved, two_cohorts):
    folder, same_run = saved
    second = two_cohorts[1]
    # the new cohort's genes in another order, with a gene the model never saw: both are fine
    shuffled = second[second.columns[::-1]].assign(NOT_IN_MODEL=1.0)
    applied = sens.load_model(folder).predict(shuffled)
    pd.testing.assert_frame_equal(applied, same_run.predictions, check_exact=True)
    # the metrics travel with the model (written to 6 significant digits, as every TSV)
    pd.testing.assert_frame_equal(
        sens.load_model(folder).metrics, same_run.metrics, check_exact=False, rtol=1e-5
    )


def test_the_training_reference_is_checked_on_load(saved, reference):
    folder, _ = saved
    lines, response = reference
    sens.load_model(folder, reference=(lines, response))  # the same data: accepted
    with pytest.raises(RxrankInputError, match="not trained on the reference"):
        sens.load_model(folder, reference=(lines + 0.01, response))
    changed = response.assign(value=response["value"].where(response.index != 5, 0.0))
    with pytest.raises(RxrankInputError, match="not trained on the reference"):
        sens.load_model(folder, reference=(lines, changed))
    with pytest.raises(RxrankInputError, match="not trained on the reference"):
        sens.load_model(folder, reference=(lines.iloc[:, 1:], response))


@pytest.mark.parametrize("name", ["model.npz", "metrics.tsv"])
def test_a_tampered_model_file_is_refused(saved, tmp_path, name):
    folder, _ = saved
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    data = bytearray((tmp_path / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(RxrankInputError, match=f"{name} differs.*SHA-256"):
        sens.load_model(tmp_path)


def test_not_a_model_folder_is_a_clear_error(tmp_path, saved):
    with pytest.raises(RxrankInputError, match="no metadata.json"):
        sens.load_model(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({"model": "ridge"}))
    with pytest.raises(RxrankInputError, match="no 'files' checksums"):
        sens.load_model(tmp_path)
    folder, _ = saved
    meta = json.loads((folder / "metadata.json").read_text())
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(RxrankInputError, match="model.npz is missing"):
        sens.load_model(tmp_path)


def test_missing_genes_map_to_the_reference_mean_up_to_a_limit(saved, two_cohorts, caplog):
    folder, _ = saved
    model = sens.load_model(folder)
    kept = np.asarray(model.genes)[model.harmoniser.keep_]
    second = two_cohorts[1]
    few = second.drop(columns=kept[:10])
    with caplog.at_level("WARNING"):
        pred = model.predict(few)
    assert "lacks 10 of the model's" in caplog.text
    assert pred["predicted"].notna().all()
    with pytest.raises(RxrankInputError, match="lacks 300 of the model's 1000 genes"):
        model.predict(second.drop(columns=kept[:300]))


def _small_problem(seed=0, n=80, p=40, drugs=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    Y = X[:, :drugs] * 2 + rng.normal(scale=0.5, size=(n, drugs))
    Y[rng.random(Y.shape) < 0.1] = np.nan
    return X, Y


@pytest.mark.parametrize("name", sorted(sens.MODELS))
@pytest.mark.parametrize("screen", [None, 10])
def test_every_registered_model_survives_the_round_trip(name, screen):
    """Each model's arrays rebuild a predictor that predicts as the fitted estimator does, and
    the model learns the planted signal (so the test fails if the arrays were wrong)."""
    X, Y = _small_problem()
    kind = sens.model_kind(name)
    est = kind.build(alphas=(0.1, 1.0, 10.0), screen=screen, seed=0).fit(X[:60], Y[:60])
    arrays = kind.to_arrays(est)
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    restored = kind.from_arrays({k: np.array(v) for k, v in arrays.items()})
    expected = est.predict(X[60:])
    np.testing.assert_allclose(restored.predict(X[60:]), expected, rtol=1e-9, atol=1e-9)
    truth = X[60:, :3] * 2
    assert all(
        np.corrcoef(expected[:, j], truth[:, j])[0, 1] > 0.7 for j in range(3)
    )  # measured: 0.76-1.0


def test_an_unknown_model_lists_the_registered_ones():
    with pytest.raises(RxrankInputError, match="'svm' is not one of.*ridge"):
        sens.make_model("svm")


def test_combat_models_belong_to_their_cohort():
    rng = np.random.default_rng(1)
    h = Harmoniser("combat").fit(rng.normal(size=(20, 8)), rng.normal(2, 1, size=(15, 8)))
    with pytest.raises(RxrankInputError, match="ComBat.*cannot be applied to another cohort"):
        h.for_target(rng.normal(size=(10, 8)))


def test_for_target_equals_a_fit_with_that_target():
    rng = np.random.default_rng(2)
    X, A, B = rng.normal(size=(30, 12)), rng.normal(1, 2, size=(20, 12)), rng.normal(size=(25, 12))
    for method in ("standardise", "quantile"):
        moved = Harmoniser(method).fit(X, A).for_target(B)
        direct = Harmoniser(method).fit(X, B)
        np.testing.assert_array_equal(moved.transform_target(B), direct.transform_target(B))
        np.testing.assert_array_equal(moved.transform_reference(X), direct.transform_reference(X))


def test_rxrank_predict_applies_a_saved_model_to_a_profiled_cohort(
    saved, two_cohorts, reference, demo_dir, tmp_path
):
    import anndata as ad

    from rxrank.cli import main
    from rxrank.io import write_tsv

    folder, same_run = saved
    second = two_cohorts[1]
    ad.AnnData(second.to_numpy(), obs=pd.DataFrame(
        index=second.index), var=pd.DataFrame(index=second.columns)).write_h5ad(
        tmp_path / "cohort.h5ad")  # fmt: skip
    argv = ["predict", f"--model={folder}", f"--cohort={tmp_path / 'cohort.h5ad'}",
            f"--predictions={tmp_path / 'predictions.tsv'}", f"--metrics={tmp_path / 'm.tsv'}"]  # fmt: skip
    assert main(argv) == 0
    # with the reference it was trained on (as the reference stage writes it): accepted; another: not
    write_tsv(reference[1], tmp_path / "response.tsv")
    ref_args = [f"--reference-expression={demo_dir / 'reference_expression.tsv.gz'}",
                f"--response={tmp_path / 'response.tsv'}", '--params={"reference": {}}']  # fmt: skip
    assert main([*argv, *ref_args]) == 0
    write_tsv(reference[1].assign(value=reference[1]["value"] + 1), tmp_path / "response.tsv")
    assert main([*argv, *ref_args]) == 2
    assert (tmp_path / "m.tsv").read_bytes() == (folder / "metrics.tsv").read_bytes()
    got = pd.read_csv(tmp_path / "predictions.tsv", sep="\t")
    want = same_run.predictions
    assert got[["patient_id", "drug"]].astype(str).equals(want[["patient_id", "drug"]])
    np.testing.assert_allclose(got["predicted"], want["predicted"], rtol=1e-5, atol=1e-5)
    # a damaged model: one message naming the file, exit code 2, no output written
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "metrics.tsv").write_text("drug\tcv_pearson\nD1\t0.99\n")
    argv = [a.replace(str(folder), str(broken)).replace("predictions.tsv", "p2.tsv") for a in argv]
    assert main(argv) == 2
    assert not (tmp_path / "p2.tsv").exists()
