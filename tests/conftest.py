"""Shared fixtures: the bundled demo cohort (resources/demo) and its planted truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def truth() -> dict[str, pd.DataFrame]:
    t = DEMO / "truth"
    return {
        "patients": pd.read_csv(t / "patients.tsv", sep="\t", index_col=0, keep_default_na=False),
        "biomarkers": pd.read_csv(t / "biomarkers.tsv", sep="\t", keep_default_na=False),
        "modules": pd.read_csv(t / "modules.tsv", sep="\t"),
    }


@pytest.fixture(scope="session")
def reference():
    """Reference cell lines as a lines x genes log-expression frame and the long response table."""
    from rxrank import io

    ref = io.read_expression(DEMO / "reference_expression.tsv.gz", expression_type="log")
    lines = pd.DataFrame(np.asarray(ref.X), index=ref.obs_names, columns=ref.var_names)
    response = io.read_response(DEMO / "reference_response.tsv")
    return lines, response


@pytest.fixture(scope="session")
def cohort_log():
    """Demo patients x genes, CPM + log1p (a quick stand-in for the profiling stage's .X)."""
    from rxrank import io

    adata = io.read_expression(DEMO / "expression.tsv.gz", expression_type="counts")
    X = np.asarray(adata.X, dtype=np.float64)
    X = np.log1p(X / X.sum(1, keepdims=True) * 1e6)
    return pd.DataFrame(X, index=adata.obs_names, columns=adata.var_names)


@pytest.fixture(scope="session")
def cohort():
    """Demo patients x genes as AnnData, normalised and log1p by scanpy (co-expression input)."""
    import scanpy as sc

    from rxrank import io

    adata = io.read_expression(DEMO / "expression.tsv.gz", expression_type="counts")
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    return adata


@pytest.fixture(scope="session")
def modules_signed(cohort):
    """The demo's signed co-expression modules with the default parameters."""
    from rxrank.coexpression import find_modules

    return find_modules(cohort)
