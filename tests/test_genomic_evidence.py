"""Tissue-adjusted feature-drug effects and per-patient genomic evidence, on seeded GDSC-like
fixtures with planted effects and a tissue confounder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rxrank.associations import binary_feature_associations
from rxrank.genomic_evidence import patient_evidence, tissue_adjusted_effects

TISSUES = ["skin", "lung", "breast", "blood", "colon", "brain"]


@pytest.fixture(scope="module")
def screen():
    """300 lines in 6 tissues, 12 features, 8 drugs with ~15% of responses missing. Planted:
    BRAF_mut lowers D1 by 3 ln units, ERBB2_amp lowers D2 by 2; CONF_mut sits in half the skin
    lines (2% elsewhere) and skin lines are 2 units more sensitive to D3 whatever they carry."""
    rng = np.random.default_rng(17)
    n = 300
    lines = [f"L{i:03d}" for i in range(n)]
    tissue = pd.Series(rng.choice(TISSUES, n), index=lines)
    skin = (tissue == "skin").to_numpy()
    feats = pd.DataFrame(
        (rng.random((n, 12)) < 0.15).astype(float), index=lines,
        columns=["BRAF_mut", "ERBB2_amp", "CONF_mut"] + [f"G{i}_mut" for i in range(9)],
    )  # fmt: skip
    feats["CONF_mut"] = np.where(skin, rng.random(n) < 0.5, rng.random(n) < 0.02).astype(float)
    feats.iloc[rng.random(n) < 0.03, 5] = np.nan  # a few lines not assessed for one feature
    y = rng.normal(0, 1, (n, 8)) + rng.normal(0, 1, 8)
    y[:, 0] -= 3 * feats["BRAF_mut"].to_numpy()
    y[:, 1] -= 2 * feats["ERBB2_amp"].to_numpy()
    y[:, 2] -= 2 * skin
    y[rng.random(y.shape) < 0.15] = np.nan
    long = pd.DataFrame(y, index=lines, columns=[f"D{j + 1}" for j in range(8)]).stack()
    response = long.rename("value").rename_axis(["cell_line", "drug"]).reset_index()
    return feats, response, tissue


def test_tissue_adjustment_recovers_planted_pairs_and_drops_the_confounder(screen):
    feats, response, tissue = screen
    effects = tissue_adjusted_effects(feats, response, tissue).set_index(["drug", "feature"])
    braf, erbb2 = effects.loc[("D1", "BRAF_mut")], effects.loc[("D2", "ERBB2_amp")]
    assert braf["q"] < 1e-10 and erbb2["q"] < 1e-10
    assert braf["effect_lower"] < -3 < braf["effect_upper"]  # the planted effect is covered
    assert erbb2["effect_lower"] < -2 < erbb2["effect_upper"]
    assert effects.loc[("D3", "CONF_mut"), "q"] > 0.05
    # the unadjusted t-test falls for the lineage effect, which is why the adjustment is there
    raw = binary_feature_associations(feats, response).set_index(["drug", "feature"])
    assert raw.loc[("D3", "CONF_mut"), "p"] < 1e-6
    # nothing else is found: no false positive among the 94 null pairs at q 0.05
    found = set(effects.index[effects["q"] <= 0.05])
    assert found == {("D1", "BRAF_mut"), ("D2", "ERBB2_amp")}


def test_effect_matches_least_squares_with_tissue_dummies(screen):
    """One pair refitted as the plain regression a user would run: same coefficient, SE and p."""
    feats, response, tissue = screen
    effects = tissue_adjusted_effects(feats, response, tissue).set_index(["drug", "feature"])
    d = response[response["drug"] == "D1"].set_index("cell_line")["value"]
    x = feats.loc[d.index, "BRAF_mut"]
    dummies = pd.get_dummies(tissue.loc[d.index]).to_numpy(float)
    A = np.column_stack([x.to_numpy(), dummies])
    coef, rss, *_ = np.linalg.lstsq(A, d.to_numpy(), rcond=None)
    df = len(d) - A.shape[1]
    se = np.sqrt(rss[0] / df * np.linalg.inv(A.T @ A)[0, 0])
    row = effects.loc[("D1", "BRAF_mut")]
    assert row["effect"] == pytest.approx(coef[0], rel=1e-9)
    assert (row["effect_upper"] - row["effect"]) == pytest.approx(stats.t.ppf(0.975, df) * se)
    assert row["n_with"] + row["n_without"] == len(d) and row["n_tissues"] == 6


def test_a_feature_in_too_few_lines_gives_no_evidence(screen):
    feats, response, tissue = screen
    rare = feats.copy()
    rare["RARE_mut"] = 0.0
    rare.iloc[:4, rare.columns.get_loc("RARE_mut")] = 1.0  # 4 lines < MIN_LINES = 5
    effects = tissue_adjusted_effects(rare, response, tissue)
    assert "RARE_mut" not in set(effects["feature"])


def test_patient_evidence_takes_the_strongest_carried_feature(screen):
    feats, response, tissue = screen
    effects = tissue_adjusted_effects(feats, response, tissue)
    carried = pd.DataFrame(
        {"BRAF_mut": [1, 0, np.nan], "ERBB2_amp": [1, 1, np.nan], "G0_mut": [1, 0, np.nan]},
        index=pd.Index(["P1", "P2", "P3"], name="patient_id"),
    )
    ev = patient_evidence(carried, effects).set_index(["patient_id", "drug"])
    assert set(ev.index) == {("P1", "D1"), ("P1", "D2"), ("P2", "D2")}
    assert ev.loc[("P1", "D1"), "feature"] == "BRAF_mut" and ev.loc[("P1", "D1"), "effect"] < -2
    assert ev.loc[("P2", "D2"), "feature"] == "ERBB2_amp"


def test_msi_is_a_covariate_when_the_lines_have_it(screen):
    """GDSC's ANOVA adjusts for MSI too: a feature that only marks MSI-high lines, whose drug
    effect is the MSI effect, is not reported once MSI is a covariate; MSI itself is no feature."""
    feats, response, tissue = screen
    rng = np.random.default_rng(3)
    msi = pd.Series((rng.random(len(feats)) < 0.2).astype(float), index=feats.index)
    marker = np.where(msi == 1, rng.random(len(feats)) < 0.6, rng.random(len(feats)) < 0.02)
    feats = feats.assign(MMR_mut=marker.astype(float), MSI=msi)
    y = response.pivot(index="cell_line", columns="drug", values="value")
    y["D4"] -= 2.0 * msi.reindex(y.index)
    response = y.stack().rename("value").reset_index()
    plain = tissue_adjusted_effects(feats.drop(columns="MSI"), response, tissue)
    plain = plain.set_index(["drug", "feature"])
    assert plain.loc[("D4", "MMR_mut"), "q"] < 1e-6  # tissue alone does not remove it
    adjusted = tissue_adjusted_effects(feats, response, tissue).set_index(["drug", "feature"])
    assert adjusted.loc[("D4", "MMR_mut"), "q"] > 0.05
    assert "MSI" not in set(adjusted.index.get_level_values("feature"))
    assert adjusted.loc[("D1", "BRAF_mut"), "q"] < 1e-10  # planted pairs still found
