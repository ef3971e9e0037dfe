"""The demo generator is deterministic and the committed files are what it generates."""

import pandas as pd

from rxrank.demo import DemoSpec, generate


def test_generate_is_seeded():
    a = generate(DemoSpec(n_patients=10, n_genes=200, n_lines=30))
    b = generate(DemoSpec(n_patients=10, n_genes=200, n_lines=30))
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])


def test_committed_demo_matches_generator(demo_dir):
    tables = generate()
    clinical = pd.read_csv(demo_dir / "clinical.tsv", sep="\t")
    pd.testing.assert_frame_equal(clinical, tables["demo/clinical.tsv"], check_dtype=False)
    response = pd.read_csv(demo_dir / "reference_response.tsv", sep="\t")
    pd.testing.assert_frame_equal(
        response, tables["demo/reference_response.tsv"], check_dtype=False
    )


def test_demo_shape_and_missingness():
    tables = generate()
    expr = tables["demo/expression.tsv.gz"]
    assert expr.shape == (2000, 200)
    response = tables["demo/reference_response.tsv"]
    missing = 1 - len(response) / (150 * 20)
    assert 0.1 < missing < 0.2
    assert tables["demo/cell_lines.tsv"]["tissue"].nunique() >= 5
